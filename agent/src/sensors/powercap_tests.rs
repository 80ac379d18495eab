//! powercap tests on generated sysfs trees: Intel with and without psys, AMD, multi-socket,
//! dram, wraparound, unreadable and vanished zones, no powercap.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::sensors::procfs::ProcSnapshot;
use crate::testing::{SysfsFixture, MAX_ENERGY_RANGE_UJ as MAX};

fn sample(sensor: &mut PowercapSensor) -> Result<Option<HostEnergy>, SensorError> {
    sensor.sample(&ProcSnapshot::default(), 1.0)
}

fn zone_joules(energy: &HostEnergy, label: &str) -> f64 {
    energy
        .zones
        .iter()
        .find(|z| z.zone == label)
        .unwrap_or_else(|| panic!("no zone {label} in {:?}", energy.zones))
        .energy_joules
}

/// Two-socket Intel server: packages with core and dram sub-zones, no psys.
fn two_socket_intel(dir: &Path) -> SysfsFixture {
    let f = SysfsFixture::new(dir).unwrap();
    f.control_type("intel-rapl").unwrap();
    f.zone("intel-rapl:0", "package-0", 1_000_000, MAX).unwrap();
    f.zone("intel-rapl:0:0", "core", 500_000, MAX).unwrap();
    f.zone("intel-rapl:0:1", "dram", 100_000, MAX).unwrap();
    f.zone("intel-rapl:1", "package-1", 2_000_000, MAX).unwrap();
    f.zone("intel-rapl:1:0", "core", 600_000, MAX).unwrap();
    f.zone("intel-rapl:1:1", "dram", 200_000, MAX).unwrap();
    f.clone()
}

#[test]
fn multi_socket_intel_host_is_packages_plus_dram_not_core() {
    let dir = tempfile::tempdir().unwrap();
    let f = two_socket_intel(dir.path());
    let mut sensor = PowercapSensor::discover(f.root()).unwrap();
    let labels: Vec<&str> = sensor.zones().iter().map(|z| z.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "package-0",
            "package-0/core",
            "package-0/dram",
            "package-1",
            "package-1/core",
            "package-1/dram"
        ]
    );
    assert!(
        sample(&mut sensor).unwrap().is_none(),
        "first sample is the baseline"
    );
    f.set_energy("intel-rapl:0", 1_000_000 + 30_000_000)
        .unwrap();
    f.set_energy("intel-rapl:0:0", 500_000 + 20_000_000)
        .unwrap();
    f.set_energy("intel-rapl:0:1", 100_000 + 4_000_000).unwrap();
    f.set_energy("intel-rapl:1", 2_000_000 + 25_000_000)
        .unwrap();
    f.set_energy("intel-rapl:1:0", 600_000 + 15_000_000)
        .unwrap();
    f.set_energy("intel-rapl:1:1", 200_000 + 3_000_000).unwrap();
    let energy = sample(&mut sensor).unwrap().unwrap();
    // 30 + 4 + 25 + 3 J; the core sub-zones are inside their packages and not added.
    assert!(
        (energy.host_energy_joules - 62.0).abs() < 1e-9,
        "{}",
        energy.host_energy_joules
    );
    assert!((zone_joules(&energy, "package-0/core") - 20.0).abs() < 1e-9);
    assert!((zone_joules(&energy, "package-1/dram") - 3.0).abs() < 1e-9);
    assert_eq!(energy.source, EnergySource::Measured);
    assert!(energy.unavailable_zones.is_empty());
}

#[test]
fn intel_with_psys_uses_psys_alone() {
    let dir = tempfile::tempdir().unwrap();
    let f = SysfsFixture::new(dir.path()).unwrap();
    f.zone("intel-rapl:0", "package-0", 0, MAX).unwrap();
    f.zone("intel-rapl:0:0", "core", 0, MAX).unwrap();
    f.zone("intel-rapl:0:2", "uncore", 0, MAX).unwrap();
    f.zone("intel-rapl:1", "psys", 0, MAX).unwrap();
    let mut sensor = PowercapSensor::discover(f.root()).unwrap();
    let psys = sensor.zones().iter().find(|z| z.label == "psys").unwrap();
    assert_eq!(psys.role, ZoneRole::Psys);
    assert!(sample(&mut sensor).unwrap().is_none());
    f.set_energy("intel-rapl:0", 8_000_000).unwrap();
    f.set_energy("intel-rapl:0:0", 5_000_000).unwrap();
    f.set_energy("intel-rapl:0:2", 1_000_000).unwrap();
    f.set_energy("intel-rapl:1", 12_500_000).unwrap();
    let energy = sample(&mut sensor).unwrap().unwrap();
    assert!((energy.host_energy_joules - 12.5).abs() < 1e-9);
    assert!((zone_joules(&energy, "package-0") - 8.0).abs() < 1e-9);
    assert!(
        !energy
            .zones
            .iter()
            .find(|z| z.zone == "package-0")
            .unwrap()
            .counts_toward_host
    );
}

