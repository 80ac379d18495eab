//! The simulator's settings (typed, from the environment, with laptop-friendly defaults) and
//! the helper that builds a client from a kubeconfig file.

use std::{path::Path, time::Duration};

use crate::{Error, Result};

/// How many nodes to simulate, how big they are, and how fast simulated pods move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatorConfig {
    /// Number of simulated nodes (`CANOPY_SIM_NODES`, default 2).
    pub node_count: u32,
    /// Node names are `<prefix>-0`, `<prefix>-1`, ... (`CANOPY_SIM_NODE_PREFIX`, default
    /// `canopy-sim`). Two simulators on one cluster need different prefixes.
    pub node_prefix: String,
    /// CPU capacity of each node, a Kubernetes quantity (`CANOPY_SIM_NODE_CPU`, default `4`).
    pub node_cpu: String,
    /// Memory capacity of each node, a Kubernetes quantity (`CANOPY_SIM_NODE_MEMORY`, default `8Gi`).
    pub node_memory: String,
    /// Maximum pods per node (`CANOPY_SIM_NODE_MAX_PODS`, default 110, like the kubelet).
    pub node_max_pods: u32,
    /// Typical time from a pod's binding to its containers running (`CANOPY_SIM_START_DELAY_MS`,
    /// default 1500): each pod gets between 2/3 and 4/3 of it, stable per pod.
    pub start_delay: Duration,
    /// First back-off before a crashed container restarts (`CANOPY_SIM_CRASH_BACKOFF_MS`,
    /// default 10000 like the kubelet); doubles after each crash, capped at 5 minutes.
    pub crash_backoff: Duration,
    /// How often node status is renewed (`CANOPY_SIM_HEARTBEAT_SECS`, default 4). The sandbox's
    /// node controller marks a node NotReady after 16 s without one (40 s on a default cluster),
    /// so a simulator that died stops receiving pods soon.
    pub heartbeat: Duration,
    /// How often a running simulated container writes a log line (`CANOPY_SIM_LOG_INTERVAL_SECS`,
    /// default 10; 0 for never).
    pub log_interval: Duration,
    /// Serve the kubelet's log endpoint on 127.0.0.1, so that the API server's pod log API
    /// (`kubectl logs`) works for simulated pods (`CANOPY_SIM_KUBELET_API`, default true).
    pub serve_kubelet_api: bool,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            node_count: 2,
            node_prefix: "canopy-sim".to_owned(),
            node_cpu: "4".to_owned(),
            node_memory: "8Gi".to_owned(),
            node_max_pods: 110,
            start_delay: Duration::from_millis(1500),
            crash_backoff: Duration::from_secs(10),
            heartbeat: Duration::from_secs(4),
            log_interval: Duration::from_secs(10),
            serve_kubelet_api: true,
        }
    }
}

/// The longest back-off between two restarts of a crashing container (the kubelet's).
pub const MAX_CRASH_BACKOFF: Duration = Duration::from_secs(300);

impl SimulatorConfig {
    /// Settings for in-process simulators in test suites: nodes named `canopy-test-sim-N`, pods
    /// up in about half a second, crash back-off from 1 s, a log line and a heartbeat every
    /// second. Every test process that uses these takes over the same nodes, so none leaves
    /// behind Ready nodes that nobody simulates.
    pub fn for_tests() -> Self {
        Self {
            node_prefix: "canopy-test-sim".to_owned(),
            start_delay: Duration::from_millis(500),
            crash_backoff: Duration::from_secs(1),
            heartbeat: Duration::from_secs(1),
            log_interval: Duration::from_secs(1),
            ..Self::default()
        }
    }

    /// Reads the `CANOPY_SIM_*` variables; unset ones keep their defaults.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`SimulatorConfig::from_env`], with any source of variables (for tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut config = Self::default();
        if let Some(value) = lookup("CANOPY_SIM_NODES") {
            config.node_count = parse_number("CANOPY_SIM_NODES", &value)?;
        }
        if let Some(value) = lookup("CANOPY_SIM_NODE_PREFIX") {
            config.node_prefix = value;
        }
        if let Some(value) = lookup("CANOPY_SIM_NODE_CPU") {
            config.node_cpu = value;
        }
        if let Some(value) = lookup("CANOPY_SIM_NODE_MEMORY") {
            config.node_memory = value;
        }
        if let Some(value) = lookup("CANOPY_SIM_NODE_MAX_PODS") {
            config.node_max_pods = parse_number("CANOPY_SIM_NODE_MAX_PODS", &value)?;
        }
        if let Some(value) = lookup("CANOPY_SIM_START_DELAY_MS") {
            config.start_delay =
                Duration::from_millis(parse_number("CANOPY_SIM_START_DELAY_MS", &value)?);
        }
        if let Some(value) = lookup("CANOPY_SIM_CRASH_BACKOFF_MS") {
            config.crash_backoff =
                Duration::from_millis(parse_number("CANOPY_SIM_CRASH_BACKOFF_MS", &value)?);
        }
        if let Some(value) = lookup("CANOPY_SIM_HEARTBEAT_SECS") {
            config.heartbeat =
                Duration::from_secs(parse_number("CANOPY_SIM_HEARTBEAT_SECS", &value)?);
        }
        if let Some(value) = lookup("CANOPY_SIM_LOG_INTERVAL_SECS") {
            config.log_interval =
                Duration::from_secs(parse_number("CANOPY_SIM_LOG_INTERVAL_SECS", &value)?);
        }
        if let Some(value) = lookup("CANOPY_SIM_KUBELET_API") {
            config.serve_kubelet_api = match value.trim() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => {
                    return Err(Error::InvalidSetting {
                        name: "CANOPY_SIM_KUBELET_API",
                        value,
                        reason: "must be true or false",
                    })
                }
            };
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks the values a caller may have set by hand.
    pub fn validate(&self) -> Result<()> {
        let invalid = |name, value: String, reason| {
            Err(Error::InvalidSetting {
                name,
                value,
                reason,
            })
        };
        if self.node_count == 0 || self.node_count > 250 {
            return invalid(
                "CANOPY_SIM_NODES",
                self.node_count.to_string(),
                "must be 1 to 250",
            );
        }
        if !is_dns_label(&self.node_prefix) || self.node_prefix.len() > 50 {
            return invalid(
                "CANOPY_SIM_NODE_PREFIX",
                self.node_prefix.clone(),
                "must be a DNS-1123 label of at most 50 characters",
            );
        }
        if !is_quantity(&self.node_cpu) {
            return invalid(
                "CANOPY_SIM_NODE_CPU",
                self.node_cpu.clone(),
                "must be a quantity like 4 or 3500m",
            );
        }
        if !is_quantity(&self.node_memory) {
            return invalid(
                "CANOPY_SIM_NODE_MEMORY",
                self.node_memory.clone(),
                "must be a quantity like 8Gi",
            );
        }
        if self.heartbeat.is_zero() || self.heartbeat > Duration::from_secs(10) {
            return invalid(
                "CANOPY_SIM_HEARTBEAT_SECS",
                self.heartbeat.as_secs().to_string(),
                "must be 1 to 10 (the sandbox marks nodes NotReady after 16 s without one)",
            );
        }
        Ok(())
    }

