//! Pod and container CPU time from the cgroup filesystem: cgroup v2 `cpu.stat` `usage_usec`,
//! v1 `cpuacct.usage` (ns). Unlike per-process figures, a cgroup's usage keeps the CPU time of
//! processes that exited, so the work of a pod's short-lived processes is counted.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::cgroup::{container_of, pod_uid_of};
use super::procfs::read_into;

/// v1 hierarchies that hold `cpuacct.usage`, in the order tried (distributions name the
/// co-mounted cpu and cpuacct controllers either way).
const V1_CPUACCT_DIRS: [&str; 3] = ["cpu,cpuacct", "cpuacct,cpu", "cpuacct"];
/// How deep below the hierarchy's root a `kubepods` directory is looked for: 1 for
/// `/kubepods.slice`, 2 for kind's `/kubelet.slice/kubelet-kubepods.slice`, 3 for
/// docker-in-docker's `/docker/<id>/kubepods`.
const KUBEPODS_MAX_DEPTH: usize = 3;
/// Directories visited at most while looking for `kubepods` (a guard on odd hosts).
const DISCOVERY_MAX_DIRS: usize = 10_000;
/// While no `kubepods` directory is known, look again every this many readings (a kubelet
/// started after the agent creates it; a host without Kubernetes never does).
const REDISCOVER_EVERY_READINGS: u32 = 30;

/// The cgroup layout CPU figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupVersion {
    /// cgroup v1: `cpuacct.usage` in the cpuacct hierarchy.
    V1,
    /// cgroup v2 (unified): `cpu.stat` `usage_usec`.
    V2,
}

/// CPU time of one pod's cgroup and of its containers' cgroups: cumulative in a
/// [`CgroupCpuSnapshot`], over the interval in [`pod_cpu_deltas`]'s result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodCpuUsage {
    /// The pod cgroup's usage: every process the pod ever ran, exited ones included.
    pub usage_usec: u64,
    /// Container id (lower-case 64 hex) to that container cgroup's usage.
    pub containers: BTreeMap<String, u64>,
}

/// Every pod cgroup on the node at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupCpuSnapshot {
    /// Whether the pods' cgroups were found and listed without error. When not, `pods` says
    /// nothing about pods that are absent (and no delta is taken against this snapshot).
    pub complete: bool,
    /// By pod UID (lower-case, with dashes).
    pub pods: BTreeMap<String, PodCpuUsage>,
}

/// CPU time each pod and container used between two snapshots. A pod or container absent from
/// `prev` was created during the interval and counts all its usage; one whose usage went down
/// was recreated (a static pod keeps its UID) and counts likewise. Pods absent from `cur` are
/// not listed (they ended; the caller falls back to their processes). Empty unless both
/// snapshots are complete.
pub fn pod_cpu_deltas(
    prev: &CgroupCpuSnapshot,
    cur: &CgroupCpuSnapshot,
) -> BTreeMap<String, PodCpuUsage> {
    if !(prev.complete && cur.complete) {
        return BTreeMap::new();
    }
    let since = |before: Option<u64>, now: u64| match before {
        Some(before) if before <= now => now - before,
        _ => now,
    };
    cur.pods
        .iter()
        .map(|(uid, now)| {
            let before = prev.pods.get(uid);
            let containers = now
                .containers
                .iter()
                .map(|(id, usage)| {
                    let was = before.and_then(|b| b.containers.get(id)).copied();
                    (id.clone(), since(was, *usage))
                })
                .collect();
            let usage_usec = since(before.map(|b| b.usage_usec), now.usage_usec);
            (
                uid.clone(),
                PodCpuUsage {
                    usage_usec,
                    containers,
                },
            )
        })
        .collect()
}

/// The hierarchy CPU usage is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hierarchy {
    version: CgroupVersion,
    /// `kubepods` directories under `root`.
    kubepods: Vec<PathBuf>,
}

/// Reads pod and container CPU usage under a cgroup mount (`<sysfs>/fs/cgroup`).
#[derive(Debug)]
pub struct CgroupCpuReader {
    mount: PathBuf,
    hierarchy: Option<Hierarchy>,
    readings_until_discovery: u32,
    buf: String,
}

impl CgroupCpuReader {
    pub fn new(mount: impl Into<PathBuf>) -> Self {
        Self {
            mount: mount.into(),
            hierarchy: None,
            readings_until_discovery: 0,
            buf: String::with_capacity(1024),
        }
    }

    pub fn mount(&self) -> &Path {
        &self.mount
    }

    /// The layout in use, once pods' cgroups have been found.
    pub fn version(&self) -> Option<CgroupVersion> {
        self.hierarchy.as_ref().map(|h| h.version)
    }

