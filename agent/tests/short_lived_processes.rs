//! A pod whose work is done by processes that live 50-200 ms (CGI-style handlers): none of them
//! is alive at both ends of the interval, so per-process figures miss nearly all of it. The
//! pod's cgroup keeps the time of exited processes, and the agent uses it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use canopy_agent::directory::PodDirectory;
use canopy_agent::report::IntervalReport;
use canopy_agent::sampler::{Sampler, SamplerConfig, SourceChoice};
use canopy_agent::sensors::cgroup_cpu::CgroupVersion;
use canopy_agent::sensors::estimate::Provider;
use canopy_agent::testing::{
    CgroupFixture, CpuCounters, ProcfsFixture, SysfsFixture, MAX_ENERGY_RANGE_UJ,
};
use canopy_protocol::IngestBatch;

const CPUS: u64 = 4;
const INTERVAL_SECS: f64 = 10.0;
/// Host energy over the interval: package 200 J, dram 50 J.
const HOST_JOULES: f64 = 250.0;
const CGI_POD: &str = "c9c9c9c9-0000-4000-8000-000000000001";
const STEADY_POD: &str = "5e5e5e5e-0000-4000-8000-000000000002";
/// Seconds since boot at the start of the interval.
const BOOT_OFFSET_SECS: f64 = 1_000.0;

/// A handler process: when it starts (seconds from the interval's start), how long it lives,
/// and the fraction of that time it spends on a CPU.
struct Worker {
    pid: u32,
    start_secs: f64,
    life_secs: f64,
}

const WORKER_CPU_FRACTION: f64 = 0.9;

impl Worker {
    fn alive_at(&self, t: f64) -> bool {
        self.start_secs <= t && t < self.start_secs + self.life_secs
    }

    /// CPU seconds used by time `t`.
    fn cpu_secs_at(&self, t: f64) -> f64 {
        WORKER_CPU_FRACTION * (t - self.start_secs).clamp(0.0, self.life_secs)
    }
}

/// A handler every 120 ms from just before the interval to just after, each living 50-200 ms
/// (a fixed pseudo-random sequence).
fn workers() -> Vec<Worker> {
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    (0..90)
        .map(|i| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            Worker {
                pid: 2_000 + i,
                start_secs: -0.25 + 0.12 * f64::from(i),
                life_secs: 0.05 + (seed >> 33) as f64 % 151.0 / 1_000.0,
            }
        })
        .collect()
}

/// Cgroup paths of one pod: (pod, container), and the `/proc/PID/cgroup` text of the container.
fn layout(version: CgroupVersion, pod_uid: &str, container_id: &str) -> (String, String, String) {
    match version {
        CgroupVersion::V2 => {
            let us = pod_uid.replace('-', "_");
            let pod = format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{us}.slice"
            );
            let container = format!("{pod}/cri-containerd-{container_id}.scope");
            let file = format!("0::{container}\n");
            (pod, container, file)
        }
        CgroupVersion::V1 => {
            let pod = format!("/kubepods/burstable/pod{pod_uid}");
            let container = format!("{pod}/{container_id}");
            let file = format!("12:cpu,cpuacct:{container}\n4:memory:{container}\n");
            (pod, container, file)
        }
    }
}

const HANDLER_ID: &str = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";
const PAUSE_ID: &str = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2";
const STEADY_ID: &str = "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3";
/// CPU the steady pod's one process uses: 1.2 CPUs.
const STEADY_CPU_PER_SEC: f64 = 1.2;
/// A system daemon's CPU: 0.2 CPUs; kernel work nobody owns: 0.1 CPUs.
const SYSTEM_CPU_PER_SEC: f64 = 0.2;
const KERNEL_CPU_PER_SEC: f64 = 0.1;
/// CPU time the pods used before the interval (their cgroups' usage is cumulative).
const CGI_EARLIER_USEC: u64 = 987_654_321;
const STEADY_EARLIER_USEC: u64 = 123_456_789;

struct Node {
    _dir: tempfile::TempDir,
    sysfs: SysfsFixture,
    procfs: ProcfsFixture,
    cgroups: Option<(CgroupVersion, CgroupFixture)>,
    workers: Vec<Worker>,
}

fn secs_to_ticks(secs: f64) -> u64 {
    (secs * 100.0).floor() as u64
}

