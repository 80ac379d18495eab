//! Simulated energy for the sandbox: the simulated pods' power model the agent's `--simulate`
//! source also uses (`canopy_energy_model::simulated`) runs in this process
//! for each simulated node, and each interval's batch goes through the normal ingest path
//! (`Ingestor::ingest`: validation, raw samples, rollups) with a node token of its own, so the
//! energy pages show the sandbox's services with figures labelled *simulated*.
//!
//! Only [`super::Sandbox`] starts it: a configured cluster never gets simulated energy.

use std::time::Duration;

use canopy_energy_model::{
    cloud::Provider,
    simulated::{sample, simulate, SimulatedPod},
};
use canopy_protocol::{quantity::requested_cpu_millis as cpu_millis, IngestBatch};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::{api::ListParams, Api, Client};
use time::OffsetDateTime;
use tokio::{sync::oneshot, task::JoinHandle};

use crate::energy::{tokens::NodeIdentity, EnergyError, EnergyState};

/// The cluster name the sandbox's energy is recorded under (its carbon factors are the
/// defaults: `CANOPY_ENERGY_*`).
pub const SANDBOX_CLUSTER: &str = "sandbox";
/// How often each simulated node reports, as the agent does by default.
pub const FEED_INTERVAL: Duration = Duration::from_secs(10);
/// vCPUs of a node whose capacity cannot be read (the simulator's default).
const DEFAULT_NODE_VCPUS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("listing the sandbox's pods: {0}")]
    Kube(#[from] kube::Error),
    #[error("storing simulated energy: {0}")]
    Energy(#[from] EnergyError),
}

/// A simulated node as the feed reports it.
#[derive(Debug, Clone)]
struct FeedNode {
    identity: NodeIdentity,
    vcpus: usize,
}

/// The running feed; [`EnergyFeed::stop`] ends it and revokes its node tokens.
pub struct EnergyFeed {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
    energy: EnergyState,
    token_ids: Vec<i64>,
}

impl EnergyFeed {
    /// Creates a node token per simulated node (cluster [`SANDBOX_CLUSTER`]) and starts
    /// reporting every `interval`.
    pub async fn start(
        client: Client,
        energy: EnergyState,
        nodes: Vec<String>,
        interval: Duration,
    ) -> Result<Self, FeedError> {
        let mut feed_nodes = Vec::with_capacity(nodes.len());
        for node in nodes {
            let created = energy
                .tokens
                .create(SANDBOX_CLUSTER, &node, "sandbox")
                .await?;
            let identity = energy
                .tokens
                .authenticate(&created.token)
                .await?
                .ok_or(EnergyError::NotFound("the sandbox node token just created"))?;
            let vcpus = node_vcpus(&client, &node).await;
            feed_nodes.push(FeedNode { identity, vcpus });
        }
        let token_ids = feed_nodes
            .iter()
            .filter_map(|n| n.identity.token_id())
            .collect();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(run(client, energy.clone(), feed_nodes, interval, stopped));
        Ok(Self {
            stop,
            task,
            energy,
            token_ids,
        })
    }

    /// Stops reporting (an interval being stored finishes first) and revokes the tokens.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        if let Err(error) = self.task.await {
            tracing::warn!(%error, "the sandbox energy feed ended abnormally");
        }
        for id in self.token_ids {
            if let Err(error) = self.energy.tokens.revoke(id).await {
                tracing::warn!(%error, id, "could not revoke a sandbox node token");
            }
        }
        tracing::info!("sandbox energy feed stopped");
    }
}

async fn run(
    client: Client,
    energy: EnergyState,
    nodes: Vec<FeedNode>,
    interval: Duration,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    let mut last = OffsetDateTime::now_utc();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            _ = ticker.tick() => {}
        }
        let now = OffsetDateTime::now_utc();
        for node in &nodes {
            match report_node(&client, &energy, node, (last, now)).await {
                Ok(pods) => {
                    tracing::debug!(node = %node.identity.node, pods, "simulated energy stored")
                }
                Err(error) => {
                    tracing::warn!(node = %node.identity.node, %error, "sandbox energy feed: interval skipped")
                }
            }
        }
        last = now;
    }
}

/// One interval of one node: the running pods bound to it, simulated, ingested like an agent's
/// batch. Returns the number of pods.
async fn report_node(
    client: &Client,
    energy: &EnergyState,
    node: &FeedNode,
    (start, end): (OffsetDateTime, OffsetDateTime),
) -> Result<usize, FeedError> {
    let name = &node.identity.node;
    let pods: Api<Pod> = Api::all(client.clone());
    let listed = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={name}")))
        .await?;
    let simulated: Vec<SimulatedPod> = listed.items.iter().filter_map(simulated_pod).collect();
    let interval_secs = (end - start).as_seconds_f64();
    let sim = simulate(&simulated, node.vcpus, Provider::Aws, end, interval_secs);
    let batch = IngestBatch::new(name.clone(), vec![sample((start, end), &simulated, &sim)]);
    energy
        .ingestor
        .ingest(&node.identity, &batch, OffsetDateTime::now_utc())
        .await?;
    Ok(simulated.len())
}

/// A running pod as the simulation sees it: names, labels (`canopy.dev/team` and
/// `canopy.dev/service` map it to a service), first container, summed CPU requests.
fn simulated_pod(pod: &Pod) -> Option<SimulatedPod> {
    let running = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .is_some_and(|phase| phase == "Running");
    if !running || pod.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let spec = pod.spec.as_ref()?;
    Some(SimulatedPod {
        pod_uid: pod.metadata.uid.clone()?,
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        pod: pod.metadata.name.clone()?,
        container: spec.containers.first()?.name.clone(),
        cpu_request_millis: spec
            .containers
            .iter()
            .filter_map(|c| c.resources.as_ref()?.requests.as_ref()?.get("cpu"))
            .map(|q| cpu_millis(&q.0))
            .sum(),
        labels: pod
            .metadata
            .labels
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
    })
}

/// The node's CPU capacity in whole vCPUs (the idle draw scales with it).
async fn node_vcpus(client: &Client, name: &str) -> usize {
    let nodes: Api<Node> = Api::all(client.clone());
    match nodes.get_opt(name).await {
        Ok(Some(node)) => node
            .status
            .and_then(|s| s.capacity)
            .and_then(|c| c.get("cpu").map(|q| cpu_millis(&q.0)))
            .map(|millis| (millis as usize).div_ceil(1000))
            .filter(|vcpus| *vcpus > 0)
            .unwrap_or(DEFAULT_NODE_VCPUS),
        Ok(None) | Err(_) => DEFAULT_NODE_VCPUS,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn only_running_pods_count_with_their_labels_and_requests() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-1", "namespace": "shop-dev", "uid": "u1",
                "labels": {"canopy.dev/team": "shop", "canopy.dev/service": "web"}},
            "spec": {"containers": [
                {"name": "web", "image": "x", "resources": {"requests": {"cpu": "250m"}}},
                {"name": "side", "image": "y", "resources": {"requests": {"cpu": "0.5"}}}
            ]},
            "status": {"phase": "Running"}
        }))
        .unwrap();
        let simulated = simulated_pod(&pod).unwrap();
        assert_eq!(simulated.cpu_request_millis, 750);
        assert_eq!(simulated.container, "web");
        assert_eq!(simulated.labels["canopy.dev/service"], "web");
        let mut pending = pod.clone();
        pending.status.as_mut().unwrap().phase = Some("Pending".into());
        assert!(simulated_pod(&pending).is_none());
    }
}
