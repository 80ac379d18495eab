//! Starting and stopping the whole simulator: nodes, their heartbeat, and the pod watch.

use std::sync::Arc;

use k8s_openapi::{api::core::v1::Node, jiff::Timestamp};
use kube::{api::DeleteParams, Api, Client};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::{
    config::SimulatorConfig,
    kubelet::{self, Context},
    logs::LogStore,
    nodes, Result,
};

/// A running simulator. Dropping it stops the simulation (the nodes stay registered and go
/// NotReady 40 s later); [`SimulatorHandle::shutdown`] does the same explicitly and
/// [`SimulatorHandle::remove_nodes`] also deletes the node objects.
pub struct SimulatorHandle {
    ctx: Arc<Context>,
    tasks: Vec<JoinHandle<()>>,
}

/// Registers the simulated nodes (waiting until the API server accepted them), then runs the
/// node heartbeat and the pod simulation in background tasks on the current Tokio runtime.
///
/// ```no_run
/// # async fn example() -> canopy_sandbox::Result<()> {
/// let client = canopy_sandbox::client_from_kubeconfig("/tmp/sandbox/kubeconfig".as_ref()).await?;
/// let simulator = canopy_sandbox::start(client, canopy_sandbox::SimulatorConfig::default()).await?;
/// let logs = simulator.logs().clone(); // serve these where the API returns nothing
/// # Ok(()) }
/// ```
pub async fn start(client: Client, config: SimulatorConfig) -> Result<SimulatorHandle> {
    config.validate()?;
    let since = Timestamp::now();
    let node_api: Api<Node> = Api::all(client.clone());
    nodes::register(&node_api, &config, since).await?;
    let ctx = Arc::new(Context::new(client, config, LogStore::default()));

    let heartbeat = {
        let ctx = Arc::clone(&ctx);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(ctx.config.heartbeat);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                if let Err(err) = nodes::heartbeat(&node_api, &ctx.config, since).await {
                    warn!(error = %err, "node heartbeat failed; retrying");
                }
            }
        })
    };
    let pods = tokio::spawn(kubelet::watch_pods(Arc::clone(&ctx)));
    info!(nodes = ?ctx.config.node_names(), "node simulator running");
    Ok(SimulatorHandle {
        ctx,
        tasks: vec![heartbeat, pods],
    })
}

impl SimulatorHandle {
    /// The simulated container logs, shared with the running simulation.
    pub fn logs(&self) -> &LogStore {
        &self.ctx.logs
    }

    /// The names of the simulated nodes.
    pub fn node_names(&self) -> Vec<String> {
        self.ctx.config.node_names()
    }

    /// Stops the heartbeat, the pod watch and every pod task.
    pub fn shutdown(mut self) {
        self.stop();
    }

    /// Stops the simulation and deletes the simulated node objects (their pods are then
    /// garbage-collected by the control plane's pod GC).
    pub async fn remove_nodes(mut self) -> Result<()> {
        self.stop();
        let api: Api<Node> = Api::all(self.ctx.client.clone());
        for name in self.ctx.config.node_names() {
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(err) => return Err(err.into()),
            }
        }
        Ok(())
    }

    fn stop(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
        self.ctx.abort_all();
    }
}

impl Drop for SimulatorHandle {
    fn drop(&mut self) {
        self.stop();
    }
}
