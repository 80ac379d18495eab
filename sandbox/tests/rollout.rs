//! Against the real control plane: Deployments roll out through the real Deployment controller,
//! the real scheduler and the simulator; scale-down terminates pods; pods that fit no node are
//! reported Unschedulable by the real scheduler.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use canopy_sandbox::{nodes::NODE_POOL_LABEL, SimulatorConfig};
use futures::{AsyncBufReadExt, TryStreamExt};
use std::collections::BTreeMap;

use common::{api_logs, in_namespace, simulator_logs, wait_until, TestNamespace};
use k8s_openapi::{
    api::{
        apps::v1::{Deployment, DeploymentSpec},
        core::v1::{
            Container, ContainerPort, HTTPGetAction, Pod, PodSpec, PodTemplateSpec, Probe,
            ResourceRequirements,
        },
    },
    apimachinery::pkg::{
        api::resource::Quantity, apis::meta::v1::LabelSelector, util::intstr::IntOrString,
    },
};
use kube::{
    api::{ListParams, LogParams, ObjectMeta, Patch, PatchParams, PostParams},
    ResourceExt,
};

fn labels(app: &str) -> BTreeMap<String, String> {
    [("app".to_owned(), app.to_owned())].into()
}

fn web_deployment(name: &str, replicas: i32) -> Deployment {
    Deployment {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(labels(name)),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(name)),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    // On this binary's simulated nodes, not on another simulator's.
                    node_selector: Some(
                        [(
                            NODE_POOL_LABEL.to_owned(),
                            SimulatorConfig::for_tests().node_prefix,
                        )]
                        .into(),
                    ),
                    containers: vec![Container {
                        name: "web".to_owned(),
                        image: Some("nginx:1.25".to_owned()),
                        ports: Some(vec![ContainerPort {
                            container_port: 8080,
                            ..ContainerPort::default()
                        }]),
                        readiness_probe: Some(Probe {
                            http_get: Some(HTTPGetAction {
                                path: Some("/healthz".to_owned()),
                                port: IntOrString::Int(8080),
                                ..HTTPGetAction::default()
                            }),
                            ..Probe::default()
                        }),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

/// `kubectl rollout status`'s verdict: the controller saw the latest spec and every replica is
/// updated and available.
fn rolled_out(replicas: i32) -> impl Fn(Option<&Deployment>) -> bool {
    move |deployment| {
        let Some(deployment) = deployment else {
            return false;
        };
        let Some(status) = &deployment.status else {
            return false;
        };
        let available = status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Available" && c.status == "True");
        status.observed_generation >= deployment.metadata.generation
            && status.updated_replicas == Some(replicas)
            && status.available_replicas == Some(replicas)
            && status.ready_replicas == Some(replicas)
            && available
    }
}

async fn pods_of(ns: &TestNamespace, app: &str) -> Vec<Pod> {
    let pods = ns.api::<Pod>();
    pods.list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap()
        .items
}

#[tokio::test]
async fn a_deployment_of_two_replicas_rolls_out_to_available() {
    in_namespace("rollout", |ns| async move {
        let deployments = ns.api::<Deployment>();
        deployments
            .create(&PostParams::default(), &web_deployment("web", 2))
            .await
            .unwrap();
        let deployment = wait_until(&deployments, "web", "it is rolled out", rolled_out(2)).await;

        let progressing = deployment
            .status
            .unwrap()
            .conditions
            .unwrap()
            .into_iter()
            .find(|c| c.type_ == "Progressing")
            .unwrap();
        assert_eq!(
            progressing.reason.as_deref(),
            Some("NewReplicaSetAvailable")
        );

        let pods = pods_of(&ns, "web").await;
        assert_eq!(pods.len(), 2);
        for pod in &pods {
            let spec = pod.spec.as_ref().unwrap();
            assert!(
                spec.node_name
                    .as_deref()
                    .unwrap()
                    .starts_with("canopy-test-sim-"),
                "bound by the scheduler to a simulated node"
            );
            let status = pod.status.as_ref().unwrap();
            assert_eq!(status.phase.as_deref(), Some("Running"));
            assert!(status.pod_ip.is_some());
            for type_ in ["PodScheduled", "Initialized", "ContainersReady", "Ready"] {
                let condition = status
                    .conditions
                    .iter()
                    .flatten()
                    .find(|c| c.type_ == type_);
                assert_eq!(
                    condition.map(|c| c.status.as_str()),
                    Some("True"),
                    "{type_}"
                );
            }
            let container = &status.container_statuses.as_ref().unwrap()[0];
            assert!(container.ready);
            let running = container.state.as_ref().unwrap().running.as_ref().unwrap();
            assert!(running.started_at.is_some());
        }

        // The simulator wrote logs for each container (the API would return nothing).
        for pod in &pods {
            let key = canopy_sandbox::LogKey::new(&ns.name, &pod.name_any(), "web");
            let logs = simulator_logs().text(&key, false).expect("simulated logs");
            assert!(logs.contains("listening on 0.0.0.0:8080"), "{logs}");
            // And through the API server, which asks the simulated kubelet.
            let params = LogParams::default();
            api_logs(
                &ns.api::<Pod>(),
                &pod.name_any(),
                &params,
                "listening on 0.0.0.0:8080",
            )
            .await;
        }
    })
    .await;
}

#[tokio::test]
async fn scaling_down_terminates_the_pods() {
    in_namespace("scale", |ns| async move {
        let deployments = ns.api::<Deployment>();
        deployments
            .create(&PostParams::default(), &web_deployment("api", 2))
            .await
            .unwrap();
        wait_until(&deployments, "api", "it is rolled out", rolled_out(2)).await;

        let scale = serde_json::json!({ "spec": { "replicas": 0 } });
        deployments
            .patch("api", &PatchParams::default(), &Patch::Merge(&scale))
            .await
            .unwrap();
        wait_until(
            &deployments,
            "api",
            "it is scaled to zero",
            |d: Option<&Deployment>| {
                d.and_then(|d| d.status.as_ref())
                    .is_some_and(|s| s.replicas.unwrap_or(0) == 0)
            },
        )
        .await;
        // Without a kubelet, terminating pods would stay forever: the simulator finishes them.
        let deadline = tokio::time::Instant::now() + common::WAIT;
        loop {
            let left = pods_of(&ns, "api").await;
            if left.is_empty() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "pods still there: {:?}",
                left.iter().map(|p| p.name_any()).collect::<Vec<_>>()
            );
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_pod_that_fits_no_node_is_unschedulable() {
    in_namespace("unschedulable", |ns| async move {
        let pods = ns.api::<Pod>();
        let huge: BTreeMap<String, Quantity> =
            [("cpu".to_owned(), Quantity("1000".to_owned()))].into();
        let pod = Pod {
            metadata: ObjectMeta {
                name: Some("huge".to_owned()),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "app".to_owned(),
                    image: Some("acme/huge:1".to_owned()),
                    resources: Some(ResourceRequirements {
                        requests: Some(huge),
                        ..ResourceRequirements::default()
                    }),
                    ..Container::default()
                }],
                ..PodSpec::default()
            }),
            ..Pod::default()
        };
        pods.create(&PostParams::default(), &pod).await.unwrap();
        let pod = wait_until(
            &pods,
            "huge",
            "the scheduler gives up on it",
            |pod: Option<&Pod>| {
                pod.and_then(|p| p.status.as_ref())
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| {
                        c.iter()
                            .any(|c| c.type_ == "PodScheduled" && c.status == "False")
                    })
            },
        )
        .await;
        let status = pod.status.unwrap();
        let scheduled = status
            .conditions
            .unwrap()
            .into_iter()
            .find(|c| c.type_ == "PodScheduled")
            .unwrap();
        assert_eq!(scheduled.reason.as_deref(), Some("Unschedulable"));
        let message = scheduled.message.unwrap_or_default();
        assert!(message.contains("Insufficient cpu"), "{message}");
        assert_eq!(status.phase.as_deref(), Some("Pending"));
        assert!(pod.spec.unwrap().node_name.is_none());
    })
    .await;
}

#[tokio::test]
async fn a_log_can_be_followed_through_the_api() {
    in_namespace("follow", |ns| async move {
        let deployments = ns.api::<Deployment>();
        deployments
            .create(&PostParams::default(), &web_deployment("live", 1))
            .await
            .unwrap();
        wait_until(&deployments, "live", "it is rolled out", rolled_out(1)).await;
        let pod = pods_of(&ns, "live").await.remove(0).name_any();
        let pods = ns.api::<Pod>();
        // Wait until the API reaches this pod's kubelet, then follow: running simulated
        // containers write a health-check line every second (`SimulatorConfig::for_tests`).
        api_logs(&pods, &pod, &LogParams::default(), "starting web").await;
        let params = LogParams {
            follow: true,
            tail_lines: Some(1),
            ..LogParams::default()
        };
        let stream = pods.log_stream(&pod, &params).await.unwrap();
        let mut lines = stream.lines();
        let mut seen = Vec::new();
        let followed = tokio::time::timeout(std::time::Duration::from_secs(20), async {
            while let Some(line) = lines.try_next().await.unwrap() {
                seen.push(line);
                if seen.len() >= 3 {
                    break;
                }
            }
        })
        .await;
        assert!(followed.is_ok(), "only got {seen:?}");
        assert!(
            seen[1..]
                .iter()
                .all(|line| line.contains("GET /healthz 200")),
            "{seen:?}"
        );
    })
    .await;
}