#[test]
fn amd_zones_are_read_too() {
    let dir = tempfile::tempdir().unwrap();
    let f = SysfsFixture::new(dir.path()).unwrap();
    f.zone("amd-rapl:0", "package-0", 10, MAX).unwrap();
    f.zone("amd-rapl:0:0", "core", 10, MAX).unwrap();
    // AMD on newer kernels also uses the intel-rapl names; both prefixes are read.
    let mut sensor = PowercapSensor::discover(f.root()).unwrap();
    sample(&mut sensor).unwrap();
    f.set_energy("amd-rapl:0", 7_000_010).unwrap();
    f.set_energy("amd-rapl:0:0", 6_000_010).unwrap();
    let energy = sample(&mut sensor).unwrap().unwrap();
    assert!((energy.host_energy_joules - 7.0).abs() < 1e-9);
}

#[test]
fn intel_rapl_mmio_duplicate_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let f = SysfsFixture::new(dir.path()).unwrap();
    f.zone("intel-rapl:0", "package-0", 0, MAX).unwrap();
    f.zone("intel-rapl-mmio:0", "package-0", 0, MAX).unwrap();
    let sensor = PowercapSensor::discover(f.root()).unwrap();
    assert_eq!(sensor.zones().len(), 1);
}

#[test]
fn wraparound_mid_interval_uses_max_energy_range() {
    let dir = tempfile::tempdir().unwrap();
    let f = SysfsFixture::new(dir.path()).unwrap();
    let max = 1_000_000_000;
    f.zone("intel-rapl:0", "package-0", max - 3_000_000, max)
        .unwrap();
    // A 1 kJ range wraps within 1 s at the 1 kW assumed without limits: declare 100 W.
    f.limits("intel-rapl:0", 80_000_000, 100_000_000).unwrap();
    let mut sensor = PowercapSensor::discover(f.root()).unwrap();
    sample(&mut sensor).unwrap();
    f.set_energy("intel-rapl:0", 2_000_000).unwrap();
    let energy = sample(&mut sensor).unwrap().unwrap();
    assert!(
        (energy.host_energy_joules - 5.0).abs() < 1e-9,
        "{}",
        energy.host_energy_joules
    );
}

#[test]
fn counter_delta_edge_cases() {
    assert_eq!(counter_delta_uj(10, 25, Some(100)), Some(15));
    assert_eq!(counter_delta_uj(90, 5, Some(100)), Some(15));
    assert_eq!(counter_delta_uj(90, 5, None), None);
    assert_eq!(counter_delta_uj(150, 5, Some(100)), None);
    assert_eq!(counter_delta_uj(7, 7, Some(100)), Some(0));
}

#[test]
fn unreadable_sub_zone_is_reported_and_host_still_measured() {
    let dir = tempfile::tempdir().unwrap();
    let f = two_socket_intel(dir.path());
    let mut sensor = PowercapSensor::discover(f.root()).unwrap();
    sample(&mut sensor).unwrap();
    f.make_unreadable("intel-rapl:1:0").unwrap();
    f.set_energy("intel-rapl:0", 2_000_000).unwrap();
    let energy = sample(&mut sensor).unwrap().unwrap();
    assert_eq!(energy.unavailable_zones.len(), 1);
    let problem = &energy.unavailable_zones[0];
    assert_eq!(problem.zone, "package-1/core");
    assert!(
        problem.reason.starts_with("unreadable"),
        "{}",
        problem.reason
    );
    assert!((energy.host_energy_joules - 1.0).abs() < 1e-9);
}

#[test]
fn unreadable_host_zone_is_an_error_not_a_guess() {
    let dir = tempfile::tempdir().unwrap();
    let f = two_socket_intel(dir.path());
    let mut sensor = PowercapSensor::discover(f.root()).unwrap();
    sample(&mut sensor).unwrap();
    f.make_unreadable("intel-rapl:1:1").unwrap();
    let err = sample(&mut sensor).unwrap_err();
    assert!(err.to_string().contains("package-1/dram"), "{err}");
}

#[test]
fn vanished_zone_is_reported_and_recovers_after_a_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let f = two_socket_intel(dir.path());
    let mut sensor = PowercapSensor::discover(f.root()).unwrap();
    sample(&mut sensor).unwrap();
    f.remove_zone("intel-rapl:1").unwrap();
    let err = sample(&mut sensor).unwrap_err();
    assert!(
        err.to_string().contains("package-1") && err.to_string().contains("vanished"),
        "{err}"
    );
    // It comes back: one interval without a baseline (reported), then figures again.
    f.zone("intel-rapl:1", "package-1", 5_000_000, MAX).unwrap();
    let err = sample(&mut sensor).unwrap_err();
    assert!(err.to_string().contains("no previous reading"), "{err}");
    f.set_energy("intel-rapl:1", 6_000_000).unwrap();
    let energy = sample(&mut sensor).unwrap().unwrap();
    assert!((zone_joules(&energy, "package-1") - 1.0).abs() < 1e-9);
}