impl Node {
    fn new(version: Option<CgroupVersion>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let sysfs = SysfsFixture::new(&dir.path().join("sys")).unwrap();
        sysfs
            .zone("intel-rapl:0", "package-0", 1_000, MAX_ENERGY_RANGE_UJ)
            .unwrap();
        sysfs
            .zone("intel-rapl:0:1", "dram", 1_000, MAX_ENERGY_RANGE_UJ)
            .unwrap();
        let procfs = ProcfsFixture::new(&dir.path().join("proc"), CPUS as usize).unwrap();
        let cgroups = version.map(|v| (v, CgroupFixture::new(sysfs.root(), v).unwrap()));
        Node {
            _dir: dir,
            sysfs,
            procfs,
            cgroups,
            workers: workers(),
        }
    }

    fn cgi_cpu_secs_at(&self, t: f64) -> f64 {
        self.workers.iter().map(|w| w.cpu_secs_at(t)).sum()
    }

    /// The true CPU time the CGI pod used over the interval, in microseconds.
    fn cgi_truth_usec(&self) -> u64 {
        to_usec(self.cgi_cpu_secs_at(INTERVAL_SECS)) - to_usec(self.cgi_cpu_secs_at(0.0))
    }

    /// Writes every file as it reads at time `t` (seconds from the interval's start).
    fn at(&self, t: f64) {
        let version = self.cgroups.as_ref().map_or(CgroupVersion::V2, |(v, _)| *v);
        let (cgi_pod, handler, handler_file) = layout(version, CGI_POD, HANDLER_ID);
        let (_, pause, pause_file) = layout(version, CGI_POD, PAUSE_ID);
        let (steady_pod, steady, steady_file) = layout(version, STEADY_POD, STEADY_ID);
        let cgi_usec = to_usec(self.cgi_cpu_secs_at(t));
        let steady_usec = to_usec(STEADY_CPU_PER_SEC * (BOOT_OFFSET_SECS + t));
        if let Some((_, cg)) = &self.cgroups {
            cg.usage(&cgi_pod, CGI_EARLIER_USEC + cgi_usec + 2_000)
                .unwrap();
            cg.usage(&handler, CGI_EARLIER_USEC + cgi_usec).unwrap();
            cg.usage(&pause, 2_000).unwrap();
            cg.usage(&steady_pod, STEADY_EARLIER_USEC + steady_usec)
                .unwrap();
            cg.usage(&steady, STEADY_EARLIER_USEC + steady_usec)
                .unwrap();
        }
        let boot_ticks = |secs: f64| secs_to_ticks(BOOT_OFFSET_SECS + secs);
        self.procfs
            .process(
                1,
                "systemd",
                (
                    secs_to_ticks(SYSTEM_CPU_PER_SEC * (BOOT_OFFSET_SECS + t)),
                    0,
                ),
                1,
                "0::/init.scope\n",
            )
            .unwrap();
        self.procfs
            .process(10, "pause", (0, 0), 50, &pause_file)
            .unwrap();
        self.procfs
            .process(
                20,
                "steady",
                (
                    secs_to_ticks(STEADY_CPU_PER_SEC * (BOOT_OFFSET_SECS + t)),
                    0,
                ),
                60,
                &steady_file,
            )
            .unwrap();
        for w in &self.workers {
            if w.alive_at(t) {
                self.procfs
                    .process(
                        w.pid,
                        "handler.cgi",
                        (secs_to_ticks(w.cpu_secs_at(t)), 0),
                        boot_ticks(w.start_secs),
                        &handler_file,
                    )
                    .unwrap();
            } else if self.procfs.root().join(w.pid.to_string()).exists() {
                self.procfs.remove_process(w.pid).unwrap();
            }
        }
        // The node: everyone's CPU time plus the kernel's; the rest of 4 CPUs idle.
        let busy_secs = self.cgi_cpu_secs_at(t)
            + (STEADY_CPU_PER_SEC + SYSTEM_CPU_PER_SEC + KERNEL_CPU_PER_SEC)
                * (BOOT_OFFSET_SECS + t);
        let total_secs = CPUS as f64 * (BOOT_OFFSET_SECS + t);
        let user = secs_to_ticks(busy_secs);
        self.procfs
            .node_cpu(CpuCounters {
                user,
                system: 0,
                idle: secs_to_ticks(total_secs) - user,
                iowait: 0,
            })
            .unwrap();
        let joules = if t > 0.0 { HOST_JOULES } else { 0.0 };
        let package_uj = 1_000 + (joules * 0.8 * 1e6) as u64;
        let dram_uj = 1_000 + (joules * 0.2 * 1e6) as u64;
        self.sysfs.set_energy("intel-rapl:0", package_uj).unwrap();
        self.sysfs.set_energy("intel-rapl:0:1", dram_uj).unwrap();
    }

