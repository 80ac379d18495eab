//! Sensors: where the agent's numbers come from (powercap, procfs, cgroups, estimate, simulation).

pub mod cgroup;
pub mod cgroup_cpu;
pub mod estimate;
pub mod powercap;
pub mod procfs;
pub mod simulated;

use canopy_protocol::EnergySource;
use serde::Serialize;

use procfs::ProcSnapshot;

/// Energy of one zone over an interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZoneEnergyDelta {
    pub zone: String,
    pub energy_joules: f64,
    /// Whether this zone is part of the host figure (psys, or packages + dram).
    pub counts_toward_host: bool,
    /// Seconds since this zone's previous good reading: the interval, or longer when the zone
    /// could not be read at the instants in between (its counter is cumulative, so nothing is
    /// lost; the energy covers the whole span).
    pub span_secs: f64,
}

/// A zone that gave no figure for an interval, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZoneProblem {
    pub zone: String,
    pub counts_toward_host: bool,
    pub reason: String,
}

/// Host energy over one interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostEnergy {
    pub source: EnergySource,
    pub host_energy_joules: f64,
    pub zones: Vec<ZoneEnergyDelta>,
    /// Zones without a figure this interval (none of them counts toward host energy, or the
    /// sensor would have returned [`SensorError::HostZoneUnavailable`]).
    pub unavailable_zones: Vec<ZoneProblem>,
}

/// Errors taking a host energy reading.
#[derive(Debug, thiserror::Error)]
pub enum SensorError {
    /// The energy since the previous reading is lost: the sensor starts over from this reading.
    #[error("zone {zone} counts toward host energy but gave no figure this interval: {reason}")]
    HostZoneUnavailable { zone: String, reason: String },
    /// A transient failure: the last good reading stays the baseline, so the next good reading
    /// reports this interval's energy too.
    #[error(
        "zone {zone} counts toward host energy and could not be read this time ({reason}); its \
         last good reading is kept, so the next good reading also covers this interval"
    )]
    HostZoneUnreadable { zone: String, reason: String },
}

impl SensorError {
    /// Short label for the errors metric.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::HostZoneUnavailable { .. } | Self::HostZoneUnreadable { .. } => {
                "zone_unavailable"
            }
        }
    }

    /// Whether the sensor kept its baseline, so the caller should keep its own (the next
    /// figure covers the time since the last good reading).
    pub fn baseline_kept(&self) -> bool {
        matches!(self, Self::HostZoneUnreadable { .. })
    }
}

/// A source of host energy. Called once per sampling instant; the first call only sets the
/// baseline and returns `None`, each later call the energy since the previous call, or, after
/// a [`SensorError::HostZoneUnreadable`], since the last call that gave a figure.
pub trait EnergySensor: Send {
    fn source(&self) -> EnergySource;
    /// `procs` is procfs at this instant, `interval_secs` the time since the previous call
    /// (models that estimate from utilisation and memory need both).
    fn sample(
        &mut self,
        procs: &ProcSnapshot,
        interval_secs: f64,
    ) -> Result<Option<HostEnergy>, SensorError>;
}
