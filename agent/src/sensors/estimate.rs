//! Estimated host energy where there is no RAPL: Cloud Carbon Footprint's per-vCPU min/max watts
//! model plus a memory term, driven by the same `/proc/stat` accounting. Labelled `estimated`.

pub use canopy_energy_model::cloud::{
    coefficients, estimated_power_watts, Coefficients, Provider, MEMORY_WATTS_PER_GB,
};
use canopy_protocol::EnergySource;

use super::procfs::ProcSnapshot;
use super::{EnergySensor, HostEnergy, SensorError, ZoneEnergyDelta};

/// The estimating sensor.
#[derive(Debug)]
pub struct EstimateSensor {
    coefficients: Coefficients,
    prev: Option<super::procfs::NodeCpuTimes>,
}

impl EstimateSensor {
    pub fn new(provider: Provider) -> Self {
        Self {
            coefficients: coefficients(provider),
            prev: None,
        }
    }
}

impl EnergySensor for EstimateSensor {
    fn source(&self) -> EnergySource {
        EnergySource::Estimated
    }

    fn sample(
        &mut self,
        procs: &ProcSnapshot,
        interval_secs: f64,
    ) -> Result<Option<HostEnergy>, SensorError> {
        let cpu = &procs.node;
        let Some(prev) = self.prev.replace(*cpu) else {
            return Ok(None);
        };
        let total = cpu.total_ticks.saturating_sub(prev.total_ticks);
        let active = cpu.active_ticks.saturating_sub(prev.active_ticks);
        let utilisation = if total == 0 {
            0.0
        } else {
            active as f64 / total as f64
        };
        let (cpu_watts, memory_watts) = estimated_power_watts(
            self.coefficients,
            cpu.cpu_count.max(1),
            utilisation,
            procs.memory_used_bytes,
        );
        let secs = interval_secs.max(0.0);
        let zones = vec![
            ZoneEnergyDelta {
                zone: "cpu".into(),
                energy_joules: cpu_watts * secs,
                counts_toward_host: true,
                span_secs: secs,
            },
            ZoneEnergyDelta {
                zone: "memory".into(),
                energy_joules: memory_watts * secs,
                counts_toward_host: true,
                span_secs: secs,
            },
        ];
        Ok(Some(HostEnergy {
            source: EnergySource::Estimated,
            host_energy_joules: (cpu_watts + memory_watts) * secs,
            zones,
            unavailable_zones: Vec::new(),
        }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn procs(total: u64, active: u64) -> ProcSnapshot {
        ProcSnapshot {
            node: crate::sensors::procfs::NodeCpuTimes {
                total_ticks: total,
                active_ticks: active,
                cpu_count: 4,
            },
            processes: Vec::new(),
            memory_used_bytes: 8_000_000_000,
        }
    }

    #[test]
    fn idle_node_draws_min_watts_and_busy_node_max() {
        let c = coefficients(Provider::Aws);
        let (idle, _) = estimated_power_watts(c, 4, 0.0, 0);
        let (busy, _) = estimated_power_watts(c, 4, 1.0, 0);
        assert!((idle - 4.0 * 0.74).abs() < 1e-9);
        assert!((busy - 4.0 * 3.5).abs() < 1e-9);
    }

    #[test]
    fn half_busy_node_over_ten_seconds_with_memory() {
        let mut sensor = EstimateSensor::new(Provider::Gcp);
        assert!(sensor.sample(&procs(1000, 0), 0.0).unwrap().is_none());
        let energy = sensor.sample(&procs(2000, 500), 10.0).unwrap().unwrap();
        let cpu_w = 4.0 * (0.68 + 0.5 * (4.11 - 0.68));
        let mem_w = 8.0 * 0.392;
        assert!((energy.host_energy_joules - (cpu_w + mem_w) * 10.0).abs() < 1e-9);
        assert_eq!(energy.source, EnergySource::Estimated);
        assert_eq!(energy.zones.len(), 2);
    }
}
