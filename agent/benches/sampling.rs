//! Sampling-cycle cost with 1,000 processes in 100 pods' cgroups: CPU time per cycle
//! (getrusage), peak RSS, and the overhead at a 1 s interval as a fraction of one core.
//! Prints figures; asserts nothing.

use std::time::{Duration, Instant};

use canopy_agent::directory::PodDirectory;
use canopy_agent::metrics::Metrics;
use canopy_agent::sampler::{Sampler, SamplerConfig, SourceChoice};
use canopy_agent::sensors::cgroup_cpu::{CgroupCpuReader, CgroupVersion};
use canopy_agent::sensors::estimate::Provider;
use canopy_agent::testing::{
    cgroup_path_of, cgroup_v2_systemd_containerd, parent_cgroup, CgroupFixture, CpuCounters,
    ProcfsFixture, SysfsFixture, MAX_ENERGY_RANGE_UJ,
};
use canopy_protocol::IngestBatch;
use nix::sys::resource::{getrusage, UsageWho};

const PROCESSES: u32 = 1_000;
const CYCLES: u32 = 200;

fn cpu_time() -> Result<Duration, nix::Error> {
    let usage = getrusage(UsageWho::RUSAGE_SELF)?;
    let to_duration = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(u64::try_from(t.tv_sec()).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec()).unwrap_or(0))
    };
    Ok(to_duration(usage.user_time()) + to_duration(usage.system_time()))
}

fn peak_rss_kib() -> Result<i64, nix::Error> {
    Ok(getrusage(UsageWho::RUSAGE_SELF)?.max_rss())
}

/// A `/proc/self/status` field in KiB (`VmRSS`, `VmHWM`).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|v| v.split_ascii_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Rewrites a process's stat with new CPU ticks, keeping its name, start time and cgroup.
fn rewrite_ticks(procfs: &ProcfsFixture, pid: u32, utime_ticks: u64) -> std::io::Result<()> {
    let path = procfs.root().join(pid.to_string()).join("cgroup");
    let cgroup = std::fs::read_to_string(path)?;
    procfs.process(
        pid,
        &format!("worker ({pid})"),
        (utime_ticks, 7),
        u64::from(pid),
        &cgroup,
    )?;
    Ok(())
}

