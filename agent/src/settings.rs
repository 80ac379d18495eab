//! The agent's settings: command line and environment (`CANOPY_*`), with defaults that work on
//! a laptop. One typed struct per mode.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;

use crate::push::spool::{
    SpoolOptions, DEFAULT_DEAD_LETTER_MAX_BYTES, DEFAULT_SPOOL_MAX_BATCHES, DEFAULT_SPOOL_MAX_BYTES,
};
use crate::sampler::{SamplerConfig, SourceChoice};
use crate::sensors::estimate::Provider;

/// canopy-agent: measures node energy and attributes it to pods.
#[derive(Debug, Parser)]
#[command(name = "canopy-agent", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run continuously: sample every interval, serve /metrics, push to the server.
    Run(RunSettings),
    /// Read, wait one interval, read again, print that interval's attribution and exit.
    Once(OnceSettings),
}

/// Where the numbers come from (shared by both modes).
#[derive(Debug, Clone, Args)]
pub struct SensorSettings {
    /// Root of sysfs (powercap zones under `class/powercap`).
    #[arg(long, env = "CANOPY_SYSFS_ROOT", default_value = "/sys")]
    pub sysfs_root: PathBuf,
    /// Root of procfs.
    #[arg(long, env = "CANOPY_PROCFS_ROOT", default_value = "/proc")]
    pub procfs_root: PathBuf,
    /// Energy source.
    #[arg(long, env = "CANOPY_SOURCE", value_enum, default_value = "auto")]
    pub source: SourceChoice,
    /// Coefficients for the estimate and the simulation.
    #[arg(long, env = "CANOPY_PROVIDER", value_enum, default_value = "aws")]
    pub provider: Provider,
    /// This node's name (the DaemonSet sets it from spec.nodeName); default: the hostname.
    #[arg(long, env = "CANOPY_NODE_NAME")]
    pub node: Option<String>,
}

impl SensorSettings {
    pub fn node_name(&self) -> String {
        self.node.clone().unwrap_or_else(|| {
            std::fs::read_to_string(self.procfs_root.join("sys/kernel/hostname"))
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "unknown-node".into())
        })
    }

    pub fn sampler_config(&self) -> SamplerConfig {
        SamplerConfig {
            node: self.node_name(),
            sysfs_root: self.sysfs_root.clone(),
            procfs_root: self.procfs_root.clone(),
            source: self.source,
            provider: self.provider,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct RunSettings {
    #[command(flatten)]
    pub sensors: SensorSettings,
    /// Seconds between samples.
    #[arg(
        long = "interval",
        env = "CANOPY_INTERVAL_SECS",
        default_value_t = 10.0
    )]
    pub interval_secs: f64,
    /// Address for /metrics and /healthz.
    #[arg(long, env = "CANOPY_METRICS_ADDR", default_value = "127.0.0.1:9464")]
    pub metrics_addr: SocketAddr,
    /// Canopy server base URL; without it the agent only exports metrics.
    #[arg(long, env = "CANOPY_SERVER_URL")]
    pub server_url: Option<String>,
    /// This node's bearer token for the server.
    #[arg(long, env = "CANOPY_NODE_TOKEN", hide_env_values = true)]
    pub node_token: Option<SecretString>,
    /// File holding the token, or a directory holding one file per node name (a mounted Secret
    /// with a key per node); used when CANOPY_NODE_TOKEN is unset.
    #[arg(long, env = "CANOPY_NODE_TOKEN_FILE")]
    pub node_token_file: Option<PathBuf>,
    /// The pod's projected ServiceAccount token (audience `canopy`), which the server checks
    /// with the Kubernetes TokenReview API and binds to this pod's node; read again for every
    /// batch. Used when neither CANOPY_NODE_TOKEN nor CANOPY_NODE_TOKEN_FILE is set.
    #[arg(long, env = "CANOPY_IDENTITY_TOKEN_FILE")]
    pub identity_token_file: Option<PathBuf>,
    /// Directory of batches waiting for the server.
    #[arg(long, env = "CANOPY_SPOOL_DIR", default_value = ".canopy/agent-spool")]
    pub spool_dir: PathBuf,
    /// Most batches kept while the server is unreachable; older ones are dropped and counted.
    #[arg(long, env = "CANOPY_SPOOL_MAX_BATCHES", default_value_t = DEFAULT_SPOOL_MAX_BATCHES)]
    pub spool_max_batches: usize,
    /// Most bytes kept in the spool; past it the oldest batches are dropped and counted.
    #[arg(long, env = "CANOPY_SPOOL_MAX_BYTES", default_value_t = DEFAULT_SPOOL_MAX_BYTES)]
    pub spool_max_bytes: u64,
    /// Where batches the server refuses for good go; default: `<spool dir>/dead-letter`.
    #[arg(long, env = "CANOPY_DEAD_LETTER_DIR")]
    pub dead_letter_dir: Option<PathBuf>,
    /// Most bytes kept in the dead-letter directory; past it the oldest are deleted and counted.
    #[arg(long, env = "CANOPY_DEAD_LETTER_MAX_BYTES", default_value_t = DEFAULT_DEAD_LETTER_MAX_BYTES)]
    pub dead_letter_max_bytes: u64,
    /// Resolve pod names by watching pods on this node through the Kubernetes API.
    #[arg(long, env = "CANOPY_KUBE", default_value_t = cfg!(feature = "kube"), action = clap::ArgAction::Set)]
    pub kube: bool,
}

impl RunSettings {
    /// The spool's bounds and dead-letter directory.
    pub fn spool_options(&self) -> SpoolOptions {
        SpoolOptions {
            max_batches: self.spool_max_batches,
            max_bytes: self.spool_max_bytes,
            dead_letter_dir: self.dead_letter_dir.clone(),
            dead_letter_max_bytes: self.dead_letter_max_bytes,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct OnceSettings {
    #[command(flatten)]
    pub sensors: SensorSettings,
    /// Seconds between the two readings.
    #[arg(long = "interval", default_value_t = 1.0)]
    pub interval_secs: f64,
    #[arg(long, value_enum, default_value = "json")]
    pub format: OutputFormat,
}
