//! procfs sensor: node CPU time from `/proc/stat`, per-process CPU time from `/proc/PID/stat`
//! and each process's owner from `/proc/PID/cgroup`, under a configurable root.

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::cgroup::{parse_cgroup_file, Owner};

/// Ticks per second of `/proc/stat` and `/proc/PID/stat` (`USER_HZ`, what
/// `sysconf(_SC_CLK_TCK)` returns): the kernel fixes it at 100 for userspace on every
/// architecture Kubernetes nodes run (x86-64, arm64, ppc64le, s390x, riscv64), whatever
/// its internal `HZ`.
pub const USER_HZ: u64 = 100;
/// Microseconds per `USER_HZ` tick, to compare ticks with cgroup `usage_usec`.
pub const USEC_PER_TICK: u64 = 1_000_000 / USER_HZ;

/// Node-wide CPU times in USER_HZ ticks, from the first line of `/proc/stat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeCpuTimes {
    /// user + nice + system + idle + iowait + irq + softirq + steal.
    pub total_ticks: u64,
    /// total - idle - iowait.
    pub active_ticks: u64,
    /// Number of `cpuN` lines (online logical CPUs).
    pub cpu_count: usize,
}

/// One process at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessSample {
    pub pid: u32,
    /// Start time after boot (field 22), so a reused PID is a different process.
    pub start_ticks: u64,
    pub comm: String,
    /// utime + stime (fields 14 and 15).
    pub cpu_ticks: u64,
    /// Shared: the same owner is handed out every cycle without copying its strings.
    pub owner: Arc<Owner>,
}

/// Everything procfs says at one instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcSnapshot {
    pub node: NodeCpuTimes,
    pub processes: Vec<ProcessSample>,
    /// MemTotal - MemAvailable, in bytes (0 if `/proc/meminfo` was unreadable).
    pub memory_used_bytes: u64,
}

/// Errors reading node-wide procfs files. Per-process failures are not errors: a process may
/// exit between listing `/proc` and reading its files.
#[derive(Debug, thiserror::Error)]
pub enum ProcfsError {
    #[error("reading {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: {reason}")]
    Parse { path: PathBuf, reason: String },
}

/// Fields of `/proc/PID/stat` the agent uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatFields {
    pub comm: String,
    pub utime_ticks: u64,
    pub stime_ticks: u64,
    pub start_ticks: u64,
}

/// Parses `/proc/PID/stat`. The command name sits in parentheses and may itself contain spaces
/// and parentheses, so the fields after it are found from the LAST `)`.
pub fn parse_pid_stat(line: &str) -> Option<StatFields> {
    let open = line.find('(')?;
    let close = line.rfind(')')?;
    if close < open {
        return None;
    }
    let comm = line[open + 1..close].to_string();
    // Fields after the comm start at field 3 (state).
    let mut rest = line[close + 1..].split_ascii_whitespace();
    let utime_ticks = rest.nth(14 - 3)?.parse().ok()?;
    let stime_ticks = rest.next()?.parse().ok()?;
    let start_ticks = rest.nth(22 - 16)?.parse().ok()?;
    Some(StatFields {
        comm,
        utime_ticks,
        stime_ticks,
        start_ticks,
    })
}

/// Parses the first (`cpu `) line and counts the `cpuN` lines of `/proc/stat`.
pub fn parse_proc_stat(contents: &str) -> Option<NodeCpuTimes> {
    let mut lines = contents.lines();
    let first = lines.next()?;
    let mut fields = first.split_ascii_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let values: Vec<u64> = fields
        .take(8)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    if values.len() < 5 {
        return None;
    }
    // Counters whose sum does not fit in 64 bits are not the kernel's (it would take
    // billions of years of ticks): refused like any other unreadable line, never wrapped.
    let total_ticks = values.iter().try_fold(0u64, |sum, v| sum.checked_add(*v))?;
    let idle_ticks = values[3] + values[4];
    let cpu_count = lines
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count();
    Some(NodeCpuTimes {
        total_ticks,
        active_ticks: total_ticks - idle_ticks,
        cpu_count,
    })
}

/// Reads procfs under a root, caching each process's owner (its cgroup rarely changes) so a
/// sampling cycle reads one small file per process.
#[derive(Debug)]
pub struct ProcfsReader {
    root: PathBuf,
    owners: HashMap<(u32, u64), Arc<Owner>>,
    buf: String,
}

