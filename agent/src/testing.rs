//! Fixture sysfs and procfs trees for tests and benchmarks, built like sentences:
//! `SysfsFixture::new(dir)?.zone("intel-rapl:0", "package-0", 1_000, MAX)?`.

use std::io;
use std::path::{Path, PathBuf};

use crate::sensors::cgroup_cpu::CgroupVersion;

/// A typical `max_energy_range_uj` (about 262 kJ).
pub const MAX_ENERGY_RANGE_UJ: u64 = 262_143_328_850;

/// A fake sysfs with powercap zones under `class/powercap`.
#[derive(Debug, Clone)]
pub struct SysfsFixture {
    root: PathBuf,
}

impl SysfsFixture {
    /// An empty sysfs (no powercap at all).
    pub fn new(root: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(root)?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn zone_dir(&self, id: &str) -> PathBuf {
        self.root.join("class/powercap").join(id)
    }

    /// Adds a zone such as `("intel-rapl:0:1", "dram", 5_000, MAX_ENERGY_RANGE_UJ)`.
    pub fn zone(
        &self,
        id: &str,
        name: &str,
        energy_uj: u64,
        max_energy_range_uj: u64,
    ) -> io::Result<&Self> {
        let dir = self.zone_dir(id);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("name"), format!("{name}\n"))?;
        std::fs::write(
            dir.join("max_energy_range_uj"),
            format!("{max_energy_range_uj}\n"),
        )?;
        self.set_energy(id, energy_uj)?;
        Ok(self)
    }

    /// The powercap control-type directory (`intel-rapl`, no colon) real systems also have.
    pub fn control_type(&self, id: &str) -> io::Result<&Self> {
        std::fs::create_dir_all(self.zone_dir(id))?;
        Ok(self)
    }

    pub fn set_energy(&self, id: &str, energy_uj: u64) -> io::Result<&Self> {
        std::fs::write(
            self.zone_dir(id).join("energy_uj"),
            format!("{energy_uj}\n"),
        )?;
        Ok(self)
    }

    /// Makes `energy_uj` unreadable (a directory in its place: reads fail even for root).
    pub fn make_unreadable(&self, id: &str) -> io::Result<&Self> {
        let path = self.zone_dir(id).join("energy_uj");
        std::fs::remove_file(&path)?;
        std::fs::create_dir(&path)?;
        Ok(self)
    }

    /// Makes `energy_uj` readable again (after [`SysfsFixture::make_unreadable`]) with a value.
    pub fn make_readable(&self, id: &str, energy_uj: u64) -> io::Result<&Self> {
        let path = self.zone_dir(id).join("energy_uj");
        if path.is_dir() {
            std::fs::remove_dir(&path)?;
        }
        self.set_energy(id, energy_uj)
    }

    /// Declares the zone's limits as the kernel does: `constraint_0_max_power_uw` (long term)
    /// and `constraint_1_power_limit_uw` (short term).
    pub fn limits(
        &self,
        id: &str,
        long_term_max_power_uw: u64,
        short_term_power_limit_uw: u64,
    ) -> io::Result<&Self> {
        let dir = self.zone_dir(id);
        std::fs::write(dir.join("constraint_0_name"), "long_term\n")?;
        std::fs::write(
            dir.join("constraint_0_max_power_uw"),
            format!("{long_term_max_power_uw}\n"),
        )?;
        std::fs::write(dir.join("constraint_0_power_limit_uw"), "0\n")?;
        std::fs::write(dir.join("constraint_1_name"), "short_term\n")?;
        std::fs::write(
            dir.join("constraint_1_power_limit_uw"),
            format!("{short_term_power_limit_uw}\n"),
        )?;
        Ok(self)
    }

    /// Removes a zone entirely (as when a device goes away).
    pub fn remove_zone(&self, id: &str) -> io::Result<&Self> {
        std::fs::remove_dir_all(self.zone_dir(id))?;
        Ok(self)
    }
}

/// Node CPU counters for `/proc/stat`, in ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuCounters {
    pub user: u64,
    pub system: u64,
    pub idle: u64,
    pub iowait: u64,
}

/// A fake procfs.
#[derive(Debug, Clone)]
pub struct ProcfsFixture {
    root: PathBuf,
    cpu_count: usize,
}

