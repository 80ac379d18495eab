//! The sampling cycle: read procfs and the energy source, attribute, and produce an
//! [`IntervalReport`] per interval. Chooses the source (measured, estimated, simulated).

use std::path::PathBuf;
use std::time::Instant;

use canopy_protocol::EnergySource;
use time::OffsetDateTime;

use crate::attribution::{attribute_interval, process_deltas, CpuInterval};
use crate::directory::PodDirectory;
use crate::report::IntervalReport;
use crate::sensors::cgroup::Owner;
use crate::sensors::cgroup_cpu::{pod_cpu_deltas, CgroupCpuReader, CgroupCpuSnapshot};
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

    /// Whether this reading's energy is not lost but carried into the next report.
    pub fn carried_over(&self) -> bool {
        matches!(self, Self::Sensor(e) if e.baseline_kept())
    }
}

enum Backend {
    Sensor(Box<dyn EnergySensor>),
    Simulated(Provider),
}

/// One reading: procfs and the pods' cgroups at an instant, and when it was taken.
struct Reading {
    procs: ProcSnapshot,
    cgroups: CgroupCpuSnapshot,
    wall: OffsetDateTime,
    at: Instant,
}

/// Produces one report per call after the first (which only takes the baseline).
///
/// The baseline is the last reading that gave (or started) a figure. When the energy sensor
/// keeps its own baseline across a failed read ([`SensorError::baseline_kept`]), the sampler
/// keeps its reading too, so the next report covers the whole span, CPU time and energy alike.
pub struct Sampler {
    node: String,
    procfs: ProcfsReader,
    /// Pods' CPU time by cgroup, under `<sysfs>/fs/cgroup`.
    cgroups: CgroupCpuReader,
    /// Whether the absence of cgroup figures for pods has been logged.
    told_no_cgroups: bool,
    backend: Backend,
    directory: PodDirectory,
    baseline: Option<Reading>,
    /// Readings taken since `baseline` (the report's `spans_intervals`).
    readings_since_baseline: u32,
    /// When the energy sensor was last called (it needs the time since its previous call).
    last_call: Option<Instant>,
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
            cgroups: CgroupCpuReader::new(config.sysfs_root.join("fs/cgroup")),
            told_no_cgroups: false,
            backend,
            directory,
            baseline: None,
            readings_since_baseline: 0,
            last_call: None,
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
        self.sample_at(Instant::now())
    }

    /// [`Sampler::sample`] with the reading's monotonic time given: tests use it to stand for
    /// time passing between readings (wall-clock times follow from the first reading).
    pub fn sample_at(&mut self, at: Instant) -> Result<Option<IntervalReport>, SamplerError> {
        let procs = self.procfs.snapshot()?;
        let cgroups = match self.backend {
            Backend::Sensor(_) => self.read_cgroups(&procs),
            Backend::Simulated(_) => CgroupCpuSnapshot::default(),
        };
        let wall = self.wall_time_of(at);
        let since_last_call_secs = self
            .last_call
            .replace(at)
            .map_or(0.0, |last| at.saturating_duration_since(last).as_secs_f64());
        self.readings_since_baseline = self.readings_since_baseline.saturating_add(1);
        let reading = Reading {
            procs,
            cgroups,
            wall,
            at,
        };
        let energy = match &mut self.backend {
            Backend::Sensor(sensor) => sensor.sample(&reading.procs, since_last_call_secs),
            Backend::Simulated(provider) => {
                let provider = *provider;
                return Ok(self.simulated(reading, provider));
            }
        };
        let energy = match energy {
            Ok(energy) => energy,
            Err(e) => {
                if !(e.baseline_kept() && self.baseline.is_some()) {
                    self.rebase(reading);
                }
                return Err(e.into());
            }
        };
        let spans_intervals = self.readings_since_baseline;
        let Some(prev) = self.rebase(reading) else {
            return Ok(None);
        };
        let Some(energy) = energy else {
            return Ok(None);
        };
        let Some(cur) = self.baseline.as_ref() else {
            return Ok(None);
        };
        let deltas = process_deltas(&prev.procs, &cur.procs);
        let pod_cgroups = pod_cpu_deltas(&prev.cgroups, &cur.cgroups);
        let (prev_cpu, cur_cpu) = (prev.procs.node, cur.procs.node);
        let attribution = attribute_interval(
            energy.host_energy_joules,
            &CpuInterval {
                node_total_ticks: cur_cpu.total_ticks.saturating_sub(prev_cpu.total_ticks),
                node_active_ticks: cur_cpu.active_ticks.saturating_sub(prev_cpu.active_ticks),
                processes: &deltas,
                pod_cgroups: &pod_cgroups,
            },
        );
        Ok(Some(IntervalReport::from_attribution(
            &self.node,
            (prev.wall, end_of(&prev, cur)),
            spans_intervals,
            &energy,
            attribution,
            &self.directory,
        )))
    }

    /// Reads the pods' cgroups, saying once if there are pods but no cgroup figures for them.
    fn read_cgroups(&mut self, procs: &ProcSnapshot) -> CgroupCpuSnapshot {
        let snapshot = self.cgroups.snapshot();
        if !snapshot.complete && !self.told_no_cgroups {
            let has_pods = procs
                .processes
                .iter()
                .any(|p| matches!(p.owner.as_ref(), Owner::Container(_)));
            if has_pods {
                self.told_no_cgroups = true;
                tracing::warn!(
                    mount = %self.cgroups.mount().display(),
                    "no readable kubepods cgroups: pods' CPU time comes from their live \
                     processes only, so the work of processes that exit within an interval \
                     goes to system"
                );
            }
        }
        snapshot
    }

    /// The wall-clock time of a reading: the baseline's plus the monotonic time since, so
    /// consecutive reports meet exactly, unless the wall clock has been stepped by a second or
    /// more since (then the clock's own time: the reports after a step start afresh).
    fn wall_time_of(&self, at: Instant) -> OffsetDateTime {
        let clock = wall_time_of(at);
        match &self.baseline {
            Some(b) => {
                let chained = b.wall + at.saturating_duration_since(b.at);
                if (clock - chained).abs() < time::Duration::SECOND {
                    chained
                } else {
                    clock
                }
            }
            None => clock,
        }
    }

    /// Makes `reading` the baseline; returns the previous one.
    fn rebase(&mut self, reading: Reading) -> Option<Reading> {
        self.readings_since_baseline = 0;
        self.baseline.replace(reading)
    }

    fn simulated(&mut self, reading: Reading, provider: Provider) -> Option<IntervalReport> {
        let cpu_count = reading.procs.node.cpu_count;
        let prev = self.rebase(reading)?;
        let end = end_of(&prev, self.baseline.as_ref()?);
        let interval_secs = (end - prev.wall).as_seconds_f64();
        let pods = self.directory.simulated_pods();
        let sim = simulate(&pods, cpu_count, provider, end, interval_secs);
        Some(IntervalReport::from_simulation(
            &self.node,
            (prev.wall, end),
            &pods,
            &sim,
        ))
    }
}

/// The wall-clock time of a monotonic instant (which may lie ahead of now in tests).
fn wall_time_of(at: Instant) -> OffsetDateTime {
    let (now, wall) = (Instant::now(), OffsetDateTime::now_utc());
    if at >= now {
        wall + (at - now)
    } else {
        wall - (now - at)
    }
}

/// End of the interval from `prev` to `cur`: `prev`'s wall time plus the monotonic time
/// between them, so the interval's length is exact even if the wall clock is adjusted.
fn end_of(prev: &Reading, cur: &Reading) -> OffsetDateTime {
    prev.wall + cur.at.saturating_duration_since(prev.at)
}