#[test]
fn no_powercap_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let f = SysfsFixture::new(dir.path()).unwrap();
    assert!(matches!(
        PowercapSensor::discover(f.root()),
        Err(PowercapError::NoZones(_))
    ));
    // The control type alone, without zones, is still no powercap.
    f.control_type("intel-rapl").unwrap();
    assert!(matches!(
        PowercapSensor::discover(f.root()),
        Err(PowercapError::NoZones(_))
    ));
}

#[test]
fn permission_denied_message_says_how_to_grant_access() {
    let message = PowercapError::PermissionDenied {
        path: "/sys/class/powercap/intel-rapl:0/energy_uj".into(),
    }
    .to_string();
    assert!(message.contains("root"), "{message}");
    assert!(message.contains("chmod g+r"), "{message}");
    assert!(message.contains("--source estimated"), "{message}");
}

#[test]
fn declared_limits_set_the_wrap_bound_and_default_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let f = SysfsFixture::new(dir.path()).unwrap();
    f.zone("intel-rapl:0", "package-0", 0, MAX).unwrap();
    // Long-term 125 W, short-term 150 W: the higher one bounds the average power.
    f.limits("intel-rapl:0", 125_000_000, 150_000_000).unwrap();
    f.zone("intel-rapl:0:1", "dram", 0, MAX).unwrap();
    let sensor = PowercapSensor::discover(f.root()).unwrap();
    let package = &sensor.zones()[0];
    assert_eq!(package.max_power_uw, Some(150_000_000));
    let bound = package.wrap_bound_secs().unwrap();
    assert!((bound - MAX as f64 / 150e6).abs() < 1e-6, "{bound}");
    let dram = &sensor.zones()[1];
    assert_eq!(dram.max_power_uw, None);
    assert_eq!(dram.assumed_max_power_uw(), DEFAULT_MAX_ZONE_POWER_UW);
}

#[test]
fn one_failed_read_of_a_host_zone_keeps_the_baseline_and_loses_no_energy() {
    let dir = tempfile::tempdir().unwrap();
    let f = two_socket_intel(dir.path());
    let mut sensor = PowercapSensor::discover(f.root()).unwrap();
    assert!(sample(&mut sensor).unwrap().is_none());
    // 10 J on package-1 in the first interval, unreadable at its end.
    f.set_energy("intel-rapl:1", 2_000_000 + 10_000_000)
        .unwrap();
    f.set_energy("intel-rapl:0", 1_000_000 + 4_000_000).unwrap();
    f.make_unreadable("intel-rapl:1").unwrap();
    let err = sample(&mut sensor).unwrap_err();
    assert!(err.baseline_kept(), "{err}");
    assert_eq!(err.kind(), "zone_unavailable");
    let message = err.to_string();
    assert!(
        message.contains("package-1") && message.contains("last good reading is kept"),
        "{message}"
    );
    // 7 J more by the next reading: the figure covers both intervals, every zone alike.
    f.make_readable("intel-rapl:1", 2_000_000 + 17_000_000)
        .unwrap();
    f.set_energy("intel-rapl:0", 1_000_000 + 9_000_000).unwrap();
    let energy = sample(&mut sensor).unwrap().unwrap();
    assert!((zone_joules(&energy, "package-1") - 17.0).abs() < 1e-9);
    assert!((zone_joules(&energy, "package-0") - 9.0).abs() < 1e-9);
    assert!(
        (energy.host_energy_joules - 26.0).abs() < 1e-9,
        "{}",
        energy.host_energy_joules
    );
    assert!(energy
        .zones
        .iter()
        .all(|z| (z.span_secs - 2.0).abs() < 1e-9));
    assert!(energy.unavailable_zones.is_empty());
}

#[test]
fn a_wrap_inside_a_carried_span_is_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let f = SysfsFixture::new(dir.path()).unwrap();
    let max = 1_000_000_000; // 1 kJ
    f.zone("intel-rapl:0", "package-0", max - 3_000_000, max)
        .unwrap();
    f.limits("intel-rapl:0", 50_000_000, 100_000_000).unwrap(); // wraps in 10 s at most
    let mut sensor = PowercapSensor::discover(f.root()).unwrap();
    sample(&mut sensor).unwrap();
    f.make_unreadable("intel-rapl:0").unwrap();
    assert!(sample(&mut sensor).unwrap_err().baseline_kept());
    f.make_readable("intel-rapl:0", 2_000_000).unwrap();
    let energy = sample(&mut sensor).unwrap().unwrap();
    assert!(
        (energy.host_energy_joules - 5.0).abs() < 1e-9,
        "{}",
        energy.host_energy_joules
    );
}