/// The same cycle on this machine's own /proc (whatever runs here), for comparison.
fn real_proc_cycle() -> Result<(usize, f64), Box<dyn std::error::Error>> {
    let config = SamplerConfig {
        node: "bench".into(),
        sysfs_root: "/nonexistent".into(),
        procfs_root: "/proc".into(),
        source: SourceChoice::Estimated,
        provider: Provider::Aws,
    };
    let (mut sampler, _) = Sampler::new(&config, PodDirectory::new())?;
    sampler.sample()?;
    let processes = std::fs::read_dir("/proc")?
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .count();
    let before = cpu_time()?;
    for _ in 0..CYCLES {
        std::hint::black_box(sampler.sample()?);
    }
    Ok((
        processes,
        (cpu_time()? - before).as_secs_f64() / f64::from(CYCLES),
    ))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // On tmpfs where there is one: on a disk filesystem, reading a file just rewritten updates
    // its atime through the journal, which real procfs never does.
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)?
    } else {
        tempfile::tempdir()?
    };
    let sysfs = SysfsFixture::new(&dir.path().join("sys"))?;
    for socket in 0..2 {
        sysfs.zone(
            &format!("intel-rapl:{socket}"),
            &format!("package-{socket}"),
            1,
            MAX_ENERGY_RANGE_UJ,
        )?;
        sysfs.zone(
            &format!("intel-rapl:{socket}:0"),
            "core",
            1,
            MAX_ENERGY_RANGE_UJ,
        )?;
        sysfs.zone(
            &format!("intel-rapl:{socket}:1"),
            "dram",
            1,
            MAX_ENERGY_RANGE_UJ,
        )?;
    }
    let procfs = ProcfsFixture::new(&dir.path().join("proc"), 16)?;
    // The pods' cgroups (v2, systemd driver): 100 pods of 2 containers, plus system services.
    let cgroups = CgroupFixture::new(sysfs.root(), CgroupVersion::V2)?;
    for service in 0..50 {
        cgroups.usage(&format!("/system.slice/service-{service}.service"), 1)?;
    }
    let mut container_cgroups = Vec::new();
    procfs.node_cpu(CpuCounters {
        user: 1_000,
        system: 500,
        idle: 10_000,
        iowait: 10,
    })?;
    // 1,000 processes: 200 on the system, 800 in 100 pods of 2 containers.
    for pid in 1..=PROCESSES {
        let cgroup = if pid <= 200 {
            "0::/system.slice/some.service\n".to_string()
        } else {
            let pod = pid % 100;
            let uid = format!("{pod:08x}-0000-4000-8000-{pod:012x}");
            // Two containers per pod (by hundreds, so both parities of `pod` get both).
            let container = format!("{:064x}", pod * 2 + (pid / 100) % 2);
            let file = cgroup_v2_systemd_containerd("burstable", &uid, &container);
            container_cgroups.push(cgroup_path_of(&file).to_string());
            file
        };
        procfs.process(
            pid,
            &format!("worker ({pid})"),
            (u64::from(pid), 7),
            u64::from(pid),
            &cgroup,
        )?;
    }
    container_cgroups.sort();
    container_cgroups.dedup();
    let write_cgroups = |tick: u64| -> std::io::Result<()> {
        let mut pods: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
        for (i, path) in (0u64..).zip(&container_cgroups) {
            let usage_usec = 1_000 * (i + tick);
            cgroups.usage(path, usage_usec)?;
            *pods.entry(parent_cgroup(path)).or_default() += usage_usec;
        }
        for (pod, usage_usec) in pods {
            cgroups.usage(pod, usage_usec + 500)?;
        }
        Ok(())
    };
    write_cgroups(0)?;
    let config = SamplerConfig {
        node: "bench".into(),
        sysfs_root: sysfs.root().to_path_buf(),
        procfs_root: procfs.root().to_path_buf(),
        source: SourceChoice::Measured,
        provider: Provider::Aws,
    };
    let (mut sampler, _) = Sampler::new(&config, PodDirectory::new())?;
    let metrics = Metrics::new();

    let cold_start = cpu_time()?;
    sampler.sample()?; // baseline: also reads every /proc/PID/cgroup once
    let cold = cpu_time()? - cold_start;

    // Every cycle, every process has used CPU time (the worst case for attribution). The
    // fixture is rewritten between cycles, outside the measured section.
    let mut cpu = Duration::ZERO;
    let mut sample_cpu = Duration::ZERO;
    let mut record_cpu = Duration::ZERO;
    let mut wall = Duration::ZERO;
    for tick in 1..=u64::from(CYCLES) {
        procfs.node_cpu(CpuCounters {
            user: 1_000 + 2_000 * tick,
            system: 500,
            idle: 10_000 + 100 * tick,
            iowait: 10,
        })?;
        sysfs.set_energy("intel-rapl:0", 1 + 1_000_000 * tick)?;
        for pid in 1..=PROCESSES {
            rewrite_ticks(&procfs, pid, u64::from(pid) + tick)?;
        }
        write_cgroups(tick)?;
        let (cpu_before, wall_before) = (cpu_time()?, Instant::now());
        // The cycle the daemon runs: sample, attribute, record metrics, serialize the batch.
        let report = sampler.sample()?;
        let t1 = cpu_time()?;
        sample_cpu += t1 - cpu_before;
        if let Some(report) = report {
            metrics.record(&report);
            record_cpu += cpu_time()? - t1;
            let batch = IngestBatch::new("bench", vec![report.to_sample()]);
            std::hint::black_box(serde_json::to_vec(&batch)?);
        }
        cpu += cpu_time()? - cpu_before;
        wall += wall_before.elapsed();
    }
    let per_cycle = cpu / CYCLES;
    let overhead_at_1s = per_cycle.as_secs_f64() / 1.0;
    println!("canopy-agent sampling benchmark ({PROCESSES} processes, {} container cgroups, {CYCLES} cycles, fixtures on {})", container_cgroups.len(), dir.path().display());
    println!(
        "  first cycle (reads every cgroup file): {:.2} ms CPU",
        cold.as_secs_f64() * 1e3
    );
    println!(
        "  steady cycle: {:.3} ms CPU (user+sys, getrusage), {:.3} ms wall",
        per_cycle.as_secs_f64() * 1e3,
        wall.as_secs_f64() * 1e3 / f64::from(CYCLES)
    );
    println!(
        "    of which sample() (procfs, cgroups, RAPL, attribution, report): {:.3} ms, metrics: {:.3} ms",
        sample_cpu.as_secs_f64() * 1e3 / f64::from(CYCLES),
        record_cpu.as_secs_f64() * 1e3 / f64::from(CYCLES)
    );
    println!(
        "  peak RSS (VmHWM): {:.1} MiB; now {:.1} MiB",
        status_kib("VmHWM") as f64 / 1024.0,
        status_kib("VmRSS") as f64 / 1024.0
    );
    // getrusage's ru_maxrss survives execve on Linux, so it reports the larger of this process
    // and whatever launched it (cargo): shown for completeness, not the agent's figure.
    println!(
        "  getrusage ru_maxrss: {:.1} MiB (includes the launching process)",
        peak_rss_kib()? as f64 / 1024.0
    );
    // The cgroup part of the cycle on its own (the tree as the last cycle left it).
    let mut reader = CgroupCpuReader::new(sysfs.root().join("fs/cgroup"));
    let before = cpu_time()?;
    for _ in 0..CYCLES {
        std::hint::black_box(reader.snapshot());
    }
    let cgroups_per_cycle = (cpu_time()? - before) / CYCLES;
    println!(
        "    of which reading the pods' cgroups ({} pods, {} containers): {:.3} ms",
        reader.snapshot().pods.len(),
        container_cgroups.len(),
        cgroups_per_cycle.as_secs_f64() * 1e3
    );
    let real = real_proc_cycle()?;
    println!(
        "  this machine's real /proc ({} processes, estimated source): {:.3} ms CPU per cycle",
        real.0,
        real.1 * 1e3
    );
    println!(
        "  overhead at a 1 s interval (steady cycle / 1 s): {:.4} of one core ({:.2} %)",
        overhead_at_1s,
        overhead_at_1s * 100.0
    );
    Ok(())
}
