//! Simulated power for Canopy's sandbox pods, which are not real processes: each pod draws
//! per-vCPU power for its CPU request, driven by a daily load curve. Labelled `simulated`.
//! [`sample`] turns an interval into the ingest payload's sample.

use std::collections::BTreeMap;

use canopy_protocol::{EnergySource, IntervalSample, PodEnergy, ZoneEnergy};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::cloud::{coefficients, Provider};

/// A pod the sandbox pretends runs on this node.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SimulatedPod {
    pub pod_uid: String,
    pub namespace: String,
    pub pod: String,
    pub container: String,
    /// CPU request in millicores; the pod's power scales with it.
    pub cpu_request_millis: u32,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// One simulated interval: the node's idle draw and each pod's energy.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatedInterval {
    pub idle_energy_joules: f64,
    /// Same order as the input pods.
    pub pod_energy_joules: Vec<f64>,
}

impl SimulatedInterval {
    pub fn host_energy_joules(&self) -> f64 {
        self.idle_energy_joules + self.pod_energy_joules.iter().sum::<f64>()
    }
}

/// Load (0.05..=1) of a pod at an instant: a daily curve peaking mid-afternoon UTC plus a
/// per-pod, per-minute wobble derived from the pod UID, so figures are plausible and repeatable.
pub fn load_at(pod_uid: &str, at: OffsetDateTime) -> f64 {
    let seconds_of_day =
        f64::from(at.hour()) * 3600.0 + f64::from(at.minute()) * 60.0 + f64::from(at.second());
    let phase = (seconds_of_day / 86_400.0 - 15.0 / 24.0) * std::f64::consts::TAU;
    let daily = 0.45 + 0.3 * phase.cos();
    let minute = at.unix_timestamp().div_euclid(60);
    let wobble = (fnv1a(pod_uid, minute) % 1000) as f64 / 1000.0 * 0.2 - 0.1;
    (daily + wobble).clamp(0.05, 1.0)
}

/// Energy of the simulated pods over `interval_secs` ending at `at`. The node idles at the
/// provider's min watts for `node_vcpus`; each pod adds `(max - min) * load` per requested core.
pub fn simulate(
    pods: &[SimulatedPod],
    node_vcpus: usize,
    provider: Provider,
    at: OffsetDateTime,
    interval_secs: f64,
) -> SimulatedInterval {
    let c = coefficients(provider);
    let secs = interval_secs.max(0.0);
    let pod_energy_joules = pods
        .iter()
        .map(|p| {
            let cores = f64::from(p.cpu_request_millis) / 1000.0;
            cores * (c.max_watts_per_vcpu - c.min_watts_per_vcpu) * load_at(&p.pod_uid, at) * secs
        })
        .collect();
    SimulatedInterval {
        idle_energy_joules: node_vcpus as f64 * c.min_watts_per_vcpu * secs,
        pod_energy_joules,
    }
}

fn fnv1a(text: &str, salt: i64) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes().chain(salt.to_le_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The ingest payload's sample of one simulated interval `[start, end)`: host energy = idle +
/// pods, one zone named `simulated`, labelled simulated.
pub fn sample(
    (start, end): (OffsetDateTime, OffsetDateTime),
    pods: &[SimulatedPod],
    sim: &SimulatedInterval,
) -> IntervalSample {
    let host_energy_joules = sim.host_energy_joules();
    IntervalSample {
        start,
        end,
        source: EnergySource::Simulated,
        host_energy_joules,
        idle_energy_joules: sim.idle_energy_joules,
        system_energy_joules: 0.0,
        zones: vec![ZoneEnergy {
            zone: "simulated".to_owned(),
            energy_joules: host_energy_joules,
        }],
        pods: pods
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
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn pod(uid: &str, millis: u32) -> SimulatedPod {
        SimulatedPod {
            pod_uid: uid.into(),
            namespace: "sandbox".into(),
            pod: format!("pod-{uid}"),
            container: "app".into(),
            cpu_request_millis: millis,
            labels: BTreeMap::new(),
        }
    }

    #[test]
    fn load_stays_in_range_over_a_day() {
        let start = datetime!(2026-01-01 00:00:00 UTC);
        for minute in 0..1440 {
            let load = load_at("abc", start + time::Duration::minutes(minute));
            assert!((0.05..=1.0).contains(&load), "{load}");
        }
        // Afternoon is busier than the small hours.
        let night = load_at("x", datetime!(2026-01-01 03:00:00 UTC));
        let day = load_at("x", datetime!(2026-01-01 15:00:00 UTC));
        assert!(day > night, "{day} <= {night}");
    }

    #[test]
    fn bigger_requests_draw_more_and_zero_request_draws_nothing() {
        let at = datetime!(2026-01-01 12:00:00 UTC);
        let pods = [pod("same", 2000), pod("same", 500), pod("zero", 0)];
        let sim = simulate(&pods, 4, Provider::Aws, at, 10.0);
        assert!((sim.pod_energy_joules[0] - 4.0 * sim.pod_energy_joules[1]).abs() < 1e-9);
        assert_eq!(sim.pod_energy_joules[2], 0.0);
        assert!((sim.idle_energy_joules - 4.0 * 0.74 * 10.0).abs() < 1e-9);
        let total = sim.idle_energy_joules + sim.pod_energy_joules.iter().sum::<f64>();
        assert!((sim.host_energy_joules() - total).abs() < 1e-12);
    }
}