impl ProcfsFixture {
    /// A procfs with `cpu_count` CPUs, all counters zero and no processes.
    pub fn new(root: &Path, cpu_count: usize) -> io::Result<Self> {
        std::fs::create_dir_all(root.join("sys/kernel"))?;
        std::fs::write(root.join("sys/kernel/hostname"), "fixture-node\n")?;
        let fixture = Self {
            root: root.to_path_buf(),
            cpu_count,
        };
        fixture.node_cpu(CpuCounters::default())?;
        fixture.meminfo(16 * 1024 * 1024, 12 * 1024 * 1024)?;
        Ok(fixture)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn node_cpu(&self, c: CpuCounters) -> io::Result<&Self> {
        let mut text = format!(
            "cpu  {} 0 {} {} {} 0 0 0 0 0\n",
            c.user, c.system, c.idle, c.iowait
        );
        let n = self.cpu_count.max(1) as u64;
        for i in 0..self.cpu_count {
            text.push_str(&format!(
                "cpu{i} {} 0 {} {} {} 0 0 0 0 0\n",
                c.user / n,
                c.system / n,
                c.idle / n,
                c.iowait / n
            ));
        }
        text.push_str("intr 0\nctxt 0\nbtime 1700000000\nprocesses 1\n");
        std::fs::write(self.root.join("stat"), text)?;
        Ok(self)
    }

    pub fn meminfo(&self, total_kib: u64, available_kib: u64) -> io::Result<&Self> {
        std::fs::write(
            self.root.join("meminfo"),
            format!("MemTotal:       {total_kib} kB\nMemFree:        1 kB\nMemAvailable:   {available_kib} kB\n"),
        )?;
        Ok(self)
    }

    /// Adds or updates process `pid` named `comm` with the given CPU ticks and cgroup file.
    pub fn process(
        &self,
        pid: u32,
        comm: &str,
        (utime_ticks, stime_ticks): (u64, u64),
        start_ticks: u64,
        cgroup: &str,
    ) -> io::Result<&Self> {
        let dir = self.root.join(pid.to_string());
        std::fs::create_dir_all(&dir)?;
        // Fields 3..=22 as the kernel writes them; 14/15 are utime/stime, 22 starttime.
        let stat = format!(
            "{pid} ({comm}) S 1 {pid} {pid} 0 -1 4194560 100 0 0 0 {utime_ticks} {stime_ticks} 0 0 20 0 1 0 {start_ticks} 1000000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"
        );
        std::fs::write(dir.join("stat"), stat)?;
        std::fs::write(dir.join("cgroup"), cgroup)?;
        Ok(self)
    }

    pub fn remove_process(&self, pid: u32) -> io::Result<&Self> {
        std::fs::remove_dir_all(self.root.join(pid.to_string()))?;
        Ok(self)
    }
}

/// A fake cgroup mount, `<sysfs>/fs/cgroup`, with CPU usage per cgroup: v2 `cpu.stat`
/// (`usage_usec`) or v1 `cpu,cpuacct/.../cpuacct.usage` (nanoseconds).
#[derive(Debug, Clone)]
pub struct CgroupFixture {
    hierarchy: PathBuf,
    version: CgroupVersion,
}

impl CgroupFixture {
    /// The cgroup mount under `sysfs_root` in the given layout, with no cgroups yet.
    pub fn new(sysfs_root: &Path, version: CgroupVersion) -> io::Result<Self> {
        let mount = sysfs_root.join("fs/cgroup");
        let hierarchy = match version {
            CgroupVersion::V2 => {
                std::fs::create_dir_all(&mount)?;
                std::fs::write(
                    mount.join("cgroup.controllers"),
                    "cpuset cpu io memory pids\n",
                )?;
                mount
            }
            CgroupVersion::V1 => {
                std::fs::create_dir_all(mount.join("memory"))?;
                mount.join("cpu,cpuacct")
            }
        };
        std::fs::create_dir_all(&hierarchy)?;
        Ok(Self { hierarchy, version })
    }

    fn dir(&self, path: &str) -> PathBuf {
        self.hierarchy.join(path.trim_start_matches('/'))
    }

    /// Sets the CPU usage of the cgroup at `path` (as `/proc/PID/cgroup` spells it, e.g.
    /// `/kubepods.slice/.../cri-containerd-<id>.scope`), creating it.
    pub fn usage(&self, path: &str, usage_usec: u64) -> io::Result<&Self> {
        let dir = self.dir(path);
        std::fs::create_dir_all(&dir)?;
        match self.version {
            CgroupVersion::V2 => std::fs::write(
                dir.join("cpu.stat"),
                format!(
                    "usage_usec {usage_usec}\nuser_usec {}\nsystem_usec {}\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n",
                    usage_usec / 4 * 3,
                    usage_usec - usage_usec / 4 * 3
                ),
            ),
            CgroupVersion::V1 => std::fs::write(
                dir.join("cpuacct.usage"),
                format!("{}\n", usage_usec * 1_000),
            ),
        }?;
        Ok(self)
    }

    /// Removes the cgroup at `path` (as when its last process exits and the runtime deletes it).
    pub fn remove(&self, path: &str) -> io::Result<&Self> {
        std::fs::remove_dir_all(self.dir(path))?;
        Ok(self)
    }
}

/// The cgroup path in the first line of a `/proc/PID/cgroup` file (after `N:controllers:`).
pub fn cgroup_path_of(cgroup_file: &str) -> &str {
    let line = cgroup_file.lines().next().unwrap_or_default();
    line.splitn(3, ':').nth(2).unwrap_or_default()
}

/// The parent of a cgroup path (a container's pod).
pub fn parent_cgroup(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(parent, _)| parent)
}

/// A cgroup v2 file for a containerd container under the systemd driver.
pub fn cgroup_v2_systemd_containerd(qos: &str, pod_uid: &str, container_id: &str) -> String {
    let uid = pod_uid.replace('-', "_");
    if qos == "guaranteed" {
        format!("0::/kubepods.slice/kubepods-pod{uid}.slice/cri-containerd-{container_id}.scope\n")
    } else {
        format!(
            "0::/kubepods.slice/kubepods-{qos}.slice/kubepods-{qos}-pod{uid}.slice/cri-containerd-{container_id}.scope\n"
        )
    }
}
