//! Attribution tests: the idle/active split, CPU-time shares, containers and pods, new and
//! exited processes, and a property test for conservation and non-negativity.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;

use super::*;
use crate::sensors::cgroup::{ContainerRef, QosClass};
use crate::sensors::cgroup_cpu::PodCpuUsage;
use crate::sensors::procfs::{NodeCpuTimes, ProcessSample};

fn owner(pod: &str, container: &str) -> Owner {
    Owner::Container(ContainerRef {
        pod_uid: pod.into(),
        container_id: Some(container.into()),
        qos: QosClass::Burstable,
        runtime: None,
    })
}

fn delta(pid: u32, cpu_ticks: u64, owner: Owner) -> ProcessDelta {
    ProcessDelta {
        pid,
        comm: format!("p{pid}"),
        cpu_ticks,
        owner: owner.into(),
    }
}

fn parts_sum(a: &Attribution) -> f64 {
    a.idle_energy_joules + a.system_energy_joules + a.containers.values().sum::<f64>()
}

#[test]
fn kepler_split_worked_example() {
    // 100 J; node 1000 ticks of which 400 active. Processes used 200 + 100 + 50 ticks.
    let processes = [
        delta(1, 200, owner("pod-a", "c1")),
        delta(2, 100, owner("pod-a", "c2")),
        delta(3, 50, Owner::System),
    ];
    let a = attribute(100.0, 1000, 400, &processes);
    assert!((a.active_energy_joules - 40.0).abs() < 1e-9);
    assert!((a.idle_energy_joules - 60.0).abs() < 1e-9);
    let c1 = a.containers[&ContainerKey {
        pod_uid: "pod-a".into(),
        container_id: Some("c1".into()),
    }];
    assert!((c1 - 20.0).abs() < 1e-9); // 200/400 of 40 J
                                       // system: process 3 (5 J) + 50 unaccounted ticks (5 J)
    assert!((a.unaccounted_energy_joules - 5.0).abs() < 1e-9);
    assert!((a.system_energy_joules - 10.0).abs() < 1e-9);
    assert!((parts_sum(&a) - 100.0).abs() < 1e-9);
}

#[test]
fn process_ticks_above_node_active_are_scaled_down() {
    // Per-process counters read a moment later than /proc/stat can exceed the node's.
    let processes = [delta(1, 300, owner("p", "c")), delta(2, 300, Owner::System)];
    let a = attribute(10.0, 1000, 500, &processes);
    assert!((a.active_energy_joules - 5.0).abs() < 1e-9);
    assert!((a.containers.values().sum::<f64>() - 2.5).abs() < 1e-9);
    assert_eq!(a.unaccounted_energy_joules, 0.0);
    assert!((parts_sum(&a) - 10.0).abs() < 1e-9);
}

#[test]
fn idle_node_gives_everything_to_idle() {
    let a = attribute(50.0, 1000, 0, &[delta(1, 0, owner("p", "c"))]);
    assert_eq!(a.idle_energy_joules, 50.0);
    assert_eq!(a.containers.values().sum::<f64>(), 0.0);
    let a = attribute(50.0, 0, 0, &[]);
    assert_eq!(a.idle_energy_joules, 50.0);
}

fn sample(pid: u32, start_ticks: u64, cpu_ticks: u64) -> ProcessSample {
    ProcessSample {
        pid,
        start_ticks,
        comm: format!("p{pid}"),
        cpu_ticks,
        owner: Owner::System.into(),
    }
}

fn snapshot(processes: Vec<ProcessSample>) -> ProcSnapshot {
    ProcSnapshot {
        node: NodeCpuTimes::default(),
        processes,
        memory_used_bytes: 0,
    }
}

#[test]
fn deltas_for_new_exited_and_reused_processes() {
    let prev = snapshot(vec![
        sample(1, 10, 100),
        sample(2, 10, 50),
        sample(3, 10, 70),
    ]);
    // 1 continues, 2 exited, 3's PID was reused by a new process, 4 is new.
    let cur = snapshot(vec![
        sample(1, 10, 130),
        sample(3, 900, 5),
        sample(4, 950, 8),
    ]);
    let deltas = process_deltas(&prev, &cur);
    let got: Vec<(u32, u64)> = deltas.iter().map(|d| (d.pid, d.cpu_ticks)).collect();
    assert_eq!(got, [(1, 30), (3, 5), (4, 8)]);
}

