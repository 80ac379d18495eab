//! powercap/RAPL sensor: zone discovery under a configurable sysfs root, counter deltas with
//! wraparound, and zones that vanish or become unreadable reported rather than guessed.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use canopy_protocol::EnergySource;

use super::{EnergySensor, HostEnergy, SensorError, ZoneEnergyDelta, ZoneProblem};
use crate::sensors::procfs::ProcSnapshot;

/// Zone directory prefixes read under `class/powercap`. `intel-rapl-mmio` duplicates the
/// package counter on some Intel parts and is skipped so nothing is counted twice.
const ZONE_PREFIXES: [&str; 2] = ["intel-rapl:", "amd-rapl:"];

/// What a zone is, which decides whether it counts toward host energy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneRole {
    /// Whole platform (SoC); when present, host energy is psys alone.
    Psys,
    /// A CPU package (socket).
    Package,
    /// DRAM beside a package (counted with packages when there is no psys).
    Dram,
    /// Core, uncore and other sub-zones: reported, never added (their parent contains them).
    Other,
}

/// One discovered zone.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    /// Directory name, e.g. `intel-rapl:0:1`.
    pub id: String,
    /// Label used in metrics: the top-level zone's name, sub-zones as `parent/name`
    /// (`package-0`, `package-0/dram`, `psys`).
    pub label: String,
    pub role: ZoneRole,
    pub energy_path: PathBuf,
    /// Value at which `energy_uj` wraps to zero; `None` if the file was unreadable.
    pub max_energy_range_uj: Option<u64>,
    /// The largest power the zone declares (`constraint_*_max_power_uw` and
    /// `constraint_*_power_limit_uw`, the short-term limit included); `None` if none above zero.
    pub max_power_uw: Option<u64>,
    /// Whether this zone is added into host energy.
    pub counts_toward_host: bool,
}

/// Errors discovering powercap zones.
#[derive(Debug, thiserror::Error)]
pub enum PowercapError {
    #[error("no powercap RAPL zones under {0} (virtual machines and most cloud nodes have none)")]
    NoZones(PathBuf),
    #[error(
        "permission denied reading {path}: since Linux 5.10 (CVE-2020-8694) RAPL energy counters \
         are readable by root only. Run the agent as root with the host's /sys mounted read-only \
         (the DaemonSet in deploy/agent does), or grant read access to its group, e.g. \
         `chgrp canopy /sys/class/powercap/intel-rapl:*/energy_uj && chmod g+r \
         /sys/class/powercap/intel-rapl:*/energy_uj` (repeat after each boot, e.g. with a udev \
         rule); or run with --source estimated"
    )]
    PermissionDenied { path: PathBuf },
    #[error("reading {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// Finds RAPL zones under `<sysfs_root>/class/powercap`, checking each counter is readable.
pub fn discover_zones(sysfs_root: &Path) -> Result<Vec<Zone>, PowercapError> {
    let dir = sysfs_root.join("class/powercap");
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(PowercapError::NoZones(dir)),
        Err(source) => return Err(PowercapError::Io { path: dir, source }),
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| ZONE_PREFIXES.iter().any(|p| name.starts_with(p)))
        .collect();
    ids.sort_by_key(|id| zone_sort_key(id));
    let mut names: HashMap<String, String> = HashMap::new();
    let mut zones = Vec::new();
    for id in ids {
        let zone_dir = dir.join(&id);
        let name = match std::fs::read_to_string(zone_dir.join("name")) {
            Ok(name) => name.trim().to_string(),
            Err(_) => continue, // not a zone directory (e.g. the control type itself)
        };
        names.insert(id.clone(), name.clone());
        let parent = parent_id(&id);
        let label = match parent.as_ref().and_then(|p| names.get(p)) {
            Some(parent_name) => format!("{parent_name}/{name}"),
            None => name.clone(),
        };
        let role = match (name.as_str(), parent.is_none()) {
            ("psys", _) => ZoneRole::Psys,
            (n, true) if n.starts_with("package") => ZoneRole::Package,
            ("dram", _) => ZoneRole::Dram,
            _ => ZoneRole::Other,
        };
        let energy_path = zone_dir.join("energy_uj");
        if let Err(e) = read_u64(&energy_path) {
            if e.kind() == io::ErrorKind::PermissionDenied {
                return Err(PowercapError::PermissionDenied { path: energy_path });
            }
        }
        let max_energy_range_uj = read_u64(&zone_dir.join("max_energy_range_uj")).ok();
        let max_power_uw = declared_max_power_uw(&zone_dir);
        zones.push(Zone {
            id,
            label,
            role,
            energy_path,
            max_energy_range_uj,
            max_power_uw,
            counts_toward_host: false,
        });
    }
    if zones.is_empty() {
        return Err(PowercapError::NoZones(dir));
    }
    // Host energy is psys where present, else the packages plus the dram zones.
    let has_psys = zones.iter().any(|z| z.role == ZoneRole::Psys);
    for zone in &mut zones {
        zone.counts_toward_host = if has_psys {
            zone.role == ZoneRole::Psys
        } else {
            matches!(zone.role, ZoneRole::Package | ZoneRole::Dram)
        };
    }
    Ok(zones)
}