    /// Reads at both ends of the interval and returns the report.
    fn interval_report(&self) -> IntervalReport {
        let config = SamplerConfig {
            node: "node-a".into(),
            sysfs_root: self.sysfs.root().to_path_buf(),
            procfs_root: self.procfs.root().to_path_buf(),
            source: SourceChoice::Measured,
            provider: Provider::Aws,
        };
        let mut sampler = Sampler::new(&config, PodDirectory::new()).unwrap().0;
        let t0 = Instant::now();
        self.at(0.0);
        assert!(sampler.sample_at(t0).unwrap().is_none());
        self.at(INTERVAL_SECS);
        sampler
            .sample_at(t0 + Duration::from_secs_f64(INTERVAL_SECS))
            .unwrap()
            .unwrap()
    }
}

fn to_usec(secs: f64) -> u64 {
    (secs * 1e6).round() as u64
}

fn pod_joules(report: &IntervalReport, pod_uid: &str) -> f64 {
    report
        .pod_totals
        .iter()
        .find(|p| p.pod_uid == pod_uid)
        .map_or(0.0, |p| p.energy_joules)
}

fn container_joules(report: &IntervalReport, container_id: &str) -> f64 {
    report
        .pods
        .iter()
        .find(|p| p.container_id.as_deref() == Some(container_id))
        .map_or(0.0, |p| p.energy_joules)
}

fn assert_conserved(report: &IntervalReport) {
    let parts = report.idle_energy_joules
        + report.system_energy_joules
        + report.pods.iter().map(|p| p.energy_joules).sum::<f64>();
    assert!(
        (parts - report.host_energy_joules).abs() <= 1e-9 * report.host_energy_joules,
        "parts {parts} host {}",
        report.host_energy_joules
    );
    IngestBatch::new("node-a", vec![report.to_sample()])
        .validate()
        .unwrap();
}

/// The share the fixture's truth gives a pod: host energy times its CPU time over the node's.
fn truth_joules(usage_usec: u64) -> f64 {
    HOST_JOULES * usage_usec as f64 / (CPUS as f64 * INTERVAL_SECS * 1e6)
}

fn within_one_percent(got: f64, truth: f64, what: &str) {
    assert!(
        (got - truth).abs() <= 0.01 * truth,
        "{what}: {got} J, truth {truth} J ({:+.2} %)",
        (got / truth - 1.0) * 100.0
    );
}

fn short_lived_workers_are_counted(version: CgroupVersion) {
    let node = Node::new(Some(version));
    // The fixture is what the issue describes: no handler is alive at both ends.
    assert!(node
        .workers
        .iter()
        .all(|w| !(w.alive_at(0.0) && w.alive_at(INTERVAL_SECS))));
    assert!(node
        .workers
        .iter()
        .all(|w| (0.05..=0.2).contains(&w.life_secs)));
    let report = node.interval_report();
    assert!((report.host_energy_joules - HOST_JOULES).abs() < 1e-9);

    let cgi_truth = truth_joules(node.cgi_truth_usec());
    assert!(cgi_truth > 50.0, "the handlers do real work: {cgi_truth} J");
    within_one_percent(pod_joules(&report, CGI_POD), cgi_truth, "CGI pod");
    within_one_percent(
        container_joules(&report, HANDLER_ID),
        cgi_truth,
        "handler container",
    );
    let steady_truth = truth_joules(to_usec(STEADY_CPU_PER_SEC * INTERVAL_SECS));
    within_one_percent(pod_joules(&report, STEADY_POD), steady_truth, "steady pod");
    // Per-process figures stay inside the pod: the handler alive at the end gets a part of its
    // container's energy, never more than the container.
    let handlers: f64 = report
        .processes
        .iter()
        .filter(|p| p.comm == "handler.cgi")
        .map(|p| p.energy_joules)
        .sum();
    assert!(handlers > 0.0 && handlers < container_joules(&report, HANDLER_ID));
    assert_conserved(&report);
}

#[test]
fn a_pod_of_short_lived_processes_gets_its_share_from_its_cgroup_v2() {
    short_lived_workers_are_counted(CgroupVersion::V2);
}

#[test]
fn a_pod_of_short_lived_processes_gets_its_share_from_its_cgroup_v1() {
    short_lived_workers_are_counted(CgroupVersion::V1);
}

#[test]
fn without_cgroup_figures_the_short_lived_work_goes_to_system() {
    // What the agent did before reading cgroups, and still does where it cannot: only the
    // handler that started during the interval and is alive at its end is seen.
    let node = Node::new(None);
    let report = node.interval_report();
    let cgi_truth = truth_joules(node.cgi_truth_usec());
    let cgi = pod_joules(&report, CGI_POD);
    assert!(cgi < 0.05 * cgi_truth, "CGI pod {cgi} J of {cgi_truth} J");
    assert!(report.unaccounted_energy_joules > 0.9 * cgi_truth);
    assert_conserved(&report);
}
