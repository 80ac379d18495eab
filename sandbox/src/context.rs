//! What every simulated pod's task shares: the API client, the simulator's settings, the log
//! store, the simulated nodes and their event recorders, and the pod tasks being run (used by
//! the kubelet stand-in, which starts the tasks, and by each pod's lifecycle).

use std::{
    collections::HashMap,
    hash::{DefaultHasher, Hash, Hasher},
    sync::{Mutex, PoisonError},
};

use k8s_openapi::api::core::v1::Pod;
use kube::{
    runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter},
    Client, Resource,
};
use tokio::task::AbortHandle;
use tracing::debug;

use crate::{config::SimulatorConfig, logs::LogStore};

/// What every pod task shares.
pub(crate) struct Context {
    pub client: Client,
    pub config: SimulatorConfig,
    pub logs: LogStore,
    /// Simulated node name → its index.
    pub(crate) nodes: HashMap<String, u32>,
    /// One event recorder per node (the reporting instance is the node).
    pub(crate) recorders: HashMap<String, Recorder>,
    /// Pod UID → its lifecycle task and where it lives.
    pub(crate) tracked: Mutex<HashMap<String, Tracked>>,
}

pub(crate) struct Tracked {
    pub(crate) task: AbortHandle,
    pub(crate) namespace: String,
    pub(crate) name: String,
}

impl Context {
    pub(crate) fn new(client: Client, config: SimulatorConfig, logs: LogStore) -> Self {
        let names = config.node_names();
        let recorders = names
            .iter()
            .map(|node| {
                let reporter = Reporter {
                    controller: "canopy-node-simulator".to_owned(),
                    instance: Some(node.clone()),
                };
                (node.clone(), Recorder::new(client.clone(), reporter))
            })
            .collect();
        let nodes = names.into_iter().zip(0..).collect();
        Self {
            client,
            config,
            logs,
            nodes,
            recorders,
            tracked: Mutex::new(HashMap::new()),
        }
    }

    /// The pod's address on this node, derived from its UID so that every simulator computes
    /// the same one. Loopback (127.x.y.z) on purpose, like the node address: nothing that dials
    /// a simulated pod can leave the machine.
    pub(crate) fn pod_ip(node_index: u32, uid: &str) -> String {
        let mut hasher = DefaultHasher::new();
        uid.hash(&mut hasher);
        let n = hasher.finish();
        format!(
            "127.{}.{}.{}",
            20 + node_index % 200,
            (n >> 8) % 250,
            n % 250 + 2
        )
    }

    /// Publishes a kubelet-like event on a pod. Events are best effort: failures are logged only.
    pub(crate) async fn event(&self, pod: &Pod, type_: EventType, reason: &str, note: String) {
        let Some(recorder) = pod
            .spec
            .as_ref()
            .and_then(|spec| spec.node_name.as_ref())
            .and_then(|node| self.recorders.get(node))
        else {
            return;
        };
        let event = KubeEvent {
            type_,
            reason: reason.to_owned(),
            note: Some(note),
            action: reason.to_owned(),
            secondary: None,
        };
        if let Err(err) = recorder.publish(&event, &pod.object_ref(&())).await {
            debug!(error = %err, reason, "could not publish event");
        }
    }

    pub(crate) fn tracked(&self) -> std::sync::MutexGuard<'_, HashMap<String, Tracked>> {
        self.tracked.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops simulating a pod and drops its logs.
    pub(crate) fn forget(&self, uid: &str) {
        if let Some(tracked) = self.tracked().remove(uid) {
            tracked.task.abort();
            self.logs.remove_pod(&tracked.namespace, &tracked.name);
        }
    }

    /// Stops every pod task (the simulator is shutting down).
    pub(crate) fn abort_all(&self) {
        for (_, tracked) in self.tracked().drain() {
            tracked.task.abort();
        }
    }
}
