//! End-to-end sampling on generated sysfs/procfs trees: every cgroup layout attributed to its
//! pod, processes starting and exiting, measured/estimated/simulated sources, energy conserved.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use canopy_agent::directory::{PodDirectory, PodMeta};
use canopy_agent::report::IntervalReport;
use canopy_agent::sampler::{Sampler, SamplerConfig, SourceChoice};
use canopy_agent::sensors::estimate::Provider;
use canopy_agent::testing::{CpuCounters, ProcfsFixture, SysfsFixture, MAX_ENERGY_RANGE_UJ};
use canopy_protocol::{EnergySource, IngestBatch};

/// One pod per cgroup layout the agent understands: (uid, container id, cgroup file).
fn layouts() -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut n = 0;
    let mut add = |make: &dyn Fn(&str, &str, &str) -> String| {
        n += 1;
        let uid = format!("{n:08x}-0000-4000-8000-{n:012x}");
        let id = format!("{n:064x}");
        let uid_us = uid.replace('-', "_");
        out.push((uid.clone(), id.clone(), make(&uid, &uid_us, &id)));
    };
    for (runtime, prefix) in [
        ("containerd", "cri-containerd-"),
        ("crio", "crio-"),
        ("docker", "docker-"),
    ] {
        let _ = runtime;
        for qos in ["burstable", "besteffort"] {
            add(&|_, us, id| {
                format!("0::/kubepods.slice/kubepods-{qos}.slice/kubepods-{qos}-pod{us}.slice/{prefix}{id}.scope\n")
            });
        }
        add(&|_, us, id| format!("0::/kubepods.slice/kubepods-pod{us}.slice/{prefix}{id}.scope\n"));
        // cgroup v1, systemd driver
        add(&|_, us, id| {
            format!("11:cpu,cpuacct:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{us}.slice/{prefix}{id}.scope\n1:name=systemd:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{us}.slice/{prefix}{id}.scope\n")
        });
    }
    for qos in ["burstable/", "besteffort/", ""] {
        add(&|uid, _, id| format!("0::/kubepods/{qos}pod{uid}/{id}\n"));
        add(&|uid, _, id| format!("10:cpu,cpuacct:/kubepods/{qos}pod{uid}/{id}\n"));
    }
    add(&|_, us, id| {
        format!("0::/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod{us}.slice/cri-containerd-{id}.scope\n")
    });
    add(&|uid, _, id| format!("0::/k3s/kubepods/burstable/pod{uid}/{id}\n"));
    out
}

struct Node {
    _dir: tempfile::TempDir,
    sysfs: SysfsFixture,
    procfs: ProcfsFixture,
}

fn node(with_powercap: bool) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let sysfs = SysfsFixture::new(&dir.path().join("sys")).unwrap();
    if with_powercap {
        sysfs
            .zone("intel-rapl:0", "package-0", 1_000, MAX_ENERGY_RANGE_UJ)
            .unwrap();
        sysfs
            .zone("intel-rapl:0:0", "core", 1_000, MAX_ENERGY_RANGE_UJ)
            .unwrap();
        sysfs
            .zone("intel-rapl:0:1", "dram", 1_000, MAX_ENERGY_RANGE_UJ)
            .unwrap();
        sysfs
            .zone("intel-rapl:1", "package-1", 1_000, MAX_ENERGY_RANGE_UJ)
            .unwrap();
        sysfs
            .zone("intel-rapl:1:1", "dram", 1_000, MAX_ENERGY_RANGE_UJ)
            .unwrap();
    }
    let procfs = ProcfsFixture::new(&dir.path().join("proc"), 8).unwrap();
    Node {
        _dir: dir,
        sysfs,
        procfs,
    }
}

fn sampler(root: &Node, source: SourceChoice, directory: PodDirectory) -> Sampler {
    let config = SamplerConfig {
        node: "node-a".into(),
        sysfs_root: root.sysfs.root().to_path_buf(),
        procfs_root: root.procfs.root().to_path_buf(),
        source,
        provider: Provider::Aws,
    };
    Sampler::new(&config, directory).unwrap().0
}

fn assert_conserved(report: &IntervalReport) {
    let parts = report.idle_energy_joules
        + report.system_energy_joules
        + report.pods.iter().map(|p| p.energy_joules).sum::<f64>();
    assert!(
        (parts - report.host_energy_joules).abs() < 1e-6,
        "parts {parts} host {}",
        report.host_energy_joules
    );
    IngestBatch::new("node-a", vec![report.to_sample()])
        .validate()
        .unwrap();
}

const SYSTEM: &str = "0::/system.slice/containerd.service\n";