proptest! {
    #[test]
    fn parts_add_up_and_nothing_is_negative(
        host_energy_joules in 0.0f64..1e6,
        node_total_ticks in 0u64..1_000_000,
        active_fraction in 0.0f64..=1.2,
        processes in prop::collection::vec((0u64..100_000, 0usize..4, 0usize..3), 0..200),
    ) {
        let node_active_ticks = (node_total_ticks as f64 * active_fraction) as u64;
        let deltas: Vec<ProcessDelta> = processes
            .iter()
            .enumerate()
            .map(|(i, (ticks, pod, container))| {
                let owner = if *pod == 0 { Owner::System } else { owner(&format!("pod{pod}"), &format!("c{container}")) };
                delta(i as u32, *ticks, owner)
            })
            .collect();
        let a = attribute(host_energy_joules, node_total_ticks, node_active_ticks, &deltas);
        let tolerance = 1e-9 * host_energy_joules.max(1.0);
        prop_assert!((parts_sum(&a) - host_energy_joules).abs() <= tolerance,
            "parts {} host {}", parts_sum(&a), host_energy_joules);
        prop_assert!(a.idle_energy_joules >= 0.0);
        prop_assert!(a.system_energy_joules >= 0.0);
        prop_assert!(a.unaccounted_energy_joules >= 0.0);
        prop_assert!(a.containers.values().all(|e| *e >= 0.0));
        prop_assert!(a.processes.iter().all(|p| p.energy_joules >= 0.0));
        let process_sum: f64 = a.processes.iter().map(|p| p.energy_joules).sum();
        prop_assert!((process_sum + a.unaccounted_energy_joules - a.active_energy_joules).abs() <= tolerance);
    }
}

fn container(pod: &str, id: &str) -> ContainerKey {
    ContainerKey {
        pod_uid: pod.into(),
        container_id: Some(id.into()),
    }
}

fn pod_level(pod: &str) -> ContainerKey {
    ContainerKey {
        pod_uid: pod.into(),
        container_id: None,
    }
}

fn cgroup(usage_usec: u64, containers: &[(&str, u64)]) -> PodCpuUsage {
    PodCpuUsage {
        usage_usec,
        containers: containers
            .iter()
            .map(|(id, usage)| (id.to_string(), *usage))
            .collect(),
    }
}

#[test]
fn a_pods_share_comes_from_its_cgroup_exited_processes_included() {
    // 100 J; node 1000 ticks, 400 active (4 s). pod-a's cgroup used 2 s: 1.5 s in c1, 0.3 s in
    // c2 and 0.2 s in containers that ended; only one of its processes is alive (0.5 s, c1).
    let processes = [
        delta(1, 50, owner("pod-a", "c1")),
        delta(2, 50, Owner::System),
    ];
    let pods = BTreeMap::from([(
        "pod-a".to_string(),
        cgroup(2_000_000, &[("c1", 1_500_000), ("c2", 300_000)]),
    )]);
    let a = attribute_interval(
        100.0,
        &CpuInterval {
            node_total_ticks: 1000,
            node_active_ticks: 400,
            processes: &processes,
            pod_cgroups: &pods,
        },
    );
    assert!((a.active_energy_joules - 40.0).abs() < 1e-9);
    // The pod: 2 of 4 active seconds, 20 J, split 15 / 3 / 2 by its cgroups.
    assert!((a.containers[&container("pod-a", "c1")] - 15.0).abs() < 1e-9);
    assert!((a.containers[&container("pod-a", "c2")] - 3.0).abs() < 1e-9);
    assert!((a.containers[&pod_level("pod-a")] - 2.0).abs() < 1e-9);
    // The live process of c1: 0.5 of its 1.5 s.
    let p1 = a.processes.iter().find(|p| p.pid == 1).unwrap();
    assert!((p1.energy_joules - 5.0).abs() < 1e-9);
    // System: process 2 (0.5 s, 5 J) and the 1.5 s nothing accounts for (15 J).
    assert!((a.unaccounted_energy_joules - 15.0).abs() < 1e-9);
    assert!((a.system_energy_joules - 20.0).abs() < 1e-9);
    assert!((parts_sum(&a) - 100.0).abs() < 1e-9);
}

