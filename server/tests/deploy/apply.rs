//! Render, apply, preview and delete against the real control plane: the objects land, the real
//! Deployment controller, scheduler and the simulated kubelet bring the service up, re-applies
//! are no-ops, updates roll out, and deletion removes exactly what Canopy made.

use std::collections::BTreeMap;

use canopy_server::deploy::{apply::ApplyReport, render::ownership_selector};
use k8s_openapi::api::{
    apps::v1::{Deployment, ReplicaSet},
    core::v1::{Namespace, Pod, Service, ServiceAccount},
    networking::v1::NetworkPolicy,
};
use kube::{
    api::ListParams,
    runtime::wait::{conditions, Condition},
    Api,
};

use crate::support::{wait_until, with_team, TestTeam};

/// The Deployment controller reports the newest ReplicaSet available.
fn completed() -> impl Condition<Deployment> {
    conditions::is_deployment_completed()
}

/// Every object of the service, by `Kind/name`, with its resourceVersion.
async fn resource_versions(team: &TestTeam, service: &str) -> BTreeMap<String, String> {
    let version = |meta: &kube::api::ObjectMeta| meta.resource_version.clone().unwrap_or_default();
    let mut versions = BTreeMap::new();
    let deployment = team.api::<Deployment>().get(service).await.unwrap();
    versions.insert(
        format!("Deployment/{service}"),
        version(&deployment.metadata),
    );
    let svc = team.api::<Service>().get(service).await.unwrap();
    versions.insert(format!("Service/{service}"), version(&svc.metadata));
    let account = team.api::<ServiceAccount>().get(service).await.unwrap();
    versions.insert(
        format!("ServiceAccount/{service}"),
        version(&account.metadata),
    );
    let policy = team.api::<NetworkPolicy>().get(service).await.unwrap();
    versions.insert(
        format!("NetworkPolicy/{service}"),
        version(&policy.metadata),
    );
    let namespace = Api::<Namespace>::all(team.client.clone())
        .get(&team.namespace())
        .await
        .unwrap();
    versions.insert(
        format!("Namespace/{}", team.namespace()),
        version(&namespace.metadata),
    );
    versions
}

fn labels(report: &ApplyReport) -> Vec<&str> {
    report.applied.iter().map(String::as_str).collect()
}

#[tokio::test]
async fn a_rendered_service_becomes_available() {
    with_team("dep-up", |team| async move {
        let spec = team.spec("web", |_| {});
        let rendered = team.render(&spec, 1).await;
        let report = team.apply(&rendered).await;
        assert!(
            labels(&report).contains(&"Deployment/web") && labels(&report).contains(&"Service/web"),
            "{report:?}"
        );
        assert_eq!(report.applied, report.changed, "everything was new");

        let deployment = wait_until(
            &team.api::<Deployment>(),
            "web",
            "the rollout completes",
            completed(),
        )
        .await;
        let status = deployment.status.unwrap();
        assert_eq!(status.available_replicas, Some(2));
        let pods = team
            .api::<Pod>()
            .list(&ListParams::default().labels("app.kubernetes.io/name=web"))
            .await
            .unwrap();
        assert_eq!(pods.items.len(), 2);
        for pod in &pods.items {
            let spec = pod.spec.as_ref().unwrap();
            assert!(
                spec.node_name
                    .as_deref()
                    .unwrap_or_default()
                    .starts_with("canopy-test-sim"),
                "bound by the real scheduler to a simulated node: {:?}",
                spec.node_name
            );
            assert_eq!(
                pod.status.as_ref().unwrap().phase.as_deref(),
                Some("Running")
            );
        }
    })
    .await;
}

