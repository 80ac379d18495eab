//! A host zone whose `energy_uj` cannot be read for a moment: the last good reading stays the
//! baseline, so the next report covers the gap and no energy is lost, unless the gap is longer
//! than the counter can span without wrapping twice, which is refused with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use canopy_agent::directory::PodDirectory;
use canopy_agent::report::IntervalReport;
use canopy_agent::sampler::{Sampler, SamplerConfig, SourceChoice};
use canopy_agent::sensors::estimate::Provider;
use canopy_agent::testing::{
    cgroup_v2_systemd_containerd, CpuCounters, ProcfsFixture, SysfsFixture, MAX_ENERGY_RANGE_UJ,
};
use canopy_protocol::IngestBatch;

const POD_UID: &str = "0a0a0a0a-0000-4000-8000-000000000001";
const INTERVAL: Duration = Duration::from_secs(10);

struct Node {
    _dir: tempfile::TempDir,
    sysfs: SysfsFixture,
    procfs: ProcfsFixture,
    /// The true counters, in uJ, whatever the files say.
    package_uj: [u64; 2],
    dram_uj: u64,
    cpu: CpuCounters,
    pod_ticks: u64,
}

/// Two packages and a dram zone (host = all three), 8 CPUs, one pod with one process.
fn node() -> Node {
    let dir = tempfile::tempdir().unwrap();
    let sysfs = SysfsFixture::new(&dir.path().join("sys")).unwrap();
    sysfs
        .zone("intel-rapl:0", "package-0", 5_000, MAX_ENERGY_RANGE_UJ)
        .unwrap();
    sysfs
        .zone("intel-rapl:0:1", "dram", 7_000, MAX_ENERGY_RANGE_UJ)
        .unwrap();
    sysfs
        .zone("intel-rapl:1", "package-1", 9_000, MAX_ENERGY_RANGE_UJ)
        .unwrap();
    let procfs = ProcfsFixture::new(&dir.path().join("proc"), 8).unwrap();
    let n = Node {
        _dir: dir,
        sysfs,
        procfs,
        package_uj: [5_000, 9_000],
        dram_uj: 7_000,
        cpu: CpuCounters::default(),
        pod_ticks: 0,
    };
    n.write_procfs();
    n
}

impl Node {
    fn write_procfs(&self) {
        self.procfs.node_cpu(self.cpu).unwrap();
        let cgroup = cgroup_v2_systemd_containerd("burstable", POD_UID, &"ab".repeat(32));
        self.procfs
            .process(40, "app", (self.pod_ticks, 0), 7, &cgroup)
            .unwrap();
    }

    /// One 10 s interval: `joules` on the host (package-0 half, package-1 a third, dram the
    /// rest), the node half busy, the pod a quarter of the busy time. Returns the true host uJ.
    fn run_interval(&mut self, joules: u64, package_1_readable: bool) -> u64 {
        let uj = joules * 1_000_000;
        let (p0, p1) = (uj / 2, uj / 3);
        self.package_uj[0] += p0;
        self.package_uj[1] += p1;
        self.dram_uj += uj - p0 - p1;
        self.sysfs
            .set_energy("intel-rapl:0", self.package_uj[0])
            .unwrap();
        self.sysfs
            .set_energy("intel-rapl:0:1", self.dram_uj)
            .unwrap();
        if package_1_readable {
            self.sysfs
                .make_readable("intel-rapl:1", self.package_uj[1])
                .unwrap();
        } else {
            self.sysfs.make_unreadable("intel-rapl:1").unwrap();
        }
        self.cpu.user += 4_000;
        self.cpu.idle += 4_000;
        self.pod_ticks += 1_000;
        self.write_procfs();
        uj
    }
}

fn sampler(n: &Node) -> Sampler {
    let config = SamplerConfig {
        node: "node-a".into(),
        sysfs_root: n.sysfs.root().to_path_buf(),
        procfs_root: n.procfs.root().to_path_buf(),
        source: SourceChoice::Measured,
        provider: Provider::Aws,
    };
    Sampler::new(&config, PodDirectory::new()).unwrap().0
}

