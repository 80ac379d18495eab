//! One interval's attribution as the agent reports it: the once-mode JSON, the metrics input,
//! and the conversion to the protocol's [`IntervalSample`].

use std::collections::BTreeMap;

use canopy_protocol::{EnergySource, IntervalSample, PodEnergy, ZoneEnergy};
use serde::Serialize;
use time::OffsetDateTime;

use crate::attribution::{Attribution, ProcessEnergy};
use crate::directory::PodDirectory;
use crate::sensors::simulated::{SimulatedInterval, SimulatedPod};
use crate::sensors::{HostEnergy, ZoneProblem};

/// Energy and average power of one zone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZoneReport {
    pub zone: String,
    pub energy_joules: f64,
    /// Average over `span_secs`.
    pub power_watts: f64,
    pub counts_toward_host: bool,
    /// Seconds the zone's figure covers: the report's interval, or longer for a zone that
    /// could not be read at the previous reading (its energy since its last good reading).
    pub span_secs: f64,
}

/// One interval on one node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntervalReport {
    pub node: String,
    pub source: EnergySource,
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub end: OffsetDateTime,
    pub interval_secs: f64,
    /// Readings this report spans: 1, or more when the host's energy counter could not be
    /// read at the readings in between (nothing is lost: the counters are cumulative, so this
    /// report covers the whole span from `start` to `end`).
    pub spans_intervals: u32,
    pub host_energy_joules: f64,
    pub host_power_watts: f64,
    pub zones: Vec<ZoneReport>,
    pub unavailable_zones: Vec<ZoneProblem>,
    pub idle_energy_joules: f64,
    /// Includes `unaccounted_energy_joules`.
    pub system_energy_joules: f64,
    pub unaccounted_energy_joules: f64,
    /// Processes that used CPU time in the interval.
    pub processes: Vec<ProcessEnergy>,
    /// Per container of each pod.
    pub pods: Vec<PodEnergy>,
    /// Per pod (its containers summed).
    pub pod_totals: Vec<PodTotal>,
}

/// One pod's energy over the interval, all containers together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PodTotal {
    pub pod_uid: String,
    pub namespace: Option<String>,
    pub pod: Option<String>,
    pub energy_joules: f64,
}

/// Sums per-container entries to pods, ordered by pod UID.
pub fn pod_totals(pods: &[PodEnergy]) -> Vec<PodTotal> {
    let mut totals: BTreeMap<&str, PodTotal> = BTreeMap::new();
    for p in pods {
        totals
            .entry(p.pod_uid.as_str())
            .or_insert_with(|| PodTotal {
                pod_uid: p.pod_uid.clone(),
                namespace: p.namespace.clone(),
                pod: p.pod.clone(),
                energy_joules: 0.0,
            })
            .energy_joules += p.energy_joules;
    }
    totals.into_values().collect()
}

fn watts(energy_joules: f64, interval_secs: f64) -> f64 {
    if interval_secs > 0.0 {
        energy_joules / interval_secs
    } else {
        0.0
    }
}

impl IntervalReport {
    /// Builds the report for a measured or estimated interval spanning `spans_intervals`
    /// readings, naming containers through `directory` where it knows them.
    pub fn from_attribution(
        node: &str,
        (start, end): (OffsetDateTime, OffsetDateTime),
        spans_intervals: u32,
        energy: &HostEnergy,
        attribution: Attribution,
        directory: &PodDirectory,
    ) -> Self {
        let interval_secs = (end - start).as_seconds_f64();
        let pods: Vec<PodEnergy> = attribution
            .containers
            .into_iter()
            .map(|(key, energy_joules)| {
                let meta = directory.get(&key.pod_uid);
                let container = meta.as_ref().and_then(|m| {
                    key.container_id
                        .as_ref()
                        .and_then(|id| m.containers.get(id).cloned())
                });
                PodEnergy {
                    namespace: meta.as_ref().map(|m| m.namespace.clone()),
                    pod: meta.as_ref().map(|m| m.name.clone()),
                    labels: meta.map(|m| m.labels).unwrap_or_default(),
                    container,
                    pod_uid: key.pod_uid,
                    container_id: key.container_id,
                    energy_joules,
                }
            })
            .collect();
        Self {
            node: node.to_string(),
            source: energy.source,
            start,
            end,
            interval_secs,
            spans_intervals,
            host_energy_joules: attribution.host_energy_joules,
            host_power_watts: watts(attribution.host_energy_joules, interval_secs),
            zones: energy
                .zones
                .iter()
                .map(|z| ZoneReport {
                    zone: z.zone.clone(),
                    energy_joules: z.energy_joules,
                    power_watts: watts(z.energy_joules, z.span_secs),
                    counts_toward_host: z.counts_toward_host,
                    span_secs: z.span_secs,
                })
                .collect(),
            unavailable_zones: energy.unavailable_zones.clone(),
            idle_energy_joules: attribution.idle_energy_joules,
            system_energy_joules: attribution.system_energy_joules,
            unaccounted_energy_joules: attribution.unaccounted_energy_joules,
            processes: attribution.processes,
            pod_totals: pod_totals(&pods),
            pods,
        }
    }

    /// Builds the report for simulated sandbox pods.
    pub fn from_simulation(
        node: &str,
        (start, end): (OffsetDateTime, OffsetDateTime),
        pods: &[SimulatedPod],
        sim: &SimulatedInterval,
    ) -> Self {
        let interval_secs = (end - start).as_seconds_f64();
        let host_energy_joules = sim.host_energy_joules();
        let pods: Vec<PodEnergy> = pods
            .iter()
            .zip(&sim.pod_energy_joules)
            .map(|(p, energy_joules)| PodEnergy {
                pod_uid: p.pod_uid.clone(),
                namespace: Some(p.namespace.clone()),
                pod: Some(p.pod.clone()),
                container: Some(p.container.clone()),
                container_id: None,
                labels: p.labels.clone(),
                energy_joules: *energy_joules,
            })
            .collect();
        Self {
            node: node.to_string(),
            source: EnergySource::Simulated,
            start,
            end,
            interval_secs,
            spans_intervals: 1,
            host_energy_joules,
            host_power_watts: watts(host_energy_joules, interval_secs),
            zones: vec![ZoneReport {
                zone: "simulated".into(),
                energy_joules: host_energy_joules,
                power_watts: watts(host_energy_joules, interval_secs),
                counts_toward_host: true,
                span_secs: interval_secs,
            }],
            unavailable_zones: Vec::new(),
            idle_energy_joules: sim.idle_energy_joules,
            system_energy_joules: 0.0,
            unaccounted_energy_joules: 0.0,
            processes: Vec::new(),
            pod_totals: pod_totals(&pods),
            pods,
        }
    }

    /// The protocol sample for the push to the server.
    pub fn to_sample(&self) -> IntervalSample {
        IntervalSample {
            start: self.start,
            end: self.end,
            source: self.source,
            host_energy_joules: self.host_energy_joules,
            idle_energy_joules: self.idle_energy_joules,
            system_energy_joules: self.system_energy_joules,
            zones: self
                .zones
                .iter()
                .map(|z| ZoneEnergy {
                    zone: z.zone.clone(),
                    energy_joules: z.energy_joules,
                })
                .collect(),
            pods: self.pods.clone(),
        }
    }
}