#[test]
fn every_cgroup_layout_is_attributed_to_its_pod() {
    let n = node(true);
    let pods = layouts();
    n.procfs
        .node_cpu(CpuCounters {
            user: 1000,
            system: 0,
            idle: 1000,
            iowait: 0,
        })
        .unwrap();
    n.procfs.process(1, "systemd", (0, 0), 1, SYSTEM).unwrap();
    for (i, (_, _, cgroup)) in pods.iter().enumerate() {
        n.procfs
            .process(100 + i as u32, "worker (x)", (0, 0), 50, cgroup)
            .unwrap();
    }
    n.procfs
        .process(90, "exits soon", (5, 0), 40, SYSTEM)
        .unwrap();
    // One pod is known to the API, so its names resolve.
    let directory = PodDirectory::new();
    directory.upsert(
        &pods[0].0,
        PodMeta {
            namespace: "shop".into(),
            name: "cart-0".into(),
            labels: BTreeMap::from([("app".into(), "cart".into())]),
            containers: [(pods[0].1.clone(), "cart".to_string())].into(),
            simulated: None,
        },
    );
    let mut s = sampler(&n, SourceChoice::Auto, directory);
    assert_eq!(s.source(), EnergySource::Measured);
    assert!(s.sample().unwrap().is_none());

    // Interval: 8000 ticks, 4000 active. Each pod process 10*(i+1) ticks, systemd 100 ticks,
    // one process exits, one starts.
    n.procfs
        .node_cpu(CpuCounters {
            user: 5000,
            system: 0,
            idle: 5000,
            iowait: 0,
        })
        .unwrap();
    n.procfs.process(1, "systemd", (60, 40), 1, SYSTEM).unwrap();
    for (i, (_, _, cgroup)) in pods.iter().enumerate() {
        n.procfs
            .process(
                100 + i as u32,
                "worker (x)",
                (10 * (i as u64 + 1), 0),
                50,
                cgroup,
            )
            .unwrap();
    }
    n.procfs.remove_process(90).unwrap();
    n.procfs
        .process(91, "new one", (7, 3), 3000, SYSTEM)
        .unwrap();
    n.sysfs
        .set_energy("intel-rapl:0", 1_000 + 40_000_000)
        .unwrap();
    n.sysfs
        .set_energy("intel-rapl:0:0", 1_000 + 30_000_000)
        .unwrap();
    n.sysfs
        .set_energy("intel-rapl:0:1", 1_000 + 5_000_000)
        .unwrap();
    n.sysfs
        .set_energy("intel-rapl:1", 1_000 + 30_000_000)
        .unwrap();
    n.sysfs
        .set_energy("intel-rapl:1:1", 1_000 + 5_000_000)
        .unwrap();
    let report = s.sample().unwrap().unwrap();

    assert_eq!(report.source, EnergySource::Measured);
    assert!(
        (report.host_energy_joules - 80.0).abs() < 1e-9,
        "{}",
        report.host_energy_joules
    );
    assert!((report.idle_energy_joules - 40.0).abs() < 1e-9);
    assert_eq!(report.pods.len(), pods.len(), "one entry per layout");
    for (i, (uid, id, cgroup)) in pods.iter().enumerate() {
        let entry = report
            .pods
            .iter()
            .find(|p| &p.pod_uid == uid)
            .unwrap_or_else(|| panic!("{cgroup}"));
        assert_eq!(entry.container_id.as_deref(), Some(id.as_str()), "{cgroup}");
        let expected = 40.0 * 10.0 * (i as f64 + 1.0) / 4000.0;
        assert!(
            (entry.energy_joules - expected).abs() < 1e-9,
            "{cgroup}: {} != {expected}",
            entry.energy_joules
        );
    }
    let cart = report.pods.iter().find(|p| p.pod_uid == pods[0].0).unwrap();
    assert_eq!(
        (
            cart.namespace.as_deref(),
            cart.pod.as_deref(),
            cart.container.as_deref()
        ),
        (Some("shop"), Some("cart-0"), Some("cart"))
    );
    let cart_total = report
        .pod_totals
        .iter()
        .find(|p| p.pod_uid == pods[0].0)
        .unwrap();
    assert_eq!(cart_total.pod.as_deref(), Some("cart-0"));
    assert!((cart_total.energy_joules - cart.energy_joules).abs() < 1e-12);
    assert_eq!(report.pod_totals.len(), pods.len());
    let new_one = report.processes.iter().find(|p| p.pid == 91).unwrap();
    assert_eq!(
        new_one.cpu_ticks, 10,
        "a process that started counts all its CPU time"
    );
    assert!(report.processes.iter().all(|p| p.pid != 90));
    assert!(report.processes.iter().any(|p| p.comm == "worker (x)"));
    // systemd (100 ticks) and the new process (10) are system; so is what no process used.
    let pod_ticks: f64 = (1..=pods.len()).map(|i| 10.0 * i as f64).sum();
    let unaccounted = 40.0 * (4000.0 - pod_ticks - 110.0) / 4000.0;
    assert!((report.unaccounted_energy_joules - unaccounted).abs() < 1e-9);
    assert!((report.system_energy_joules - (40.0 * 110.0 / 4000.0 + unaccounted)).abs() < 1e-9);
    assert_conserved(&report);
}