/// Energy used between two counter readings, handling one wraparound.
/// Returns `None` when the counter went backwards and the wrap range is unknown or exceeded.
pub fn counter_delta_uj(
    prev_uj: u64,
    cur_uj: u64,
    max_energy_range_uj: Option<u64>,
) -> Option<u64> {
    if cur_uj >= prev_uj {
        return Some(cur_uj - prev_uj);
    }
    let max = max_energy_range_uj?;
    if prev_uj > max {
        return None;
    }
    Some(max - prev_uj + cur_uj)
}

/// Power assumed for a zone that declares no limit (no `constraint_*_max_power_uw` or
/// `constraint_*_power_limit_uw` above zero), for the wraparound bound only: more than any
/// socket, DIMM set or whole platform this agent runs on draws, so the bound errs towards
/// refusing a long gap rather than missing a second wrap.
pub const DEFAULT_MAX_ZONE_POWER_UW: u64 = 1_000_000_000; // 1 kW

impl Zone {
    /// The power used for the wraparound bound: the zone's declared maximum, else
    /// [`DEFAULT_MAX_ZONE_POWER_UW`].
    pub fn assumed_max_power_uw(&self) -> u64 {
        self.max_power_uw
            .filter(|uw| *uw > 0)
            .unwrap_or(DEFAULT_MAX_ZONE_POWER_UW)
    }

    /// Longest time between two readings over which the counter cannot wrap more than once:
    /// `max_energy_range_uj / max power`. `None` when the range is unknown.
    pub fn wrap_bound_secs(&self) -> Option<f64> {
        let range_uj = self.max_energy_range_uj?;
        Some(range_uj as f64 / self.assumed_max_power_uw() as f64)
    }

    /// Energy since `baseline`, or why it cannot be known: a span the counter may have wrapped
    /// twice in, or a counter that went backwards without a known range.
    fn delta_since(&self, baseline: &Baseline, cur_uj: u64) -> Result<u64, String> {
        let prev_uj = baseline.energy_uj;
        match self.wrap_bound_secs() {
            Some(bound_secs) if baseline.age_secs >= bound_secs => {
                return Err(format!(
                    "{:.1} s since the last good reading is more than the counter can span \
                     without possibly wrapping twice (max_energy_range_uj {} at up to {} W: \
                     {bound_secs:.1} s); the energy of that gap is unknown, new baseline taken",
                    baseline.age_secs,
                    self.max_energy_range_uj.unwrap_or_default(),
                    self.assumed_max_power_uw() as f64 / 1e6,
                ))
            }
            None if baseline.age_intervals > 1 => {
                return Err(format!(
                    "the reading spans {} intervals since the last good one and \
                     max_energy_range_uj is unknown, so a wraparound cannot be ruled out; new \
                     baseline taken",
                    baseline.age_intervals
                ))
            }
            _ => {}
        }
        counter_delta_uj(prev_uj, cur_uj, self.max_energy_range_uj).ok_or_else(|| {
            match self.max_energy_range_uj {
                Some(range_uj) => format!(
                    "counter went from {prev_uj} to {cur_uj} uJ, above its max_energy_range_uj \
                 {range_uj}; new baseline taken"
                ),
                None => format!(
                    "counter went from {prev_uj} to {cur_uj} uJ and max_energy_range_uj is unknown"
                ),
            }
        })
    }
}

