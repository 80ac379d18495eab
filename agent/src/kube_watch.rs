//! Watches the pods on this node through the Kubernetes API (field selector
//! `spec.nodeName=<node>`) and keeps the [`PodDirectory`] current.

use std::collections::{BTreeMap, HashMap};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client};

use crate::directory::{bare_container_id, PodDirectory, PodMeta, SIMULATED_ANNOTATION};

/// Errors starting the watch.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("connecting to the Kubernetes API: {0}")]
    Client(#[from] kube::Error),
}

/// Builds a client from the in-cluster service account (or `KUBECONFIG` outside a cluster).
pub async fn client() -> Result<Client, WatchError> {
    Ok(Client::try_default().await?)
}

/// Watches pods on `node` until the stream ends, applying every event to `directory`.
/// Errors from the API are logged and retried with backoff by the watcher itself.
pub async fn watch_pods(client: Client, node: String, directory: PodDirectory) {
    let pods: Api<Pod> = Api::all(client);
    let config = watcher::Config::default().fields(&format!("spec.nodeName={node}"));
    let mut stream = watcher::watcher(pods, config).default_backoff().boxed();
    let mut relist: Option<HashMap<String, PodMeta>> = None;
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Init) => relist = Some(HashMap::new()),
            Ok(Event::InitApply(pod)) => {
                if let (Some(buffer), Some((uid, meta))) = (relist.as_mut(), pod_meta(&pod)) {
                    buffer.insert(uid, meta);
                }
            }
            Ok(Event::InitDone) => {
                if let Some(buffer) = relist.take() {
                    tracing::info!(pods = buffer.len(), %node, "listed pods on this node");
                    directory.replace_all(buffer);
                }
            }
            Ok(Event::Apply(pod)) => {
                if let Some((uid, meta)) = pod_meta(&pod) {
                    directory.upsert(&uid, meta);
                }
            }
            Ok(Event::Delete(pod)) => {
                if let Some(uid) = pod.metadata.uid.as_deref() {
                    directory.remove(uid);
                }
            }
            Err(e) => tracing::warn!(error = %e, "pod watch error; retrying"),
        }
    }
}

/// What the agent keeps of a pod: names, labels, container ids and, for sandbox pods, the
/// CPU request that drives their simulated power.
pub fn pod_meta(pod: &Pod) -> Option<(String, PodMeta)> {
    let uid = pod.metadata.uid.clone()?;
    let status = pod.status.as_ref();
    let containers: HashMap<String, String> = status
        .into_iter()
        .flat_map(|s| {
            s.container_statuses
                .iter()
                .flatten()
                .chain(s.init_container_statuses.iter().flatten())
        })
        .filter_map(|c| {
            let id = c.container_id.as_deref()?;
            Some((bare_container_id(id).to_string(), c.name.clone()))
        })
        .collect();
    let simulated = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(SIMULATED_ANNOTATION))
        .filter(|v| v.as_str() == "true")
        .and_then(|_| {
            let spec = pod.spec.as_ref()?;
            let first = spec.containers.first()?.name.clone();
            let millis = spec
                .containers
                .iter()
                .filter_map(|c| c.resources.as_ref()?.requests.as_ref()?.get("cpu"))
                .map(|q| cpu_millis(&q.0))
                .sum();
            Some((first, millis))
        });
    Some((
        uid,
        PodMeta {
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            name: pod.metadata.name.clone().unwrap_or_default(),
            labels: pod
                .metadata
                .labels
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect::<BTreeMap<_, _>>(),
            containers,
            simulated,
        },
    ))
}

pub use canopy_protocol::quantity::requested_cpu_millis as cpu_millis;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn cpu_quantities() {
        assert_eq!(cpu_millis("250m"), 250);
        assert_eq!(cpu_millis("0.5"), 500);
        assert_eq!(cpu_millis("2"), 2000);
        assert_eq!(cpu_millis("lots"), 0);
    }

    #[test]
    fn pod_meta_reads_names_containers_and_simulation() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"uid": "u-1", "namespace": "sandbox", "name": "web-0",
                "labels": {"app": "web"}, "annotations": {"canopy.dev/simulated": "true"}},
            "spec": {"nodeName": "n1", "containers": [
                {"name": "web", "resources": {"requests": {"cpu": "250m"}}},
                {"name": "sidecar", "resources": {"requests": {"cpu": "0.1"}}}]},
            "status": {"containerStatuses": [{"name": "web", "containerID": "containerd://abc",
                "image": "x", "imageID": "y", "ready": true, "restartCount": 0}]}
        }))
        .unwrap();
        let (uid, meta) = pod_meta(&pod).unwrap();
        assert_eq!(uid, "u-1");
        assert_eq!(meta.namespace, "sandbox");
        assert_eq!(meta.containers.get("abc").map(String::as_str), Some("web"));
        assert_eq!(meta.labels.get("app").map(String::as_str), Some("web"));
        assert_eq!(meta.simulated, Some(("web".to_string(), 350)));
    }
}
