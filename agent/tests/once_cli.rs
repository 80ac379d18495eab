//! The `canopy-agent once` command on generated trees: JSON shape, source labels, and a clear
//! failure when a zone that host energy needs cannot be read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use canopy_agent::testing::{CpuCounters, ProcfsFixture, SysfsFixture, MAX_ENERGY_RANGE_UJ};

fn once(sysfs: &SysfsFixture, procfs: &ProcfsFixture, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_canopy-agent"))
        .arg("once")
        .arg("--sysfs-root")
        .arg(sysfs.root())
        .arg("--procfs-root")
        .arg(procfs.root())
        .args(["--interval", "0.2", "--format", "json"])
        .args(extra)
        .env_remove("CANOPY_SOURCE")
        .env_remove("CANOPY_NODE_NAME")
        .output()
        .unwrap()
}

fn fixtures(dir: &std::path::Path) -> (SysfsFixture, ProcfsFixture) {
    let sysfs = SysfsFixture::new(&dir.join("sys")).unwrap();
    let procfs = ProcfsFixture::new(&dir.join("proc"), 2).unwrap();
    procfs
        .node_cpu(CpuCounters {
            user: 10,
            system: 10,
            idle: 100,
            iowait: 0,
        })
        .unwrap();
    procfs
        .process(1, "init (real)", (5, 5), 1, "0::/init.scope\n")
        .unwrap();
    (sysfs, procfs)
}

#[test]
fn once_without_powercap_prints_an_estimated_interval() {
    let dir = tempfile::tempdir().unwrap();
    let (sysfs, procfs) = fixtures(dir.path());
    let out = once(&sysfs, &procfs, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no powercap"), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["source"], "estimated");
    assert_eq!(json["node"], "fixture-node");
    // Nothing ran (the counters did not move): the whole estimate is idle draw, 2 vCPUs at
    // AWS's 0.74 W plus 4 GiB of used memory.
    let watts = json["host_power_watts"].as_f64().unwrap();
    let expected = 2.0 * 0.74 + 4.0 * 1024f64.powi(3) / 1e9 * 0.392;
    assert!((watts - expected).abs() < 1e-6, "{watts} vs {expected}");
    assert_eq!(json["idle_energy_joules"], json["host_energy_joules"]);
    for key in [
        "zones",
        "processes",
        "pods",
        "unavailable_zones",
        "start",
        "end",
        "system_energy_joules",
    ] {
        assert!(json.get(key).is_some(), "missing {key}");
    }
}

#[test]
fn once_with_powercap_is_measured_and_lists_zones() {
    let dir = tempfile::tempdir().unwrap();
    let (sysfs, procfs) = fixtures(dir.path());
    sysfs
        .zone("intel-rapl:0", "package-0", 5, MAX_ENERGY_RANGE_UJ)
        .unwrap();
    sysfs
        .zone("intel-rapl:0:0", "core", 5, MAX_ENERGY_RANGE_UJ)
        .unwrap();
    let out = once(&sysfs, &procfs, &["--node", "n1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["source"], "measured");
    assert_eq!(json["node"], "n1");
    let zones: Vec<&str> = json["zones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z["zone"].as_str().unwrap())
        .collect();
    assert_eq!(zones, ["package-0", "package-0/core"]);
    assert_eq!(json["host_energy_joules"], 0.0);
}

#[test]
fn once_fails_clearly_when_a_host_zone_is_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let (sysfs, procfs) = fixtures(dir.path());
    sysfs
        .zone("intel-rapl:0", "package-0", 5, MAX_ENERGY_RANGE_UJ)
        .unwrap();
    sysfs.make_unreadable("intel-rapl:0").unwrap();
    let out = once(&sysfs, &procfs, &["--source", "measured"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("package-0") && stderr.contains("unreadable"),
        "{stderr}"
    );
}

#[test]
fn once_rejects_a_bad_interval() {
    let dir = tempfile::tempdir().unwrap();
    let (sysfs, procfs) = fixtures(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_canopy-agent"))
        .args(["once", "--interval", "0", "--sysfs-root"])
        .arg(sysfs.root())
        .arg("--procfs-root")
        .arg(procfs.root())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("interval"));
}