impl ProcfsReader {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            owners: HashMap::new(),
            buf: String::with_capacity(1024),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Reads the node's CPU times.
    pub fn node_cpu(&mut self) -> Result<NodeCpuTimes, ProcfsError> {
        let path = self.root.join("stat");
        read_into(&path, &mut self.buf).map_err(|source| ProcfsError::Io {
            path: path.clone(),
            source,
        })?;
        parse_proc_stat(&self.buf).ok_or_else(|| ProcfsError::Parse {
            path,
            reason:
                "first line is not a `cpu` line with at least 5 numbers (summing to under 2^64)"
                    .into(),
        })
    }

    /// Reads the node's CPU times, memory use and every process.
    pub fn snapshot(&mut self) -> Result<ProcSnapshot, ProcfsError> {
        let node = self.node_cpu()?;
        let memory_used_bytes = self.memory_used_bytes();
        let entries = std::fs::read_dir(&self.root).map_err(|source| ProcfsError::Io {
            path: self.root.clone(),
            source,
        })?;
        let mut processes = Vec::new();
        let mut path = self.root.clone();
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            path.push(entry.file_name());
            path.push("stat");
            // A process that exited since read_dir simply is not in this snapshot.
            let stat = read_into(&path, &mut self.buf)
                .ok()
                .and_then(|()| parse_pid_stat(&self.buf));
            path.pop();
            if let Some(stat) = stat {
                let key = (pid, stat.start_ticks);
                let owner = match self.owners.get(&key) {
                    Some(owner) => Arc::clone(owner),
                    None => {
                        path.push("cgroup");
                        let owner = Arc::new(
                            read_into(&path, &mut self.buf)
                                .map_or(Owner::System, |()| parse_cgroup_file(&self.buf)),
                        );
                        path.pop();
                        self.owners.insert(key, Arc::clone(&owner));
                        owner
                    }
                };
                processes.push(ProcessSample {
                    pid,
                    start_ticks: stat.start_ticks,
                    comm: stat.comm,
                    // Saturating: a corrupt stat file must not abort the whole snapshot.
                    cpu_ticks: stat.utime_ticks.saturating_add(stat.stime_ticks),
                    owner,
                });
            }
            path.pop();
        }
        // Forget owners of processes that have exited.
        if self.owners.len() > processes.len() {
            let live: std::collections::HashSet<(u32, u64)> =
                processes.iter().map(|p| (p.pid, p.start_ticks)).collect();
            self.owners.retain(|k, _| live.contains(k));
        }
        processes.sort_unstable_by_key(|p| p.pid);
        Ok(ProcSnapshot {
            node,
            processes,
            memory_used_bytes,
        })
    }

    fn memory_used_bytes(&mut self) -> u64 {
        let path = self.root.join("meminfo");
        if read_into(&path, &mut self.buf).is_err() {
            return 0;
        }
        let field = |name: &str| {
            self.buf
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_ascii_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
        };
        match (field("MemTotal:"), field("MemAvailable:")) {
            (Some(total_kib), Some(available_kib)) => {
                total_kib.saturating_sub(available_kib).saturating_mul(1024)
            }
            _ => 0,
        }
    }
}

/// Reads a small file into `buf`, reusing its allocation. Unlike `read_to_string` it does not
/// `fstat` first (procfs sizes are 0 anyway), and it stops at the first short read, which for
/// regular files and procfs means end of file: one `read` per file in the common case.
pub(crate) fn read_into(path: &Path, buf: &mut String) -> io::Result<()> {
    let mut bytes = std::mem::take(buf).into_bytes();
    bytes.clear();
    let result = read_bytes(path, &mut bytes);
    *buf = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    result
}

fn read_bytes(path: &Path, bytes: &mut Vec<u8>) -> io::Result<()> {
    let mut file = std::fs::File::open(path)?;
    loop {
        if bytes.capacity() - bytes.len() < 512 {
            bytes.reserve(4096);
        }
        let start = bytes.len();
        let room = bytes.capacity() - start;
        bytes.resize(start + room, 0);
        let n = match file.read(&mut bytes[start..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                bytes.truncate(start);
                continue;
            }
            Err(e) => {
                bytes.truncate(start);
                return Err(e);
            }
        };
        bytes.truncate(start + n);
        if n < room {
            return Ok(());
        }
    }
}

#[cfg(test)]
#[path = "procfs_tests.rs"]
mod tests;