#[tokio::test]
async fn re_applying_the_same_objects_changes_nothing() {
    with_team("dep-noop", |team| async move {
        let spec = team.spec("web", |_| {});
        let rendered = team.render(&spec, 1).await;
        team.apply(&rendered).await;
        wait_until(
            &team.api::<Deployment>(),
            "web",
            "the rollout completes",
            completed(),
        )
        .await;
        let before = resource_versions(&team, "web").await;

        // Controllers keep writing status (the quota controller rewrites the quota's usage at
        // moments of its choosing); the report compares only what Canopy applies.
        let again = team.apply(&team.render(&spec, 1).await).await;

        assert!(again.changed.is_empty(), "{:?}", again.changed);
        assert_eq!(again.applied.len(), rendered.manifest().unwrap().len());
        assert_eq!(resource_versions(&team, "web").await, before);
        let replica_sets = team
            .api::<ReplicaSet>()
            .list(&ListParams::default())
            .await
            .unwrap();
        assert_eq!(replica_sets.items.len(), 1, "no new ReplicaSet");
    })
    .await;
}

#[tokio::test]
async fn a_new_image_rolls_out_a_new_replica_set() {
    with_team("dep-update", |team| async move {
        let v1 = team.spec("web", |_| {});
        team.apply(&team.render(&v1, 1).await).await;
        let first = wait_until(
            &team.api::<Deployment>(),
            "web",
            "the first rollout completes",
            completed(),
        )
        .await;

        let v2 = team.spec("web", |raw| raw.image = "ghcr.io/acme/web:1.1.0".to_owned());
        let report = team.apply(&team.render(&v2, 2).await).await;
        assert!(
            report.changed.contains(&"Deployment/web".to_owned()),
            "{report:?}"
        );
        let generation = first.metadata.generation.unwrap_or_default();
        let updated = wait_until(
            &team.api::<Deployment>(),
            "web",
            "the second rollout completes",
            move |d: Option<&Deployment>| {
                d.is_some_and(|d| {
                    d.status.as_ref().and_then(|s| s.observed_generation) > Some(generation)
                        && completed().matches_object(Some(d))
                })
            },
        )
        .await;
        assert_eq!(
            updated.metadata.annotations.unwrap()["deployment.kubernetes.io/revision"],
            "2"
        );

        let replica_sets = team
            .api::<ReplicaSet>()
            .list(&ListParams::default())
            .await
            .unwrap();
        assert_eq!(replica_sets.items.len(), 2, "one ReplicaSet per image");
        let image_of = |rs: &ReplicaSet| {
            rs.spec
                .as_ref()
                .unwrap()
                .template
                .as_ref()
                .unwrap()
                .spec
                .as_ref()
                .unwrap()
                .containers[0]
                .image
                .clone()
                .unwrap()
        };
        let newest = replica_sets
            .items
            .iter()
            .find(|rs| rs.spec.as_ref().unwrap().replicas == Some(2))
            .expect("the new ReplicaSet runs both replicas");
        assert_eq!(image_of(newest), "ghcr.io/acme/web:1.1.0");
        let old = replica_sets
            .items
            .iter()
            .find(|rs| rs.spec.as_ref().unwrap().replicas == Some(0))
            .expect("the old ReplicaSet is scaled to zero");
        assert_eq!(image_of(old), "ghcr.io/acme/web:1.0.0");

        let pods = team
            .api::<Pod>()
            .list(&ListParams::default())
            .await
            .unwrap();
        for pod in pods
            .items
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
        {
            assert_eq!(
                pod.spec.as_ref().unwrap().containers[0].image.as_deref(),
                Some("ghcr.io/acme/web:1.1.0")
            );
        }
    })
    .await;
}

