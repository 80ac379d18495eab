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
        zones.push(Zone {
            id,
            label,
            role,
            energy_path,
            max_energy_range_uj,
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

/// Reads RAPL zones; host energy per interval from the counting zones.
#[derive(Debug)]
pub struct PowercapSensor {
    zones: Vec<Zone>,
    prev_uj: HashMap<String, u64>,
    baseline_taken: bool,
}

impl PowercapSensor {
    pub fn discover(sysfs_root: &Path) -> Result<Self, PowercapError> {
        Ok(Self::new(discover_zones(sysfs_root)?))
    }

    pub fn new(zones: Vec<Zone>) -> Self {
        Self {
            zones,
            prev_uj: HashMap::new(),
            baseline_taken: false,
        }
    }

    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }
}

impl EnergySensor for PowercapSensor {
    fn source(&self) -> EnergySource {
        EnergySource::Measured
    }

    fn sample(
        &mut self,
        _procs: &ProcSnapshot,
        _interval_secs: f64,
    ) -> Result<Option<HostEnergy>, SensorError> {
        let first = !std::mem::replace(&mut self.baseline_taken, true);
        let mut zones = Vec::new();
        let mut problems = Vec::new();
        for zone in &self.zones {
            let reading = read_u64(&zone.energy_path);
            let cur_uj = match reading {
                Ok(v) => v,
                Err(e) => {
                    self.prev_uj.remove(&zone.id);
                    let reason = if e.kind() == io::ErrorKind::NotFound {
                        "vanished".to_string()
                    } else {
                        format!("unreadable: {e}")
                    };
                    problems.push(ZoneProblem {
                        zone: zone.label.clone(),
                        counts_toward_host: zone.counts_toward_host,
                        reason,
                    });
                    continue;
                }
            };
            let prev = self.prev_uj.insert(zone.id.clone(), cur_uj);
            if first {
                continue;
            }
            let Some(prev_uj) = prev else {
                problems.push(ZoneProblem {
                    zone: zone.label.clone(),
                    counts_toward_host: zone.counts_toward_host,
                    reason: "no previous reading (was unreadable)".into(),
                });
                continue;
            };
            match counter_delta_uj(prev_uj, cur_uj, zone.max_energy_range_uj) {
                Some(delta_uj) => zones.push(ZoneEnergyDelta {
                    zone: zone.label.clone(),
                    energy_joules: delta_uj as f64 / 1e6,
                    counts_toward_host: zone.counts_toward_host,
                }),
                None => problems.push(ZoneProblem {
                    zone: zone.label.clone(),
                    counts_toward_host: zone.counts_toward_host,
                    reason: format!(
                        "counter went from {prev_uj} to {cur_uj} uJ and max_energy_range_uj is unknown"
                    ),
                }),
            }
        }
        if let Some(p) = problems.iter().find(|p| p.counts_toward_host) {
            return Err(SensorError::HostZoneUnavailable {
                zone: p.zone.clone(),
                reason: p.reason.clone(),
            });
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