#[test]
fn no_powercap_falls_back_to_the_estimate_and_says_why() {
    let n = node(false);
    let config = SamplerConfig {
        node: "vm".into(),
        sysfs_root: n.sysfs.root().to_path_buf(),
        procfs_root: n.procfs.root().to_path_buf(),
        source: SourceChoice::Auto,
        provider: Provider::Gcp,
    };
    let (mut s, notice) = Sampler::new(&config, PodDirectory::new()).unwrap();
    assert!(notice.unwrap().contains("no powercap"));
    assert_eq!(s.source(), EnergySource::Estimated);
    let uid = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
    let cgroup = format!("0::/kubepods/pod{uid}/{}\n", "c".repeat(64));
    n.procfs.process(5, "app", (0, 0), 1, &cgroup).unwrap();
    s.sample().unwrap();
    n.procfs
        .node_cpu(CpuCounters {
            user: 800,
            system: 0,
            idle: 800,
            iowait: 0,
        })
        .unwrap();
    n.procfs.process(5, "app", (400, 0), 1, &cgroup).unwrap();
    let report = s.sample().unwrap().unwrap();
    assert_eq!(report.source, EnergySource::Estimated);
    let expected_watts =
        8.0 * (0.68 + 0.5 * (4.11 - 0.68)) + 4.0 * 1024.0_f64.powi(3) / 1e9 * 0.392;
    assert!(
        (report.host_power_watts - expected_watts).abs() < 1e-6,
        "{}",
        report.host_power_watts
    );
    let pod_share = report.pods[0].energy_joules / report.host_energy_joules;
    assert!(
        (pod_share - 0.25).abs() < 1e-9,
        "400 of 800 active ticks of a half-busy node: {pod_share}"
    );
    assert_conserved(&report);
}

#[test]
fn measured_source_without_powercap_is_an_error() {
    let n = node(false);
    let config = SamplerConfig {
        node: "vm".into(),
        sysfs_root: n.sysfs.root().to_path_buf(),
        procfs_root: n.procfs.root().to_path_buf(),
        source: SourceChoice::Measured,
        provider: Provider::Aws,
    };
    let err = Sampler::new(&config, PodDirectory::new()).err().unwrap();
    assert_eq!(err.kind(), "powercap");
}

#[test]
fn host_zone_that_vanishes_mid_run_skips_intervals_then_recovers() {
    let n = node(true);
    let mut s = sampler(&n, SourceChoice::Measured, PodDirectory::new());
    s.sample().unwrap();
    n.sysfs.remove_zone("intel-rapl:1").unwrap();
    let err = s.sample().unwrap_err();
    assert_eq!(err.kind(), "zone_unavailable");
    assert!(err.to_string().contains("package-1"));
    assert!(err.to_string().contains("vanished"), "{err}");
    // A zone that comes back may be another device: it starts from a new baseline.
    n.sysfs
        .zone("intel-rapl:1", "package-1", 0, MAX_ENERGY_RANGE_UJ)
        .unwrap();
    let err = s.sample().unwrap_err();
    assert!(err.to_string().contains("no previous reading"), "{err}");
    n.sysfs.set_energy("intel-rapl:1", 2_000_000).unwrap();
    let report = s.sample().unwrap().unwrap();
    assert!((report.host_energy_joules - 2.0).abs() < 1e-9);
    assert_eq!(report.spans_intervals, 1);
}

#[test]
fn simulated_pods_get_simulated_energy() {
    let n = node(true);
    let directory = PodDirectory::new();
    for (uid, millis) in [("sim-1", 500), ("sim-2", 2000)] {
        directory.upsert(
            uid,
            PodMeta {
                namespace: "sandbox".into(),
                name: format!("{uid}-pod"),
                simulated: Some(("app".into(), millis)),
                ..PodMeta::default()
            },
        );
    }
    directory.upsert("real", PodMeta::default());
    let mut s = sampler(&n, SourceChoice::Simulated, directory);
    assert_eq!(s.source(), EnergySource::Simulated);
    s.sample().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    let report = s.sample().unwrap().unwrap();
    assert_eq!(report.source, EnergySource::Simulated);
    assert_eq!(report.pods.len(), 2);
    assert!(report
        .pods
        .iter()
        .all(|p| p.energy_joules > 0.0 && p.namespace.as_deref() == Some("sandbox")));
    assert!(report.idle_energy_joules > 0.0);
    assert_conserved(&report);
}