    /// Reads every pod's and container's usage. Never fails: what cannot be read makes the
    /// snapshot incomplete (or leaves one pod out when its cgroup went away meanwhile).
    pub fn snapshot(&mut self) -> CgroupCpuSnapshot {
        if self.hierarchy.is_none() {
            if self.readings_until_discovery == 0 {
                self.hierarchy = discover(&self.mount);
                self.readings_until_discovery = REDISCOVER_EVERY_READINGS;
            } else {
                self.readings_until_discovery -= 1;
            }
        }
        let Some(hierarchy) = self.hierarchy.take() else {
            return CgroupCpuSnapshot::default();
        };
        let mut snapshot = CgroupCpuSnapshot {
            complete: true,
            pods: BTreeMap::new(),
        };
        let mut vanished = false;
        for dir in &hierarchy.kubepods {
            match self.walk(hierarchy.version, dir, 0, &mut snapshot) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => vanished = true,
                Err(_) => snapshot.complete = false,
            }
        }
        if vanished {
            // A kubepods directory went away (the kubelet was reconfigured): look again next
            // time, and say nothing about pods this time.
            snapshot.complete = false;
        } else {
            self.hierarchy = Some(hierarchy);
        }
        snapshot
    }

    /// Lists `dir` (a kubepods or QoS directory): pod directories are read, others (QoS
    /// classes) descended into once.
    fn walk(
        &mut self,
        version: CgroupVersion,
        dir: &Path,
        depth: usize,
        snapshot: &mut CgroupCpuSnapshot,
    ) -> io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if !entry.file_type()?.is_dir() {
                continue;
            }
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                continue;
            };
            let path = entry.path();
            if let Some(uid) = pod_uid_of(name) {
                match self.pod(version, &path) {
                    Ok(usage) => {
                        snapshot.pods.entry(uid).or_insert(usage);
                    }
                    // Deleted between listing and reading: the pod simply is not here.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(_) => snapshot.complete = false,
                }
            } else if depth == 0 {
                match self.walk(version, &path, depth + 1, snapshot) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(_) => snapshot.complete = false,
                }
            }
        }
        Ok(())
    }

    fn pod(&mut self, version: CgroupVersion, dir: &Path) -> io::Result<PodCpuUsage> {
        let usage_usec = self.usage_usec(version, dir)?;
        let mut containers = BTreeMap::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some((id, _)) = name.to_str().and_then(container_of) else {
                continue;
            };
            match self.usage_usec(version, &entry.path()) {
                Ok(usage) => {
                    containers.insert(id, usage);
                }
                // A container that ended meanwhile: its time stays in the pod's usage.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(PodCpuUsage {
            usage_usec,
            containers,
        })
    }

    fn usage_usec(&mut self, version: CgroupVersion, dir: &Path) -> io::Result<u64> {
        let file = match version {
            CgroupVersion::V2 => "cpu.stat",
            CgroupVersion::V1 => "cpuacct.usage",
        };
        let path = dir.join(file);
        read_into(&path, &mut self.buf)?;
        let parsed = match version {
            CgroupVersion::V2 => parse_cpu_stat_usage_usec(&self.buf),
            CgroupVersion::V1 => self.buf.trim().parse::<u64>().ok().map(|ns| ns / 1_000),
        };
        parsed.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: no CPU usage", path.display()),
            )
        })
    }
}

/// `usage_usec` from a cgroup v2 `cpu.stat`.
pub fn parse_cpu_stat_usage_usec(contents: &str) -> Option<u64> {
    contents
        .lines()
        .find_map(|line| line.strip_prefix("usage_usec "))
        .and_then(|v| v.trim().parse().ok())
}

/// Finds the hierarchy with CPU accounting and the `kubepods` directories in it.
fn discover(mount: &Path) -> Option<Hierarchy> {
    let (root, version) = if mount.join("cgroup.controllers").is_file() {
        (mount.to_path_buf(), CgroupVersion::V2)
    } else {
        let dir = V1_CPUACCT_DIRS
            .iter()
            .map(|name| mount.join(name))
            .find(|dir| dir.is_dir())?;
        (dir, CgroupVersion::V1)
    };
    let mut kubepods = Vec::new();
    let mut level = vec![root.clone()];
    let mut visited = 0;
    for _ in 0..KUBEPODS_MAX_DEPTH {
        let mut next = Vec::new();
        for dir in &level {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.filter_map(Result::ok) {
                if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                visited += 1;
                if visited > DISCOVERY_MAX_DIRS {
                    break;
                }
                if entry.file_name().to_string_lossy().contains("kubepods") {
                    kubepods.push(entry.path());
                } else {
                    next.push(entry.path());
                }
            }
        }
        level = next;
    }
    if kubepods.is_empty() {
        return None;
    }
    kubepods.sort();
    Some(Hierarchy { version, kubepods })
}

#[cfg(test)]
#[path = "cgroup_cpu_tests.rs"]
mod tests;
