//! The pods on this node by UID, as last seen from the Kubernetes API, for naming containers.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use crate::sensors::simulated::SimulatedPod;

/// Annotation marking a sandbox pod whose energy is simulated rather than measured.
pub const SIMULATED_ANNOTATION: &str = "canopy.dev/simulated";

/// What the agent knows about one pod.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodMeta {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Container id (64 hex, no runtime prefix) to container name.
    pub containers: HashMap<String, String>,
    /// Set for sandbox pods: (first container name, total CPU request in millicores).
    pub simulated: Option<(String, u32)>,
}

/// Shared, cheaply cloned map from pod UID to [`PodMeta`].
#[derive(Debug, Clone, Default)]
pub struct PodDirectory {
    pods: Arc<RwLock<HashMap<String, PodMeta>>>,
}

impl PodDirectory {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn upsert(&self, pod_uid: &str, meta: PodMeta) {
        let mut pods = self.pods.write().unwrap_or_else(|e| e.into_inner());
        pods.insert(pod_uid.to_string(), meta);
    }

    pub fn remove(&self, pod_uid: &str) {
        let mut pods = self.pods.write().unwrap_or_else(|e| e.into_inner());
        pods.remove(pod_uid);
    }

    /// Replaces everything (after a watch restart re-lists the pods).
    pub fn replace_all(&self, all: HashMap<String, PodMeta>) {
        let mut pods = self.pods.write().unwrap_or_else(|e| e.into_inner());
        *pods = all;
    }

    pub fn get(&self, pod_uid: &str) -> Option<PodMeta> {
        let pods = self.pods.read().unwrap_or_else(|e| e.into_inner());
        pods.get(pod_uid).cloned()
    }

    pub fn len(&self) -> usize {
        self.pods.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sandbox pods on this node, sorted by UID.
    pub fn simulated_pods(&self) -> Vec<SimulatedPod> {
        let pods = self.pods.read().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<SimulatedPod> = pods
            .iter()
            .filter_map(|(uid, meta)| {
                let (container, cpu_request_millis) = meta.simulated.clone()?;
                Some(SimulatedPod {
                    pod_uid: uid.clone(),
                    namespace: meta.namespace.clone(),
                    pod: meta.name.clone(),
                    container,
                    cpu_request_millis,
                    labels: meta.labels.clone(),
                })
            })
            .collect();
        out.sort_by(|a, b| a.pod_uid.cmp(&b.pod_uid));
        out
    }
}

/// Strips a runtime scheme from a Kubernetes `containerID` (`containerd://<id>` -> `<id>`).
pub fn bare_container_id(container_id: &str) -> &str {
    container_id
        .split_once("://")
        .map_or(container_id, |(_, id)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ids_lose_their_scheme() {
        assert_eq!(bare_container_id("containerd://abc"), "abc");
        assert_eq!(bare_container_id("cri-o://abc"), "abc");
        assert_eq!(bare_container_id("abc"), "abc");
    }

    #[test]
    fn simulated_pods_come_from_marked_pods_only() {
        let dir = PodDirectory::new();
        dir.upsert(
            "b",
            PodMeta {
                namespace: "sandbox".into(),
                name: "web".into(),
                simulated: Some(("app".into(), 250)),
                ..PodMeta::default()
            },
        );
        dir.upsert("a", PodMeta::default());
        let sims = dir.simulated_pods();
        assert_eq!(sims.len(), 1);
        assert_eq!(sims[0].pod_uid, "b");
        assert_eq!(sims[0].cpu_request_millis, 250);
        dir.remove("b");
        assert!(dir.simulated_pods().is_empty());
        assert_eq!(dir.len(), 1);
    }
}