#[tokio::test]
async fn preview_shows_nothing_for_an_unchanged_spec_and_names_a_changed_image() {
    with_team("dep-preview", |team| async move {
        let spec = team.spec("web", |_| {});
        let rendered = team.render(&spec, 1).await;

        let first = team.applier.preview(&rendered).await.unwrap();
        assert!(
            first.iter().all(|change| change.created),
            "before the first deploy everything is new: {first:?}"
        );

        team.apply(&rendered).await;
        let unchanged = team.applier.preview(&rendered).await.unwrap();
        let not_empty: Vec<_> = unchanged.iter().filter(|c| !c.is_empty()).collect();
        assert!(not_empty.is_empty(), "{not_empty:#?}");

        let v2 = team.spec("web", |raw| raw.image = "ghcr.io/acme/web:2.0.0".to_owned());
        let changed = team
            .applier
            .preview(&team.render(&v2, 1).await)
            .await
            .unwrap();
        let deployment = changed
            .iter()
            .find(|c| c.kind == "Deployment")
            .expect("the Deployment is in the preview");
        assert!(
            deployment
                .changed
                .contains(&"spec.template.spec.containers[0].image".to_owned()),
            "{deployment:#?}"
        );
        assert!(!deployment.created);
        let service = changed.iter().find(|c| c.kind == "Service").unwrap();
        assert!(
            service
                .changed
                .iter()
                .all(|path| path.contains("app.kubernetes.io/version")),
            "only the version label changes on the Service: {service:#?}"
        );

        let live = team.api::<Deployment>().get("web").await.unwrap();
        assert_eq!(
            live.spec.unwrap().template.spec.unwrap().containers[0]
                .image
                .as_deref(),
            Some("ghcr.io/acme/web:1.0.0"),
            "a preview changes nothing"
        );
    })
    .await;
}

#[tokio::test]
async fn an_old_cluster_skips_autoscaling_and_disruption_budgets_with_a_warning() {
    with_team("dep-old", |team| async move {
        let capabilities = team.capabilities().await;
        assert!(
            !capabilities.autoscaling_v2,
            "Kubernetes 1.20 has no autoscaling/v2"
        );
        assert!(!capabilities.policy_v1, "Kubernetes 1.20 has no policy/v1");

        let spec = team.spec("web", |raw| {
            raw.replicas = None;
            raw.autoscaling = Some(app::api::spec::RawAutoscaling {
                min: 2,
                max: 5,
                target_cpu_percent: 70,
            });
        });
        let rendered = team.render(&spec, 1).await;
        let skipped: Vec<_> = rendered.skipped.iter().map(|s| s.kind).collect();
        assert_eq!(skipped, ["HorizontalPodAutoscaler", "PodDisruptionBudget"]);
        assert!(rendered.skipped[0].reason.contains("autoscaling/v2"));
        assert!(rendered.skipped[1].reason.contains("policy/v1"));

        let report = team.apply(&rendered).await;
        assert!(!report
            .applied
            .iter()
            .any(|o| o.starts_with("HorizontalPodAutoscaler")));
        let deployment = wait_until(
            &team.api::<Deployment>(),
            "web",
            "the rollout completes",
            completed(),
        )
        .await;
        assert_eq!(
            deployment.spec.unwrap().replicas,
            Some(2),
            "without an autoscaler the service runs its minimum"
        );
    })
    .await;
}

#[tokio::test]
async fn deleting_a_service_leaves_none_of_its_objects_and_spares_its_neighbour() {
    with_team("dep-delete", |team| async move {
        let doomed = team.spec("doomed", |_| {});
        let neighbour = team.spec("neighbour", |raw| raw.replicas = Some(1));
        team.apply(&team.render(&doomed, 1).await).await;
        team.apply(&team.render(&neighbour, 1).await).await;
        wait_until(
            &team.api::<Deployment>(),
            "doomed",
            "doomed is up",
            completed(),
        )
        .await;

        let deleted = team
            .applier
            .delete_service(&team.namespace(), &ownership_selector(&doomed))
            .await
            .unwrap();
        for kind in ["Deployment", "Service", "NetworkPolicy", "ServiceAccount"] {
            assert!(
                deleted.contains(&format!("{kind}/doomed")),
                "{kind} deleted: {deleted:?}"
            );
        }
        assert!(
            deleted.iter().all(|d| d.ends_with("/doomed")),
            "{deleted:?}"
        );

        // Foreground deletion: the Deployment goes once its ReplicaSets and pods are gone.
        let deadline = tokio::time::Instant::now() + crate::support::WAIT;
        loop {
            let left = leftovers(&team, "app.kubernetes.io/name=doomed").await;
            if left.is_empty() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "objects of doomed were left behind: {left:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        assert!(team
            .api::<Deployment>()
            .get_opt("neighbour")
            .await
            .unwrap()
            .is_some());
        assert!(team
            .api::<Service>()
            .get_opt("neighbour")
            .await
            .unwrap()
            .is_some());
        assert!(team
            .api::<ServiceAccount>()
            .get_opt("neighbour")
            .await
            .unwrap()
            .is_some());
        assert!(team
            .api::<NetworkPolicy>()
            .get_opt("neighbour")
            .await
            .unwrap()
            .is_some());
        let namespace = Api::<Namespace>::all(team.client.clone())
            .get_opt(&team.namespace())
            .await
            .unwrap();
        assert!(namespace.is_some(), "the namespace stays");
    })
    .await;
}