    /// The names of the simulated nodes.
    pub fn node_names(&self) -> Vec<String> {
        (0..self.node_count)
            .map(|i| format!("{}-{i}", self.node_prefix))
            .collect()
    }
}

fn parse_number<T: std::str::FromStr>(name: &'static str, value: &str) -> Result<T> {
    value.trim().parse().map_err(|_| Error::InvalidSetting {
        name,
        value: value.to_owned(),
        reason: "must be a whole number",
    })
}

fn is_dns_label(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-')
}

/// A plain decimal number with an optional Kubernetes suffix (m, k, M, G, Ki, Mi, Gi, Ti...).
fn is_quantity(value: &str) -> bool {
    let digits_end = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (number, suffix) = value.split_at(digits_end);
    !number.is_empty()
        && number.parse::<f64>().is_ok()
        && ["", "m", "k", "M", "G", "T", "Ki", "Mi", "Gi", "Ti"].contains(&suffix)
}

/// Builds a client for the cluster that a kubeconfig file describes (its current context).
pub async fn client_from_kubeconfig(path: &Path) -> Result<kube::Client> {
    let kubeconfig_error = |source| Error::Kubeconfig {
        path: path.to_owned(),
        source,
    };
    let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(kubeconfig_error)?;
    let options = kube::config::KubeConfigOptions::default();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(kubeconfig_error)?;
    kube::Client::try_from(config).map_err(Error::Client)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        let config = SimulatorConfig::from_lookup(lookup(&[])).unwrap();
        assert_eq!(config, SimulatorConfig::default());
        assert_eq!(config.node_names(), ["canopy-sim-0", "canopy-sim-1"]);
    }

    #[test]
    fn reads_every_variable() {
        let config = SimulatorConfig::from_lookup(lookup(&[
            ("CANOPY_SIM_NODES", "3"),
            ("CANOPY_SIM_NODE_PREFIX", "test-sim"),
            ("CANOPY_SIM_NODE_CPU", "3500m"),
            ("CANOPY_SIM_NODE_MEMORY", "16Gi"),
            ("CANOPY_SIM_NODE_MAX_PODS", "50"),
            ("CANOPY_SIM_START_DELAY_MS", "200"),
            ("CANOPY_SIM_CRASH_BACKOFF_MS", "1000"),
            ("CANOPY_SIM_HEARTBEAT_SECS", "3"),
            ("CANOPY_SIM_LOG_INTERVAL_SECS", "0"),
            ("CANOPY_SIM_KUBELET_API", "false"),
        ]))
        .unwrap();
        assert_eq!(config.node_names().len(), 3);
        assert_eq!(config.node_cpu, "3500m");
        assert_eq!(config.start_delay, Duration::from_millis(200));
        assert_eq!(config.crash_backoff, Duration::from_secs(1));
        assert_eq!(config.heartbeat, Duration::from_secs(3));
        assert!(config.log_interval.is_zero());
        assert!(!config.serve_kubelet_api);
    }

    #[test]
    fn rejects_bad_values_naming_the_variable() {
        for (name, value) in [
            ("CANOPY_SIM_NODES", "two"),
            ("CANOPY_SIM_NODES", "0"),
            ("CANOPY_SIM_NODE_PREFIX", "Sim_Nodes"),
            ("CANOPY_SIM_NODE_CPU", "four"),
            ("CANOPY_SIM_NODE_MEMORY", "8 GB"),
            ("CANOPY_SIM_HEARTBEAT_SECS", "30"),
            ("CANOPY_SIM_KUBELET_API", "yes"),
        ] {
            let err = SimulatorConfig::from_lookup(lookup(&[(name, value)])).unwrap_err();
            assert!(err.to_string().contains(name), "{name}={value}: {err}");
        }
    }
}
