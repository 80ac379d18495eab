//! The kubelet stand-in: watches pods bound to the simulated nodes, starts one lifecycle task per
//! pod (see `lifecycle`), and finishes the deletion of terminating pods as a kubelet would.

use std::{
    collections::{HashMap, HashSet},
    hash::{DefaultHasher, Hash, Hasher},
    pin::pin,
    sync::{Arc, Mutex, PoisonError},
};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::{
    api::{DeleteParams, Preconditions},
    runtime::{
        events::{Event as KubeEvent, EventType, Recorder, Reporter},
        watcher::{self, watcher, Event},
        WatchStreamExt,
    },
    Api, Client, Resource, ResourceExt,
};
use tokio::task::AbortHandle;
use tracing::{debug, info, instrument, warn};

use crate::{config::SimulatorConfig, lifecycle, logs::LogStore, Error, Result};

/// What every pod task shares.
pub(crate) struct Context {
    pub client: Client,
    pub config: SimulatorConfig,
    pub logs: LogStore,
    /// Simulated node name → its index.
    nodes: HashMap<String, u32>,
    /// One event recorder per node (the reporting instance is the node).
    recorders: HashMap<String, Recorder>,
    /// Pod UID → its lifecycle task and where it lives.
    tracked: Mutex<HashMap<String, Tracked>>,
}

struct Tracked {
    task: AbortHandle,
    namespace: String,
    name: String,
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

    fn tracked(&self) -> std::sync::MutexGuard<'_, HashMap<String, Tracked>> {
        self.tracked.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops simulating a pod and drops its logs.
    fn forget(&self, uid: &str) {
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

/// Watches bound pods until the task is aborted. Watch errors are logged and retried with
/// back-off; they never end the loop.
pub(crate) async fn watch_pods(ctx: Arc<Context>) {
    let api: Api<Pod> = Api::all(ctx.client.clone());
    let config = watcher::Config::default().fields("spec.nodeName!=");
    let mut events = pin!(watcher(api, config).default_backoff());
    let mut listed: HashSet<String> = HashSet::new();
    while let Some(event) = events.next().await {
        match event {
            Ok(Event::Init) => listed.clear(),
            Ok(Event::InitApply(pod)) => {
                listed.insert(pod.uid().unwrap_or_default());
                handle(&ctx, pod).await;
            }
            Ok(Event::InitDone) => {
                // Pods deleted while the watch was down never sent a Delete event.
                let gone: Vec<String> = ctx
                    .tracked()
                    .keys()
                    .filter(|uid| !listed.contains(*uid))
                    .cloned()
                    .collect();
                gone.iter().for_each(|uid| ctx.forget(uid));
            }
            Ok(Event::Apply(pod)) => handle(&ctx, pod).await,
            Ok(Event::Delete(pod)) => ctx.forget(&pod.uid().unwrap_or_default()),
            Err(err) => warn!(error = %err, "pod watch failed; retrying"),
        }
    }
}

async fn handle(ctx: &Arc<Context>, pod: Pod) {
    if let Err(err) = reconcile(ctx, pod).await {
        if !err.is_not_found() {
            warn!(error = %err, "simulating a pod failed");
        }
    }
}

/// Decides what to do with one pod event: ignore it, finish its deletion, or start its task.
#[instrument(skip_all, fields(namespace = pod.metadata.namespace.as_deref(), pod = pod.metadata.name.as_deref()))]
async fn reconcile(ctx: &Arc<Context>, pod: Pod) -> Result<()> {
    let node = pod
        .spec
        .as_ref()
        .and_then(|spec| spec.node_name.as_deref())
        .unwrap_or_default();
    let Some(&node_index) = ctx.nodes.get(node) else {
        return Ok(()); // bound to a node that is not ours
    };
    let uid = pod.uid().ok_or(Error::IncompletePod("uid"))?;
    if pod.metadata.deletion_timestamp.is_some() {
        ctx.forget(&uid);
        return finish_deletion(ctx, &pod, uid).await;
    }
    let phase = pod
        .status
        .as_ref()
        .and_then(|status| status.phase.as_deref());
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return Ok(());
    }
    let mut tracked = ctx.tracked();
    if tracked.contains_key(&uid) {
        return Ok(());
    }
    let namespace = pod.namespace().ok_or(Error::IncompletePod("namespace"))?;
    let name = pod
        .metadata
        .name
        .clone()
        .ok_or(Error::IncompletePod("name"))?;
    debug!(node, "taking the pod");
    let task = tokio::spawn(lifecycle::simulate(Arc::clone(ctx), pod, node_index));
    tracked.insert(
        uid,
        Tracked {
            task: task.abort_handle(),
            namespace,
            name,
        },
    );
    Ok(())
}

/// A real kubelet stops the containers, then deletes the pod with grace period 0; without
/// that, terminating pods (scale-down, rollouts, namespace deletion) would never go away.
async fn finish_deletion(ctx: &Context, pod: &Pod, uid: String) -> Result<()> {
    let namespace = pod.namespace().ok_or(Error::IncompletePod("namespace"))?;
    let name = pod
        .metadata
        .name
        .as_deref()
        .ok_or(Error::IncompletePod("name"))?;
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: Some(uid),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(name, &params).await {
        Ok(_) => {
            info!("terminated pod");
            Ok(())
        }
        // Already gone, or a newer pod of the same name: nothing left to do.
        Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => Ok(()),
        Err(err) => Err(err.into()),
    }
}