#[test]
fn a_pod_without_cgroup_figures_is_measured_by_its_processes() {
    let processes = [
        delta(1, 100, owner("by-cgroup", "c1")),
        delta(2, 100, owner("by-processes", "c2")),
    ];
    // by-cgroup used 3 s although its live process shows 1 s; the node 10 s of 10 s.
    let pods = BTreeMap::from([(
        "by-cgroup".to_string(),
        cgroup(3_000_000, &[("c1", 3_000_000)]),
    )]);
    let a = attribute_interval(
        10.0,
        &CpuInterval {
            node_total_ticks: 1000,
            node_active_ticks: 1000,
            processes: &processes,
            pod_cgroups: &pods,
        },
    );
    assert!((a.containers[&container("by-cgroup", "c1")] - 3.0).abs() < 1e-9);
    assert!((a.containers[&container("by-processes", "c2")] - 1.0).abs() < 1e-9);
    assert!(!a.containers.contains_key(&pod_level("by-cgroup")));
    assert!((a.system_energy_joules - 6.0).abs() < 1e-9);
    assert!((parts_sum(&a) - 10.0).abs() < 1e-9);
}

#[test]
fn cgroup_figures_above_the_nodes_are_scaled_down() {
    // Read a moment after /proc/stat, the pods' usage can exceed the node's active time.
    let pods = BTreeMap::from([
        ("p".to_string(), cgroup(3_000_000, &[("c", 3_500_000)])),
        ("q".to_string(), cgroup(3_000_000, &[])),
    ]);
    let a = attribute_interval(
        12.0,
        &CpuInterval {
            node_total_ticks: 1000,
            node_active_ticks: 500,
            processes: &[],
            pod_cgroups: &pods,
        },
    );
    // 6 J active shared 3:3; p's container cgroup (3.5 s > the pod's 3 s) takes all of p's.
    assert!((a.containers[&container("p", "c")] - 3.0).abs() < 1e-9);
    assert!(!a.containers.contains_key(&pod_level("p")));
    assert!((a.containers[&pod_level("q")] - 3.0).abs() < 1e-9);
    assert_eq!(a.unaccounted_energy_joules, 0.0);
    assert!((parts_sum(&a) - 12.0).abs() < 1e-9);
}

proptest! {
    #[test]
    fn with_cgroups_parts_add_up_and_nothing_is_negative(
        host_energy_joules in 0.0f64..1e6,
        node_total_ticks in 0u64..1_000_000,
        active_fraction in 0.0f64..=1.2,
        processes in prop::collection::vec((0u64..100_000, 0usize..6, 0usize..3), 0..100),
        pods in prop::collection::vec((1usize..6, 0u64..1_000_000_000, prop::collection::vec(0u64..500_000_000, 0..3)), 0..5),
    ) {
        let node_active_ticks = (node_total_ticks as f64 * active_fraction) as u64;
        let deltas: Vec<ProcessDelta> = processes
            .iter()
            .enumerate()
            .map(|(i, (ticks, pod, container))| {
                let owner = if *pod == 0 { Owner::System } else { owner(&format!("pod{pod}"), &format!("c{container}")) };
                delta(i as u32, *ticks, owner)
            })
            .collect();
        let pod_cgroups: BTreeMap<String, PodCpuUsage> = pods
            .iter()
            .map(|(pod, usage, containers)| {
                let containers = containers.iter().enumerate().map(|(c, u)| (format!("c{c}"), *u)).collect();
                (format!("pod{pod}"), PodCpuUsage { usage_usec: *usage, containers })
            })
            .collect();
        let a = attribute_interval(host_energy_joules, &CpuInterval {
            node_total_ticks,
            node_active_ticks,
            processes: &deltas,
            pod_cgroups: &pod_cgroups,
        });
        let tolerance = 1e-9 * host_energy_joules.max(1.0);
        prop_assert!((parts_sum(&a) - host_energy_joules).abs() <= tolerance,
            "parts {} host {}", parts_sum(&a), host_energy_joules);
        prop_assert!(a.idle_energy_joules >= 0.0);
        prop_assert!(a.unaccounted_energy_joules >= 0.0);
        prop_assert!(a.containers.values().all(|e| *e >= 0.0));
        prop_assert!(a.processes.iter().all(|p| p.energy_joules >= 0.0));
        // A container's live processes never get more than the container.
        for (key, energy) in &a.containers {
            let processes: f64 = a.processes.iter()
                .filter(|p| p.pod_uid.as_deref() == Some(key.pod_uid.as_str()) && p.container_id == key.container_id)
                .map(|p| p.energy_joules)
                .sum();
            let measured = key.container_id.as_ref().is_none_or(|id| pod_cgroups.get(&key.pod_uid).is_none_or(|c| c.containers.contains_key(id)));
            if measured {
                prop_assert!(processes <= energy + tolerance, "{key:?}: {processes} > {energy}");
            }
        }
    }
}