#[test]
fn a_gap_longer_than_the_wrap_bound_is_refused_with_the_reason_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let f = SysfsFixture::new(dir.path()).unwrap();
    // 1 kJ range at up to 10 W: the counter cannot wrap twice within 100 s.
    f.zone("intel-rapl:0", "package-0", 0, 1_000_000_000)
        .unwrap();
    f.limits("intel-rapl:0", 8_000_000, 10_000_000).unwrap();
    let mut sensor = PowercapSensor::discover(f.root()).unwrap();
    assert!(sensor
        .sample(&ProcSnapshot::default(), 0.0)
        .unwrap()
        .is_none());
    f.make_unreadable("intel-rapl:0").unwrap();
    let err = sensor.sample(&ProcSnapshot::default(), 60.0).unwrap_err();
    assert!(err.baseline_kept(), "{err}");
    // Readable again 120 s after the last good reading: more than 100 s, so refused.
    f.make_readable("intel-rapl:0", 300_000_000).unwrap();
    let err = sensor.sample(&ProcSnapshot::default(), 60.0).unwrap_err();
    assert!(!err.baseline_kept(), "the energy of the gap is lost: {err}");
    assert_eq!(err.kind(), "zone_unavailable");
    let message = err.to_string();
    for part in [
        "package-0",
        "120.0 s since the last good reading",
        "wrapping twice",
        "max_energy_range_uj 1000000000 at up to 10 W: 100.0 s",
        "new baseline taken",
    ] {
        assert!(message.contains(part), "{part:?} not in {message}");
    }
    // The refused reading is the new baseline: the next interval is measured.
    f.set_energy("intel-rapl:0", 300_000_000 + 50_000_000)
        .unwrap();
    let energy = sensor
        .sample(&ProcSnapshot::default(), 10.0)
        .unwrap()
        .unwrap();
    assert!((energy.host_energy_joules - 50.0).abs() < 1e-9);
}

#[test]
fn a_span_of_several_intervals_needs_a_known_range() {
    let dir = tempfile::tempdir().unwrap();
    let f = SysfsFixture::new(dir.path()).unwrap();
    f.zone("intel-rapl:0", "package-0", 0, MAX).unwrap();
    std::fs::remove_file(
        f.root()
            .join("class/powercap/intel-rapl:0/max_energy_range_uj"),
    )
    .unwrap();
    let mut sensor = PowercapSensor::discover(f.root()).unwrap();
    sample(&mut sensor).unwrap();
    // One interval without a range: a forward delta is still taken (as before).
    f.set_energy("intel-rapl:0", 1_000_000).unwrap();
    assert!((sample(&mut sensor).unwrap().unwrap().host_energy_joules - 1.0).abs() < 1e-9);
    f.make_unreadable("intel-rapl:0").unwrap();
    assert!(sample(&mut sensor).unwrap_err().baseline_kept());
    f.make_readable("intel-rapl:0", 3_000_000).unwrap();
    let err = sample(&mut sensor).unwrap_err();
    assert!(
        err.to_string().contains("max_energy_range_uj is unknown"),
        "{err}"
    );
}

#[test]
fn an_unreadable_sub_zone_keeps_its_baseline_and_reports_its_span() {
    let dir = tempfile::tempdir().unwrap();
    let f = two_socket_intel(dir.path());
    let mut sensor = PowercapSensor::discover(f.root()).unwrap();
    sample(&mut sensor).unwrap();
    f.set_energy("intel-rapl:1:0", 600_000 + 3_000_000).unwrap();
    f.make_unreadable("intel-rapl:1:0").unwrap();
    let energy = sample(&mut sensor).unwrap().unwrap();
    let problem = &energy.unavailable_zones[0];
    assert!(
        problem.reason.contains("last good reading kept"),
        "{}",
        problem.reason
    );
    f.make_readable("intel-rapl:1:0", 600_000 + 5_000_000)
        .unwrap();
    let energy = sample(&mut sensor).unwrap().unwrap();
    let core = energy
        .zones
        .iter()
        .find(|z| z.zone == "package-1/core")
        .unwrap();
    assert!((core.energy_joules - 5.0).abs() < 1e-9);
    assert!((core.span_secs - 2.0).abs() < 1e-9, "{}", core.span_secs);
    let package = energy.zones.iter().find(|z| z.zone == "package-1").unwrap();
    assert!((package.span_secs - 1.0).abs() < 1e-9);
}
