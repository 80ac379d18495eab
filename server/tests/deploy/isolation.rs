//! Team isolation in the cluster (issue 11, item 3): Canopy does not take over objects it did
//! not create (a namespace someone made by hand, a Secret of the same name) and does not route a
//! host that another Ingress already routes. Nothing is written in either case, and the record
//! says why. The deploy service on a real database and the real control plane.

use std::collections::BTreeMap;

use app::api::{deploys::DeployStatus, spec::RawRoute};
use canopy_server::deploy::{
    apply::ApplyError, records::DeployRecords, service::DeployRequest, DeployError,
};
use k8s_openapi::api::{apps::v1::Deployment, core::v1::Namespace, networking::v1::Ingress};
use kube::{api::PostParams, Api};

use crate::{
    app_support::fresh_database,
    resume::{canopy, finished, pool_for, request},
    support::{simulator_logs, with_team, TestTeam},
};

fn routed(team: &TestTeam, name: &str, host: &str) -> DeployRequest {
    DeployRequest {
        spec: team.spec(name, |raw| {
            raw.route = Some(RawRoute {
                host: host.to_owned(),
                path: None,
            })
        }),
        secret_values: BTreeMap::new(),
        requested_by: "isolation-test".to_owned(),
        reason: None,
        git_sha: None,
    }
}

#[tokio::test]
async fn a_namespace_canopy_did_not_create_is_not_taken_over() {
    simulator_logs();
    with_team("iso-ns", |team| async move {
        let namespaces: Api<Namespace> = Api::all(team.client.clone());
        let mut theirs = Namespace::default();
        theirs.metadata.name = Some(team.namespace());
        theirs.metadata.labels = Some(BTreeMap::from([("owner".to_owned(), "someone-else".to_owned())]));
        namespaces.create(&PostParams::default(), &theirs).await.expect("namespace made by hand");

        let (_db, options) = fresh_database().await;
        let canopy = canopy(options.clone()).await;
        let records = DeployRecords::new(pool_for(options).await);

        // The preview says so before anything is tried.
        let preview = canopy.preview(&request(&team, "web").spec, &[]).await;
        assert!(
            matches!(preview, Err(DeployError::Apply(ApplyError::NotOurs { ref kind, .. })) if kind == "Namespace"),
            "{preview:?}"
        );
        let record = canopy.deploy(request(&team, "web")).await.expect("recorded");
        let ended = finished(&records, record.id).await;
        assert_eq!(ended.status, DeployStatus::Failed);
        let reason = ended.failure_reason.unwrap_or_default();
        assert!(reason.contains(&format!("Canopy will not take over Namespace {}", team.namespace())), "{reason}");
        assert!(reason.contains("was not created by Canopy"), "{reason}");

        // Nothing was written: the namespace keeps its own labels, no workload appeared.
        let namespace = namespaces.get(&team.namespace()).await.expect("namespace");
        let labels = namespace.metadata.labels.unwrap_or_default();
        assert_eq!(labels.get("owner").map(String::as_str), Some("someone-else"));
        assert!(!labels.contains_key("app.kubernetes.io/managed-by"), "{labels:?}");
        let deployments: Api<Deployment> = team.api();
        assert!(deployments.get_opt("web").await.expect("get").is_none());
    })
    .await;
}

#[tokio::test]
async fn a_host_already_routed_elsewhere_is_refused() {
    simulator_logs();
    with_team("iso-host", |team| async move {
        let (_db, options) = fresh_database().await;
        let canopy = canopy(options.clone()).await;
        let records = DeployRecords::new(pool_for(options).await);
        let host = format!("{}.example.test", team.team);

        let first = canopy
            .deploy(routed(&team, "web", &host))
            .await
            .expect("first");
        assert_eq!(
            finished(&records, first.id).await.status,
            DeployStatus::Succeeded
        );
        // The same service keeps its own host on its next deploy.
        let again = canopy
            .deploy(routed(&team, "web", &host))
            .await
            .expect("again");
        assert_eq!(
            finished(&records, again.id).await.status,
            DeployStatus::Succeeded
        );

        let second = canopy
            .deploy(routed(&team, "api", &host))
            .await
            .expect("recorded");
        let ended = finished(&records, second.id).await;
        assert_eq!(ended.status, DeployStatus::Failed);
        let reason = ended.failure_reason.unwrap_or_default();
        assert!(
            reason.contains(&format!(
                "the host {host} is already routed by Ingress {}/web",
                team.namespace()
            )),
            "{reason}"
        );
        let ingresses: Api<Ingress> = team.api();
        assert!(
            ingresses.get_opt("api").await.expect("get").is_none(),
            "no second Ingress"
        );
        let deployments: Api<Deployment> = team.api();
        assert!(deployments.get_opt("api").await.expect("get").is_none());
    })
    .await;
}