/// A zone's last good reading and the time since.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Baseline {
    energy_uj: u64,
    /// Seconds since the reading.
    age_secs: f64,
    /// Sampling calls since the reading.
    age_intervals: u32,
}

impl Baseline {
    fn new(energy_uj: u64) -> Self {
        Self {
            energy_uj,
            age_secs: 0.0,
            age_intervals: 0,
        }
    }
}

/// What one zone gave at one call.
enum Reading {
    Delta {
        cur_uj: u64,
        delta_uj: u64,
    },
    /// Read, but with no usable baseline (none, or refused with the reason).
    Restart {
        cur_uj: u64,
        reason: String,
    },
    /// `energy_uj` is gone: the zone is dropped until it comes back.
    Vanished,
    /// Transient read failure.
    Unreadable(String),
}

/// Reads RAPL zones; host energy per interval from the counting zones.
///
/// Each zone keeps its last good reading as the baseline. A failed read keeps it (the counter
/// is cumulative), so the next good reading reports the energy of the whole span, as long as
/// the span is short enough that the counter cannot have wrapped twice
/// ([`Zone::wrap_bound_secs`]). A zone that vanished starts over when it returns.
#[derive(Debug)]
pub struct PowercapSensor {
    zones: Vec<Zone>,
    /// Same order as `zones`.
    baselines: Vec<Option<Baseline>>,
    baseline_taken: bool,
}

impl PowercapSensor {
    pub fn discover(sysfs_root: &Path) -> Result<Self, PowercapError> {
        Ok(Self::new(discover_zones(sysfs_root)?))
    }

    pub fn new(zones: Vec<Zone>) -> Self {
        Self {
            baselines: vec![None; zones.len()],
            zones,
            baseline_taken: false,
        }
    }

    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }

    fn read(&self, zone: &Zone, baseline: Option<&Baseline>, first: bool) -> Reading {
        let cur_uj = match read_u64(&zone.energy_path) {
            Ok(v) => v,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Reading::Vanished,
            Err(e) => return Reading::Unreadable(e.to_string()),
        };
        match baseline {
            None if first => Reading::Restart {
                cur_uj,
                reason: String::new(),
            },
            None => Reading::Restart {
                cur_uj,
                reason: "no previous reading (was unreadable or vanished); new baseline taken"
                    .into(),
            },
            Some(b) => match zone.delta_since(b, cur_uj) {
                Ok(delta_uj) => Reading::Delta { cur_uj, delta_uj },
                Err(reason) => Reading::Restart { cur_uj, reason },
            },
        }
    }
}

impl EnergySensor for PowercapSensor {
    fn source(&self) -> EnergySource {
        EnergySource::Measured
    }