/// Every object of the kinds Canopy makes (and what they own) still matching `selector`.
async fn leftovers(team: &TestTeam, selector: &str) -> Vec<String> {
    let params = ListParams::default().labels(selector);
    let mut left = Vec::new();
    macro_rules! collect {
        ($kind:ty) => {
            for item in team.api::<$kind>().list(&params).await.unwrap().items {
                left.push(format!(
                    "{}/{}",
                    <$kind as kube::Resource>::kind(&()),
                    item.metadata.name.unwrap_or_default()
                ));
            }
        };
    }
    collect!(Deployment);
    collect!(ReplicaSet);
    collect!(Pod);
    collect!(Service);
    collect!(ServiceAccount);
    collect!(NetworkPolicy);
    collect!(k8s_openapi::api::core::v1::Secret);
    collect!(k8s_openapi::api::networking::v1::Ingress);
    left
}

/// Property: every spec that validation accepts renders objects the real API server accepts
/// (server-side dry-run), and every spec it refuses names the field. Names and image tags are
/// drawn from what users can type, edges included (leading digits, 63-character names, tags
/// ending in '-', '.' or '_').
#[tokio::test]
async fn every_spec_validation_accepts_renders_objects_the_api_server_accepts() {
    use proptest::{
        strategy::{Strategy, ValueTree},
        test_runner::{Config, TestRunner},
    };
    with_team("dep-prop", |team| async move {
        // The namespace exists, so every object is dry-run by the API server (a preview into
        // a namespace still to be created can only say "new").
        Api::<Namespace>::all(team.client.clone())
            .create(
                &kube::api::PostParams::default(),
                &Namespace {
                    metadata: kube::api::ObjectMeta {
                        name: Some(team.namespace()),
                        // Canopy's, as it would make it (it takes over no one else's).
                        labels: Some(std::collections::BTreeMap::from([
                            ("app.kubernetes.io/managed-by".to_owned(), "canopy".to_owned()),
                            ("canopy.dev/team".to_owned(), team.team.clone()),
                        ])),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            )
            .await
            .expect("namespace");
        let mut runner = TestRunner::new(Config::default());
        let names = proptest::prop_oneof![
            "[a-z0-9][a-z0-9-]{0,12}[a-z0-9]",
            "[a-z][a-z0-9-]{55,61}[a-z0-9]",
            "[0-9][a-z0-9]{0,8}",
        ];
        let tags = "[A-Za-z0-9_][A-Za-z0-9_.-]{0,70}";
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..24 {
            let name = names.new_tree(&mut runner).expect("name").current();
            let tag = tags.new_tree(&mut runner).expect("tag").current();
            let raw = app::api::spec::RawServiceSpec {
                team: team.team.clone(),
                name: name.clone(),
                environment: "dev".to_owned(),
                image: format!("ghcr.io/acme/web:{tag}"),
                port: 8080,
                size: "S".to_owned(),
                replicas: Some(1),
                ..app::api::spec::RawServiceSpec::default()
            };
            match raw.validate() {
                Ok(spec) => {
                    accepted += 1;
                    let rendered = team.render(&spec, 1).await;
                    if let Err(error) = team.applier.preview(&rendered).await {
                        panic!("accepted name {name:?} and tag {tag:?}, but the API server refused: {error}");
                    }
                }
                Err(errors) => {
                    refused += 1;
                    assert!(
                        errors.0.iter().all(|e| !e.field.is_empty() && !e.message.is_empty()),
                        "{name:?} / {tag:?}: {errors}"
                    );
                }
            }
        }
        assert!(accepted > 0 && refused > 0, "both kinds drawn: {accepted} accepted, {refused} refused");
    })
    .await;
}
