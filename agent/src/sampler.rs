//! The sampling cycle: read procfs and the energy source, attribute, and produce an
//! [`IntervalReport`] per interval. Chooses the source (measured, estimated, simulated).

use std::path::PathBuf;
use std::time::Instant;

use canopy_protocol::EnergySource;
use time::OffsetDateTime;

use crate::attribution::{attribute, process_deltas};
use crate::directory::PodDirectory;
use crate::report::IntervalReport;
use crate::sensors::estimate::{EstimateSensor, Provider};
use crate::sensors::powercap::{PowercapError, PowercapSensor};
use crate::sensors::procfs::{ProcSnapshot, ProcfsError, ProcfsReader};
use crate::sensors::simulated::simulate;
use crate::sensors::{EnergySensor, SensorError};

/// Which energy source to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SourceChoice {
    /// powercap if readable, else the estimate (saying why at startup).
    Auto,
    Measured,
    Estimated,
    Simulated,
}

/// What the sampler needs to start.
#[derive(Debug, Clone)]
pub struct SamplerConfig {
    pub node: String,
    pub sysfs_root: PathBuf,
    pub procfs_root: PathBuf,
    pub source: SourceChoice,
    pub provider: Provider,
}

/// Errors of one sampling cycle or of starting the sampler.
#[derive(Debug, thiserror::Error)]
pub enum SamplerError {
    #[error(transparent)]
    Powercap(#[from] PowercapError),
    #[error(transparent)]
    Procfs(#[from] ProcfsError),
    #[error(transparent)]
    Sensor(#[from] SensorError),
}

impl SamplerError {
    /// Short label for the errors metric.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Powercap(PowercapError::PermissionDenied { .. }) => "permission_denied",
            Self::Powercap(_) => "powercap",
            Self::Procfs(_) => "procfs",
            Self::Sensor(e) => e.kind(),
        }
    }
}

enum Backend {
    Sensor(Box<dyn EnergySensor>),
    Simulated(Provider),
}

/// Produces one report per call after the first (which only takes the baseline).
pub struct Sampler {
    node: String,
    procfs: ProcfsReader,
    backend: Backend,
    directory: PodDirectory,
    prev: Option<(ProcSnapshot, OffsetDateTime, Instant)>,
}

impl Sampler {
    /// Starts the sampler. With [`SourceChoice::Auto`] and no usable powercap it falls back to
    /// the estimate and returns the reason as a notice, which the caller must show.
    pub fn new(
        config: &SamplerConfig,
        directory: PodDirectory,
    ) -> Result<(Self, Option<String>), SamplerError> {
        let mut notice = None;
        let backend = match config.source {
            SourceChoice::Measured => {
                Backend::Sensor(Box::new(PowercapSensor::discover(&config.sysfs_root)?))
            }
            SourceChoice::Estimated => {
                Backend::Sensor(Box::new(EstimateSensor::new(config.provider)))
            }
            SourceChoice::Simulated => Backend::Simulated(config.provider),
            SourceChoice::Auto => match PowercapSensor::discover(&config.sysfs_root) {
                Ok(sensor) => Backend::Sensor(Box::new(sensor)),
                Err(e) => {
                    notice = Some(format!(
                        "{e}; falling back to the {:?} estimate, labelled `estimated`",
                        config.provider
                    ));
                    Backend::Sensor(Box::new(EstimateSensor::new(config.provider)))
                }
            },
        };
        let sampler = Self {
            node: config.node.clone(),
            procfs: ProcfsReader::new(&config.procfs_root),
            backend,
            directory,
            prev: None,
        };
        Ok((sampler, notice))
    }

    pub fn source(&self) -> EnergySource {
        match &self.backend {
            Backend::Sensor(s) => s.source(),
            Backend::Simulated(_) => EnergySource::Simulated,
        }
    }

    /// Takes a reading; returns the interval since the previous one (`None` the first time).
    pub fn sample(&mut self) -> Result<Option<IntervalReport>, SamplerError> {
        let snapshot = self.procfs.snapshot()?;
        let now = OffsetDateTime::now_utc();
        let instant = Instant::now();
        let interval_secs = self
            .prev
            .as_ref()
            .map_or(0.0, |(_, _, at)| instant.duration_since(*at).as_secs_f64());
        let energy = match &mut self.backend {
            Backend::Sensor(sensor) => Some(sensor.sample(&snapshot, interval_secs)),
            Backend::Simulated(_) => None,
        };
        let Some((prev, start, _)) = self.prev.replace((snapshot, now, instant)) else {
            return match energy {
                Some(Err(e)) => Err(e.into()),
                _ => Ok(None),
            };
        };
        let Some((cur, _, _)) = self.prev.as_ref() else {
            return Ok(None);
        };
        let end = start + time::Duration::seconds_f64(interval_secs);
        match (energy, &self.backend) {
            (Some(energy), _) => {
                let Some(energy) = energy? else {
                    return Ok(None);
                };
                let deltas = process_deltas(&prev, cur);
                let attribution = attribute(
                    energy.host_energy_joules,
                    cur.node.total_ticks.saturating_sub(prev.node.total_ticks),
                    cur.node.active_ticks.saturating_sub(prev.node.active_ticks),
                    &deltas,
                );
                Ok(Some(IntervalReport::from_attribution(
                    &self.node,
                    (start, end),
                    &energy,
                    attribution,
                    &self.directory,
                )))
            }
            (None, Backend::Simulated(provider)) => {
                let pods = self.directory.simulated_pods();
                let sim = simulate(&pods, cur.node.cpu_count, *provider, end, interval_secs);
                Ok(Some(IntervalReport::from_simulation(
                    &self.node,
                    (start, end),
                    &pods,
                    &sim,
                )))
            }
            (None, Backend::Sensor(_)) => Ok(None),
        }
    }
}