    fn sample(
        &mut self,
        _procs: &ProcSnapshot,
        interval_secs: f64,
    ) -> Result<Option<HostEnergy>, SensorError> {
        let first = !std::mem::replace(&mut self.baseline_taken, true);
        let secs = if interval_secs.is_finite() {
            interval_secs.max(0.0)
        } else {
            0.0
        };
        for baseline in self.baselines.iter_mut().flatten() {
            baseline.age_secs += secs;
            baseline.age_intervals = baseline.age_intervals.saturating_add(1);
        }
        let readings: Vec<Reading> = self
            .zones
            .iter()
            .zip(&self.baselines)
            .map(|(zone, baseline)| self.read(zone, baseline.as_ref(), first))
            .collect();

        // A host zone whose energy since the baseline is lost makes every zone start over
        // here; one that merely failed to read keeps every baseline for the next call.
        let mut lost = None;
        let mut unreadable = None;
        for ((zone, baseline), reading) in self.zones.iter().zip(&self.baselines).zip(&readings) {
            if !zone.counts_toward_host {
                continue;
            }
            match reading {
                Reading::Delta { .. } => {}
                Reading::Restart { reason, .. } if first && reason.is_empty() => {}
                Reading::Restart { reason, .. } => {
                    lost.get_or_insert((zone.label.clone(), reason.clone()));
                }
                Reading::Vanished => {
                    lost.get_or_insert((zone.label.clone(), "vanished".into()));
                }
                Reading::Unreadable(e) if baseline.is_none() => {
                    lost.get_or_insert((zone.label.clone(), format!("unreadable: {e}")));
                }
                Reading::Unreadable(e) => {
                    unreadable.get_or_insert((zone.label.clone(), format!("unreadable: {e}")));
                }
            }
        }
        if let Some((zone, reason)) = lost {
            for (baseline, reading) in self.baselines.iter_mut().zip(&readings) {
                *baseline = match reading {
                    Reading::Delta { cur_uj, .. } | Reading::Restart { cur_uj, .. } => {
                        Some(Baseline::new(*cur_uj))
                    }
                    Reading::Vanished | Reading::Unreadable(_) => None,
                };
            }
            return Err(SensorError::HostZoneUnavailable { zone, reason });
        }
        if let Some((zone, reason)) = unreadable {
            for (baseline, reading) in self.baselines.iter_mut().zip(&readings) {
                if matches!(reading, Reading::Vanished) {
                    *baseline = None;
                }
            }
            return Err(SensorError::HostZoneUnreadable { zone, reason });
        }

        let mut zones = Vec::new();
        let mut problems = Vec::new();
        for ((zone, baseline), reading) in self
            .zones
            .iter()
            .zip(self.baselines.iter_mut())
            .zip(readings)
        {
            let problem = |reason: String| ZoneProblem {
                zone: zone.label.clone(),
                counts_toward_host: zone.counts_toward_host,
                reason,
            };
            match reading {
                Reading::Delta { cur_uj, delta_uj } => {
                    zones.push(ZoneEnergyDelta {
                        zone: zone.label.clone(),
                        energy_joules: delta_uj as f64 / 1e6,
                        counts_toward_host: zone.counts_toward_host,
                        span_secs: baseline.map_or(secs, |b| b.age_secs),
                    });
                    *baseline = Some(Baseline::new(cur_uj));
                }
                Reading::Restart { cur_uj, reason } => {
                    if !reason.is_empty() {
                        problems.push(problem(reason));
                    }
                    *baseline = Some(Baseline::new(cur_uj));
                }
                Reading::Vanished => {
                    problems.push(problem("vanished".into()));
                    *baseline = None;
                }
                Reading::Unreadable(e) => {
                    let kept = if baseline.is_some() {
                        "; last good reading kept, its energy is reported with the next good one"
                    } else {
                        ""
                    };
                    problems.push(problem(format!("unreadable: {e}{kept}")));
                }
            }
        }
        if first {
            return Ok(None);
        }
        let host_energy_joules = zones
            .iter()
            .filter(|z| z.counts_toward_host)
            .map(|z| z.energy_joules)
            .sum();
        Ok(Some(HostEnergy {
            source: EnergySource::Measured,
            host_energy_joules,
            zones,
            unavailable_zones: problems,
        }))
    }
}

fn read_u64(path: &Path) -> io::Result<u64> {
    let text = std::fs::read_to_string(path)?;
    text.trim()
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{e}")))
}

/// The largest `constraint_N_max_power_uw` or `constraint_N_power_limit_uw` of a zone (the
/// short-term limit is usually the higher one), ignoring zeros and unreadable files.
fn declared_max_power_uw(zone_dir: &Path) -> Option<u64> {
    let entries = std::fs::read_dir(zone_dir).ok()?;
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name().to_str().is_some_and(|name| {
                name.starts_with("constraint_")
                    && (name.ends_with("_max_power_uw") || name.ends_with("_power_limit_uw"))
            })
        })
        .filter_map(|e| read_u64(&e.path()).ok())
        .filter(|uw| *uw > 0)
        .max()
}

fn parent_id(id: &str) -> Option<String> {
    let (parent, _) = id.rsplit_once(':')?;
    parent.contains(':').then(|| parent.to_string())
}

/// Sorts `intel-rapl:0` before `intel-rapl:0:0` before `intel-rapl:1` (numerically).
fn zone_sort_key(id: &str) -> (String, Vec<u32>) {
    let mut parts = id.split(':');
    let prefix = parts.next().unwrap_or_default().to_string();
    (prefix, parts.filter_map(|p| p.parse().ok()).collect())
}

#[cfg(test)]
#[path = "powercap_tests.rs"]
mod tests;
