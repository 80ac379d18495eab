//! The cluster Canopy deploys to ([`ClusterContext`]), and the sandbox that stands in for one
//! when none is configured: a real local control plane started with `scripts/kube-testenv.sh`
//! plus the node simulator running in this process (docs/SANDBOX.md).
//!
//! In the sandbox, [`energy_feed`] reports simulated energy for the simulated nodes' pods.
//!
//! [`connect`] never fails: a cluster that cannot be reached or a sandbox that cannot start is
//! logged as a warning and leaves Canopy without a cluster, so its pages keep working.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use canopy_sandbox::{SimulatorConfig, SimulatorHandle};
use kube::Client;
use tokio::process::Command;

use crate::config::{ClusterSettings, SandboxSettings};

pub mod energy_feed;

/// How long a configured cluster gets to answer the first request at startup.
const REACH_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("could not run {script}: {source}")]
    Spawn {
        script: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{script} {command} {dir}` failed ({status}); its messages are above in the log")]
    Script {
        script: PathBuf,
        command: &'static str,
        dir: PathBuf,
        status: std::process::ExitStatus,
    },
    #[error("could not use the cluster's kubeconfig: {0}")]
    Client(#[source] canopy_sandbox::Error),
    #[error("could not use the in-cluster service account: {0}")]
    InCluster(#[source] kube::config::InClusterError),
    #[error("could not build a Kubernetes client: {0}")]
    Kube(#[source] kube::Error),
    #[error("the node simulator could not start: {0}")]
    Simulator(#[source] canopy_sandbox::Error),
}

pub type Result<T, E = SandboxError> = std::result::Result<T, E>;

/// The cluster the rest of the server deploys to.
#[derive(Clone)]
pub struct ClusterContext {
    pub client: Client,
    /// The cluster is Canopy's sandbox: the control plane is real, the pods are simulated.
    pub sandbox: bool,
}

impl std::fmt::Debug for ClusterContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterContext")
            .field("sandbox", &self.sandbox)
            .finish_non_exhaustive()
    }
}

/// A running sandbox: stop it with [`Sandbox::stop`] on shutdown.
pub struct Sandbox {
    dir: PathBuf,
    script: PathBuf,
    simulator: Option<SimulatorHandle>,
    energy_feed: Option<energy_feed::EnergyFeed>,
}

/// Connects to the configured cluster or starts the sandbox. Problems are logged as warnings
/// and leave Canopy without a cluster (`None`); the sandbox, when one started, is returned so
/// that shutdown can stop it.
pub async fn connect(settings: &ClusterSettings) -> (Option<ClusterContext>, Option<Sandbox>) {
    let connected = match settings {
        ClusterSettings::None => {
            tracing::info!(
                "no Kubernetes cluster configured (CANOPY_SANDBOX=off): deploys are disabled"
            );
            return (None, None);
        }
        ClusterSettings::Kubeconfig(path) => client_for(path).await.map(|client| (client, None)),
        ClusterSettings::InCluster => in_cluster_client().map(|client| (client, None)),
        ClusterSettings::Sandbox(sandbox) => Sandbox::start(sandbox)
            .await
            .map(|(client, sandbox)| (client, Some(sandbox))),
    };
    match connected {
        Ok((client, sandbox)) => {
            report_version(&client).await;
            let context = ClusterContext {
                client,
                sandbox: sandbox.is_some(),
            };
            (Some(context), sandbox)
        }
        Err(error) => {
            tracing::warn!(
                error = %error,
                "Canopy starts without a Kubernetes cluster: pages work, deploys are refused. \
                 Set CANOPY_KUBECONFIG (or KUBECONFIG) to use a cluster, or fix the sandbox \
                 (docs/SANDBOX.md) and restart"
            );
            (None, None)
        }
    }
}

async fn client_for(path: &Path) -> Result<Client> {
    tracing::info!(kubeconfig = %path.display(), "using the Kubernetes cluster of this kubeconfig");
    canopy_sandbox::client_from_kubeconfig(path)
        .await
        .map_err(SandboxError::Client)
}

fn in_cluster_client() -> Result<Client> {
    tracing::info!("using the Kubernetes cluster Canopy runs in (service account)");
    let config = kube::Config::incluster().map_err(SandboxError::InCluster)?;
    Client::try_from(config).map_err(SandboxError::Kube)
}

/// Logs the cluster's version, or a warning when it does not answer (Canopy keeps the client:
/// the cluster may come up later).
async fn report_version(client: &Client) {
    match tokio::time::timeout(REACH_TIMEOUT, client.apiserver_version()).await {
        Ok(Ok(version)) => {
            tracing::info!(version = %version.git_version, "connected to Kubernetes");
        }
        Ok(Err(error)) => {
            tracing::warn!(%error, "the Kubernetes cluster does not answer yet; deploys will fail until it does");
        }
        Err(_) => {
            tracing::warn!(
                timeout_secs = REACH_TIMEOUT.as_secs(),
                "the Kubernetes cluster did not answer in time; deploys will fail until it does"
            );
        }
    }
}

/// Starts of the control plane tried before giving up (see [`Sandbox::start`]).
const START_ATTEMPTS: u32 = 3;

impl Sandbox {
    /// Starts the local control plane in `settings.dir` (reusing one already running there) and
    /// the node simulator in this process; returns a client for the control plane.
    pub async fn start(settings: &SandboxSettings) -> Result<(Client, Self)> {
        let dir = std::path::absolute(&settings.dir).unwrap_or_else(|_| settings.dir.clone());
        let script = settings.testenv_script.clone();
        tracing::info!(
            dir = %dir.display(),
            "no Kubernetes cluster configured: starting Canopy's sandbox (a real local control \
             plane whose pods are simulated; docs/SANDBOX.md)"
        );
        // The control plane's ports are picked free just before it binds them; another process
        // can take one in between. Such a start fails: clean up and try again with new ports.
        let mut attempt = 1;
        while let Err(error) = run_script(&script, "start", &dir).await {
            if attempt == START_ATTEMPTS {
                return Err(error);
            }
            tracing::warn!(%error, attempt, "the sandbox control plane did not start; trying again");
            if let Err(stop_error) = run_script(&script, "stop", &dir).await {
                tracing::warn!(error = %stop_error, "could not clean up the failed start");
            }
            attempt += 1;
        }
        let sandbox = Self {
            dir: dir.clone(),
            script,
            simulator: None,
            energy_feed: None,
        };
        match sandbox.start_simulator().await {
            Ok((client, simulator)) => Ok((
                client,
                Self {
                    simulator: Some(simulator),
                    ..sandbox
                },
            )),
            Err(error) => {
                // Leave nothing running that nobody will stop.
                if let Err(stop_error) = sandbox.stop_control_plane().await {
                    tracing::warn!(error = %stop_error, "could not stop the sandbox control plane");
                }
                Err(error)
            }
        }
    }

    async fn start_simulator(&self) -> Result<(Client, SimulatorHandle)> {
        let client = canopy_sandbox::client_from_kubeconfig(&self.kubeconfig())
            .await
            .map_err(SandboxError::Client)?;
        let config = SimulatorConfig::from_env().map_err(SandboxError::Simulator)?;
        let simulator = canopy_sandbox::start(client.clone(), config)
            .await
            .map_err(SandboxError::Simulator)?;
        tracing::info!(nodes = ?simulator.node_names(), "sandbox node simulator running");
        Ok((client, simulator))
    }

    /// `<dir>/kubeconfig`, written by `kube-testenv.sh start`.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// Starts reporting simulated energy for the simulated nodes' pods through `energy`'s
    /// ingest path (docs/SANDBOX.md, "Energy"). A failure is logged; the sandbox runs on.
    pub async fn start_energy_feed(&mut self, client: Client, energy: crate::energy::EnergyState) {
        let nodes = self
            .simulator
            .as_ref()
            .map(SimulatorHandle::node_names)
            .unwrap_or_default();
        match energy_feed::EnergyFeed::start(
            client,
            energy,
            nodes.clone(),
            energy_feed::FEED_INTERVAL,
        )
        .await
        {
            Ok(feed) => {
                tracing::info!(
                    ?nodes,
                    "sandbox energy feed running: simulated figures on the energy pages"
                );
                self.energy_feed = Some(feed);
            }
            Err(error) => tracing::warn!(%error, "the sandbox energy feed could not start"),
        }
    }

    /// Stops the energy feed, then the simulator (its nodes are cordoned, so nothing is scheduled onto them while
    /// nothing simulates them), then the control plane. Its state stays in the folder for the
    /// next start.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(feed) = self.energy_feed.take() {
            feed.stop().await;
        }
        if let Some(simulator) = self.simulator.take() {
            if let Err(error) = simulator.shutdown().await {
                tracing::warn!(%error, "could not cordon the simulated nodes");
            }
        }
        self.stop_control_plane().await
    }

    async fn stop_control_plane(&self) -> Result<()> {
        tracing::info!(dir = %self.dir.display(), "stopping the sandbox control plane");
        run_script(&self.script, "stop", &self.dir).await
    }
}

/// Runs `script command dir`, its messages going to Canopy's stderr (the first build's progress
/// and any failure's log tails), its output (the kubeconfig path) discarded.
async fn run_script(script: &Path, command: &'static str, dir: &Path) -> Result<()> {
    let status = Command::new(script)
        .arg(command)
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .status()
        .await
        .map_err(|source| SandboxError::Spawn {
            script: script.to_owned(),
            source,
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(SandboxError::Script {
            script: script.to_owned(),
            command,
            dir: dir.to_owned(),
            status,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::HashMap;

    use super::*;

    fn cluster(vars: &[(&str, &str)], kube_config_exists: bool) -> ClusterSettings {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ClusterSettings::from_lookup(|key| map.get(key).cloned(), |_| kube_config_exists)
            .expect("valid settings")
    }

    #[test]
    fn nothing_configured_means_the_sandbox_under_the_data_dir() {
        let settings = cluster(
            &[
                ("CANOPY_DATA_DIR", "/var/lib/canopy"),
                ("CANOPY_KUBE_TESTENV", "/opt/canopy/kube-testenv.sh"),
            ],
            false,
        );
        assert_eq!(
            settings,
            ClusterSettings::Sandbox(SandboxSettings {
                dir: PathBuf::from("/var/lib/canopy/sandbox"),
                testenv_script: PathBuf::from("/opt/canopy/kube-testenv.sh"),
            })
        );
        let ClusterSettings::Sandbox(default) = cluster(&[], false) else {
            panic!("expected the sandbox")
        };
        assert_eq!(default.dir, PathBuf::from(".canopy/sandbox"));
        assert!(default.testenv_script.ends_with("scripts/kube-testenv.sh"));
    }

    #[test]
    fn a_kubeconfig_wins_in_order() {
        let both = [
            ("CANOPY_KUBECONFIG", "/etc/canopy/kubeconfig"),
            ("KUBECONFIG", "/home/dev/.kube/a:/home/dev/.kube/b"),
        ];
        assert_eq!(
            cluster(&both, true),
            ClusterSettings::Kubeconfig(PathBuf::from("/etc/canopy/kubeconfig"))
        );
        assert_eq!(
            cluster(&both[1..], true),
            ClusterSettings::Kubeconfig(PathBuf::from("/home/dev/.kube/a"))
        );
        assert_eq!(
            cluster(&[("CANOPY_KUBECONFIG", ""), ("HOME", "/home/dev")], true),
            ClusterSettings::Kubeconfig(PathBuf::from("/home/dev/.kube/config")),
            "an empty variable counts as unset"
        );
        assert_eq!(
            cluster(
                &[("KUBERNETES_SERVICE_HOST", "10.0.0.1"), ("HOME", "/root")],
                true
            ),
            ClusterSettings::InCluster
        );
    }

    #[test]
    fn the_sandbox_can_be_turned_off() {
        assert_eq!(
            cluster(&[("CANOPY_SANDBOX", "off")], false),
            ClusterSettings::None
        );
        assert!(matches!(
            cluster(&[("CANOPY_SANDBOX", "auto")], false),
            ClusterSettings::Sandbox(_)
        ));
        let error = ClusterSettings::from_lookup(
            |key| (key == "CANOPY_SANDBOX").then(|| "sometimes".to_owned()),
            |_| false,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(error.starts_with("CANOPY_SANDBOX=\"sometimes\""), "{error}");
    }

    #[tokio::test]
    async fn a_sandbox_that_cannot_start_leaves_canopy_without_a_cluster() {
        let settings = ClusterSettings::Sandbox(SandboxSettings {
            dir: std::env::temp_dir().join("canopy-sandbox-missing-script"),
            testenv_script: PathBuf::from("/nonexistent/kube-testenv.sh"),
        });
        let (context, sandbox) = connect(&settings).await;
        assert!(context.is_none() && sandbox.is_none());
    }

    #[tokio::test]
    async fn a_failing_script_is_an_error_naming_it() {
        let error = run_script(Path::new("/bin/false"), "start", Path::new("/tmp/x"))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("`/bin/false start /tmp/x` failed"),
            "{error}"
        );
    }
}
