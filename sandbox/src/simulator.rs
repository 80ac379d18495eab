//! Starting and stopping the whole simulator: nodes, their heartbeat, and the pod watch.

use std::{path::PathBuf, sync::Arc};

use k8s_openapi::{api::core::v1::Node, jiff::Timestamp};
use kube::{api::DeleteParams, Api, Client};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::{
    config::SimulatorConfig,
    context::Context,
    kubelet, kubelet_api,
    logs::LogStore,
    nodes::{self, NodeReport},
    Error, Result,
};

/// A running simulator. Dropping it stops the simulation (the nodes stay registered and go
/// NotReady 16 s later in the sandbox); [`SimulatorHandle::shutdown`] also cordons them at once,
/// and [`SimulatorHandle::remove_nodes`] deletes them.
pub struct SimulatorHandle {
    ctx: Arc<Context>,
    tasks: Vec<JoinHandle<()>>,
}

/// Registers the simulated nodes (waiting until the API server accepted them), then runs the
/// node heartbeat, the pod simulation and (unless disabled) the simulated kubelet's log
/// endpoint in background tasks on the current Tokio runtime.
///
/// ```no_run
/// # async fn example() -> canopy_sandbox::Result<()> {
/// let client = canopy_sandbox::client_from_kubeconfig("/tmp/sandbox/kubeconfig".as_ref()).await?;
/// let simulator = canopy_sandbox::start(client, canopy_sandbox::SimulatorConfig::default()).await?;
/// let logs = simulator.logs().clone(); // or read them through the API: `kubectl logs` works
/// # Ok(()) }
/// ```
pub async fn start(client: Client, config: SimulatorConfig) -> Result<SimulatorHandle> {
    config.validate()?;
    let logs = LogStore::default();
    let mut tasks = Vec::new();
    let kubelet_port = if config.serve_kubelet_api {
        let (port, task) = kubelet_api::serve(logs.clone()).await?;
        tasks.push(task);
        Some(port)
    } else {
        None
    };
    let report = NodeReport {
        since: Timestamp::now(),
        kubelet_port,
    };
    let node_api: Api<Node> = Api::all(client.clone());
    if let Err(err) = nodes::register(&node_api, &config, report).await {
        tasks.iter().for_each(JoinHandle::abort);
        return Err(err);
    }
    let ctx = Arc::new(Context::new(client, config, logs));

    let heartbeat = {
        let ctx = Arc::clone(&ctx);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(ctx.config.heartbeat);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                if let Err(err) = nodes::heartbeat(&node_api, &ctx.config, report).await {
                    warn!(error = %err, "node heartbeat failed; retrying");
                }
            }
        })
    };
    let pods = tokio::spawn(kubelet::watch_pods(Arc::clone(&ctx)));
    info!(nodes = ?ctx.config.node_names(), "node simulator running");
    tasks.extend([heartbeat, pods]);
    Ok(SimulatorHandle { ctx, tasks })
}

/// Starts a simulator on a thread of its own, with its own Tokio runtime, and returns its logs
/// once its nodes are registered; it runs until the process exits. Meant for test binaries,
/// where each `#[tokio::test]` runtime ends with its test: start one simulator per binary
/// (behind a `OnceLock`), with [`SimulatorConfig::for_tests`], not one per test.
pub fn start_detached(kubeconfig: PathBuf, config: SimulatorConfig) -> Result<LogStore> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("canopy-node-sim".to_owned())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build();
            let runtime = match runtime {
                Ok(runtime) => runtime,
                Err(err) => {
                    sender.send(Err(Error::Thread(err))).ok();
                    return;
                }
            };
            runtime.block_on(async move {
                let started = async {
                    let client = crate::client_from_kubeconfig(&kubeconfig).await?;
                    start(client, config).await
                };
                match started.await {
                    Ok(handle) => {
                        sender.send(Ok(handle.logs().clone())).ok();
                        let _running = handle;
                        std::future::pending::<()>().await;
                    }
                    Err(err) => {
                        sender.send(Err(err)).ok();
                    }
                }
            });
        })
        .map_err(Error::Thread)?;
    receiver.recv().map_err(|_| Error::ThreadEnded)?
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

    /// Stops the heartbeat, the pod watch and every pod task, and cordons the nodes so that no
    /// new pod is scheduled onto them while nothing simulates them (the next start uncordons).
    pub async fn shutdown(mut self) -> Result<()> {
        self.stop();
        let api: Api<Node> = Api::all(self.ctx.client.clone());
        nodes::set_schedulable(&api, &self.ctx.config, false).await
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
