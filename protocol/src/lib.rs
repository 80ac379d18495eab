//! Types exchanged between canopy-agent and the Canopy server (the versioned ingest payload).
//!
//! The agent sends one [`IngestBatch`] per `POST /api/v1/ingest` request, authenticated with
//! the node's bearer token. A batch carries one or more [`IntervalSample`]s, each the complete
//! attribution of one measuring interval on one node. [`IngestBatch::validate`] is the single
//! check both sides apply: the agent before spooling, the server before storing.
//!
//! Compatibility: `schema_version` is bumped for any change that an older reader could
//! misinterpret. Adding an optional field (with `#[serde(default)]`) does not bump it.
//!
//! Also shared by both sides: [`quantity`], the one reader of Kubernetes CPU quantities.

pub mod quantity;
mod validate;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

pub use validate::{
    ValidationError, MAX_INTERVAL_SECS, MAX_NODE_POWER_WATTS, MAX_SAMPLES_PER_BATCH, MAX_TEXT_LEN,
    SUM_TOLERANCE_JOULES,
};

/// The payload schema version this crate writes and accepts.
pub const SCHEMA_VERSION: u32 = 1;

/// The HTTP path the agent posts batches to.
pub const INGEST_PATH: &str = "/api/v1/ingest";

/// Where an energy figure comes from. Every figure is labelled; consumers must show it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnergySource {
    /// Read from hardware counters (powercap/RAPL).
    Measured,
    /// Computed from CPU utilisation with the per-vCPU min/max watts model.
    Estimated,
    /// Generated for sandbox pods that are not real processes.
    Simulated,
}

impl EnergySource {
    /// The label value used in metrics and JSON: `measured`, `estimated` or `simulated`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Measured => "measured",
            Self::Estimated => "estimated",
            Self::Simulated => "simulated",
        }
    }
}

impl std::fmt::Display for EnergySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One request body: samples from one node, identified by `batch_id` so re-sends are idempotent.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestBatch {
    /// Must equal [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The Kubernetes node name the agent runs on.
    pub node: String,
    /// Random per batch; the server ignores a batch whose id it has already stored.
    pub batch_id: Uuid,
    /// When the agent created the batch.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Batches this agent process has dropped from its spool (past its bound) before this one
    /// was written. Cumulative since the agent started; a rise tells the server data is missing.
    #[serde(default)]
    pub dropped_batches_total: u64,
    /// The intervals, oldest first.
    pub samples: Vec<IntervalSample>,
}

/// The attribution of one interval on one node.
///
/// Conservation: `host_energy_joules == idle_energy_joules + system_energy_joules
/// + sum(pods[].energy_joules)` within [`SUM_TOLERANCE_JOULES`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntervalSample {
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub end: OffsetDateTime,
    pub source: EnergySource,
    /// Whole-host energy over the interval (psys, else packages + dram; or the estimate).
    pub host_energy_joules: f64,
    /// The idle share of host energy (host energy times the node's idle CPU fraction).
    pub idle_energy_joules: f64,
    /// Active energy of processes outside pods, plus active CPU time no live process accounts
    /// for (processes that exited during the interval, kernel threads).
    pub system_energy_joules: f64,
    /// Host energy by RAPL zone (or estimate term), for display; not added to the host figure.
    #[serde(default)]
    pub zones: Vec<ZoneEnergy>,
    /// Active energy by container, one entry per (pod, container).
    pub pods: Vec<PodEnergy>,
}

/// Energy of one zone (`package-0`, `package-0/dram`, `psys`, `cpu`, `memory`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneEnergy {
    pub zone: String,
    pub energy_joules: f64,
}

/// Energy attributed to one container of one pod over the interval.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodEnergy {
    /// Pod UID as Kubernetes spells it (lowercase, with dashes).
    pub pod_uid: String,
    /// Namespace, pod and container names, when the agent could resolve them.
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub pod: Option<String>,
    #[serde(default)]
    pub container: Option<String>,
    /// Container runtime id (64 hex), when the process's cgroup named one.
    #[serde(default)]
    pub container_id: Option<String>,
    /// Pod labels, when resolved.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub energy_joules: f64,
}

impl IngestBatch {
    /// A batch of the current schema version with a fresh id.
    pub fn new(node: impl Into<String>, samples: Vec<IntervalSample>) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            node: node.into(),
            batch_id: Uuid::new_v4(),
            created_at: OffsetDateTime::now_utc(),
            dropped_batches_total: 0,
            samples,
        }
    }
}

impl IntervalSample {
    /// Length of the interval in seconds (negative if `end` is before `start`).
    pub fn interval_secs(&self) -> f64 {
        (self.end - self.start).as_seconds_f64()
    }

    /// Sum of the per-container energies.
    pub fn pods_energy_joules(&self) -> f64 {
        self.pods.iter().map(|p| p.energy_joules).sum()
    }
}

#[cfg(test)]
mod tests;