fn pod_joules(report: &IntervalReport) -> f64 {
    report
        .pods
        .iter()
        .filter(|p| p.pod_uid == POD_UID)
        .map(|p| p.energy_joules)
        .sum()
}

fn assert_valid(report: &IntervalReport) {
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

#[test]
fn one_failed_read_in_the_middle_of_a_run_loses_no_energy() {
    let mut n = node();
    let mut s = sampler(&n);
    let t0 = Instant::now();
    assert!(s.sample_at(t0).unwrap().is_none());
    let mut truth_uj = 0;
    let mut reports = Vec::new();
    for i in 1..=6u32 {
        // package-1 cannot be read at the end of interval 3 only.
        truth_uj += n.run_interval(20 + u64::from(i), i != 3);
        match s.sample_at(t0 + INTERVAL * i) {
            Ok(Some(report)) => reports.push(report),
            Err(e) if i == 3 => {
                assert_eq!(e.kind(), "zone_unavailable");
                assert!(e.to_string().contains("last good reading is kept"), "{e}");
            }
            other => panic!("interval {i}: {other:?}"),
        }
    }
    let measured_joules: f64 = reports.iter().map(|r| r.host_energy_joules).sum();
    let truth_joules = truth_uj as f64 / 1e6;
    assert!(
        (measured_joules - truth_joules).abs() < 1e-9,
        "measured {measured_joules} J, truth {truth_joules} J"
    );
    // The pod used a quarter of the busy half of the node throughout: an eighth of the host.
    let pod_total: f64 = reports.iter().map(pod_joules).sum();
    assert!((pod_total - truth_joules / 8.0).abs() < 1e-9, "{pod_total}");
    // The report after the failed read says it spans two intervals, and the reports tile the
    // run without gaps or overlaps.
    let spans: Vec<u32> = reports.iter().map(|r| r.spans_intervals).collect();
    assert_eq!(spans, [1, 1, 2, 1, 1]);
    assert!((reports[2].interval_secs - 20.0).abs() < 1e-9);
    assert!((reports[2].host_energy_joules - 47.0).abs() < 1e-9); // 23 J + 24 J
    for pair in reports.windows(2) {
        assert_eq!(pair[0].end, pair[1].start);
    }
    let package_1 = reports[2]
        .zones
        .iter()
        .find(|z| z.zone == "package-1")
        .unwrap();
    assert!((package_1.span_secs - 20.0).abs() < 1e-9);
    reports.iter().for_each(assert_valid);
}

#[test]
fn a_gap_too_long_for_the_wrap_bound_is_refused_with_a_clear_reason() {
    let mut n = node();
    // The packages declare 500 W at most: a 262 kJ counter cannot wrap twice within 524 s.
    for id in ["intel-rapl:0", "intel-rapl:1"] {
        n.sysfs.limits(id, 400_000_000, 500_000_000).unwrap();
    }
    let mut s = sampler(&n);
    let t0 = Instant::now();
    s.sample_at(t0).unwrap();
    n.run_interval(30, false);
    let err = s.sample_at(t0 + INTERVAL).unwrap_err();
    assert!(
        err.to_string().contains("last good reading is kept"),
        "{err}"
    );
    // package-1 is readable again ten minutes after the last good reading: too long for any
    // zone (the first is named).
    n.run_interval(30, true);
    let err = s.sample_at(t0 + Duration::from_secs(600)).unwrap_err();
    assert_eq!(err.kind(), "zone_unavailable");
    let message = err.to_string();
    for part in [
        "zone package-0",
        "600.0 s since the last good reading",
        "without possibly wrapping twice",
        "at up to 500 W: 524.3 s",
        "new baseline taken",
    ] {
        assert!(message.contains(part), "{part:?} not in {message}");
    }
    // Measuring resumes from that reading: the next interval alone, nothing from the gap.
    let truth_uj = n.run_interval(25, true);
    let report = s.sample_at(t0 + Duration::from_secs(610)).unwrap().unwrap();
    assert_eq!(report.spans_intervals, 1);
    assert!((report.interval_secs - 10.0).abs() < 1e-9);
    assert!((report.host_energy_joules - truth_uj as f64 / 1e6).abs() < 1e-9);
    assert_valid(&report);
}
