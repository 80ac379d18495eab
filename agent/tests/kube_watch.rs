//! The pod watch against a real Kubernetes API server (scripts/kube-testenv.sh): only pods on
//! this node enter the directory, container ids resolve to names once the status has them,
//! simulated pods are recognised, deleted pods leave. Needs `CANOPY_TEST_KUBECONFIG`.
#![cfg(feature = "kube")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use canopy_agent::directory::PodDirectory;
use canopy_agent::kube_watch::watch_pods;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use serde_json::json;

/// The test control plane's client. Without `CANOPY_TEST_KUBECONFIG` the test fails (as the
/// other control-plane harnesses do) rather than passing without having run.
async fn client() -> Option<Client> {
    let path = std::env::var_os("CANOPY_TEST_KUBECONFIG").filter(|p| !p.is_empty());
    let Some(path) = path else {
        panic!(
            "CANOPY_TEST_KUBECONFIG is not set: this test runs against the real local control \
             plane (`make test` starts one; by hand: scripts/kube-testenv.sh start DIR, then \
             CANOPY_TEST_KUBECONFIG=DIR/kubeconfig cargo test -p canopy-agent --test kube_watch)"
        );
    };
    let kubeconfig = Kubeconfig::read_from(path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    Some(Client::try_from(config).unwrap())
}

fn pod(name: &str, node: &str, simulated: bool) -> Pod {
    let annotations = if simulated {
        json!({"canopy.dev/simulated": "true"})
    } else {
        json!({})
    };
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": name}, "annotations": annotations},
        "spec": {"nodeName": node, "containers": [{
            "name": "main", "image": "example/app:1",
            "resources": {"requests": {"cpu": "300m"}}
        }]}
    }))
    .unwrap()
}

/// Polls `check` every 100 ms for up to 30 s.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..300 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}");
}

#[tokio::test]
async fn watch_keeps_the_directory_to_this_nodes_pods() {
    let Some(client) = client().await else {
        return;
    };
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let ns_name = format!("agent-watch-{suffix}");
    let node = format!("agent-node-{suffix}");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": ns_name}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns_name);

    // One pod on this node before the watch starts (found by the initial list), one elsewhere.
    let mine = pods
        .create(&PostParams::default(), &pod("mine", &node, false))
        .await
        .unwrap();
    let other = pods
        .create(
            &PostParams::default(),
            &pod("other", "some-other-node", false),
        )
        .await
        .unwrap();
    let directory = PodDirectory::new();
    let watch = tokio::spawn(watch_pods(client.clone(), node.clone(), directory.clone()));
    let mine_uid = mine.metadata.uid.clone().unwrap();
    eventually("the pod on this node is listed", || {
        directory.get(&mine_uid).is_some()
    })
    .await;
    let meta = directory.get(&mine_uid).unwrap();
    assert_eq!(
        (meta.namespace.as_str(), meta.name.as_str()),
        (ns_name.as_str(), "mine")
    );
    assert_eq!(meta.labels.get("app").map(String::as_str), Some("mine"));
    assert!(directory
        .get(other.metadata.uid.as_deref().unwrap())
        .is_none());

    // The kubelet (played here) reports the container id: the name resolves.
    let id = "c".repeat(64);
    let status = json!({"status": {"phase": "Running", "containerStatuses": [{
        "name": "main", "containerID": format!("containerd://{id}"), "image": "example/app:1",
        "imageID": "", "ready": true, "restartCount": 0,
        "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    }]}});
    pods.patch_status("mine", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    eventually("the container id resolves", || {
        directory
            .get(&mine_uid)
            .is_some_and(|m| m.containers.get(&id).map(String::as_str) == Some("main"))
    })
    .await;

    // A sandbox pod created while watching is picked up as simulated.
    let sim = pods
        .create(&PostParams::default(), &pod("sim", &node, true))
        .await
        .unwrap();
    let sim_uid = sim.metadata.uid.clone().unwrap();
    eventually("the simulated pod appears", || {
        directory
            .simulated_pods()
            .iter()
            .any(|p| p.pod_uid == sim_uid)
    })
    .await;
    let sims = directory.simulated_pods();
    assert_eq!(sims.len(), 1);
    assert_eq!(sims[0].cpu_request_millis, 300);

    // Deleted pods leave (grace period 0: there is no kubelet to confirm).
    pods.delete(
        "mine",
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..DeleteParams::default()
        },
    )
    .await
    .unwrap();
    eventually("the deleted pod leaves", || {
        directory.get(&mine_uid).is_none()
    })
    .await;
    assert_eq!(directory.len(), 1);

    watch.abort();
    let _ = namespaces.delete(&ns_name, &DeleteParams::default()).await;
}
