//! Metrics exposition: the names the issue asks for, labels, and stale pod power removed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use canopy_protocol::{EnergySource, PodEnergy};
use time::macros::datetime;

use super::*;
use crate::report::{IntervalReport, ZoneReport};

fn report(pods: Vec<PodEnergy>) -> IntervalReport {
    IntervalReport {
        node: "n".into(),
        source: EnergySource::Measured,
        start: datetime!(2026-01-01 00:00:00 UTC),
        end: datetime!(2026-01-01 00:00:10 UTC),
        interval_secs: 10.0,
        spans_intervals: 1,
        host_energy_joules: 100.0,
        host_power_watts: 10.0,
        zones: vec![ZoneReport {
            zone: "package-0".into(),
            energy_joules: 100.0,
            power_watts: 10.0,
            counts_toward_host: true,
            span_secs: 10.0,
        }],
        unavailable_zones: vec![],
        idle_energy_joules: 60.0,
        system_energy_joules: 20.0,
        unaccounted_energy_joules: 0.0,
        processes: vec![],
        pod_totals: crate::report::pod_totals(&pods),
        pods,
    }
}

fn pod(name: &str, energy_joules: f64) -> PodEnergy {
    PodEnergy {
        pod_uid: format!("uid-{name}"),
        namespace: Some("shop".into()),
        pod: Some(name.into()),
        container: Some("app".into()),
        container_id: None,
        labels: Default::default(),
        energy_joules,
    }
}

#[test]
fn exposition_has_the_issue_metric_names() {
    let metrics = Metrics::new();
    metrics.record(&report(vec![pod("cart", 20.0)]));
    metrics.record(&report(vec![pod("cart", 20.0)]));
    metrics.error("procfs");
    metrics.observe_cycle_secs(0.002);
    let text = metrics.encode().unwrap();
    for needle in [
        "canopy_node_energy_joules_total{zone=\"package-0\",source=\"measured\"} 200.0",
        "canopy_node_power_watts{source=\"measured\"} 10.0",
        "canopy_pod_energy_joules_total{namespace=\"shop\",pod=\"cart\",container=\"app\",source=\"measured\"} 40.0",
        "canopy_pod_power_watts{namespace=\"shop\",pod=\"cart\",container=\"app\",source=\"measured\"} 2.0",
        "canopy_node_idle_energy_joules_total 120.0",
        "canopy_agent_errors_total{kind=\"procfs\"} 1",
        "canopy_agent_scrape_duration_seconds_count 1",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
}

#[test]
fn power_of_pods_gone_from_the_node_is_removed() {
    let metrics = Metrics::new();
    metrics.record(&report(vec![pod("cart", 20.0), pod("web", 10.0)]));
    metrics.record(&report(vec![pod("web", 10.0)]));
    let text = metrics.encode().unwrap();
    assert!(
        !text.contains("canopy_pod_power_watts{namespace=\"shop\",pod=\"cart\""),
        "{text}"
    );
    assert!(
        text.contains("canopy_pod_power_watts{namespace=\"shop\",pod=\"web\""),
        "{text}"
    );
    // The energy counter stays.
    assert!(
        text.contains("canopy_pod_energy_joules_total{namespace=\"shop\",pod=\"cart\""),
        "{text}"
    );
}
