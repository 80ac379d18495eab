//! cgroup CPU usage on generated cgroup trees: v2 and v1, every driver and prefix the agent
//! understands, deltas for new, ended and recreated cgroups, and hierarchies that come and go.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::testing::CgroupFixture;

fn uid(n: u32) -> String {
    format!("{n:08x}-0000-4000-8000-{n:012x}")
}

fn id(n: u32) -> String {
    format!("{n:064x}")
}

/// (pod cgroup, container cgroup) for pod `n` in a layout; `{u}` is the UID, `{us}` the UID
/// with underscores, `{id}` the container id.
fn paths(layout: &str, n: u32) -> (String, String) {
    let (u, i) = (uid(n), id(n));
    let us = u.replace('-', "_");
    let pod = layout.replace("{u}", &u).replace("{us}", &us);
    let (pod_dir, container) = pod.rsplit_once('/').unwrap();
    (
        pod_dir.to_string(),
        format!("{pod_dir}/{}", container.replace("{id}", &i)),
    )
}

const V2_LAYOUTS: [&str; 9] = [
    "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{us}.slice/cri-containerd-{id}.scope",
    "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{us}.slice/crio-{id}.scope",
    "/kubepods.slice/kubepods-pod{us}.slice/docker-{id}.scope",
    "/kubepods/burstable/pod{u}/{id}",
    "/kubepods/pod{u}/{id}",
    "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod{us}.slice/cri-containerd-{id}.scope",
    "/k3s/kubepods/burstable/pod{u}/{id}",
    "/docker/aaaa/kubepods/besteffort/pod{u}/{id}",
    "/kubepods.slice/kubepods-pod{us}.slice/cri-containerd-{id}.scope",
];

#[test]
fn v2_every_layout_gives_pod_and_container_usage() {
    let dir = tempfile::tempdir().unwrap();
    let f = CgroupFixture::new(dir.path(), CgroupVersion::V2).unwrap();
    f.usage("/system.slice/containerd.service", 9_999).unwrap();
    f.usage("/user.slice/user-1000.slice/session-1.scope", 1)
        .unwrap();
    for (n, layout) in (1..).zip(V2_LAYOUTS) {
        let (pod, container) = paths(layout, n);
        f.usage(&pod, 1_000 * u64::from(n)).unwrap();
        f.usage(&container, 900 * u64::from(n)).unwrap();
    }
    // cri-o's conmon sits in the pod's cgroup beside the containers: not a container.
    let (pod, _) = paths(V2_LAYOUTS[1], 2);
    f.usage(&format!("{pod}/crio-conmon-{}.scope", id(2)), 50)
        .unwrap();

    let mut reader = CgroupCpuReader::new(dir.path().join("fs/cgroup"));
    let snapshot = reader.snapshot();
    assert!(snapshot.complete);
    assert_eq!(reader.version(), Some(CgroupVersion::V2));
    assert_eq!(snapshot.pods.len(), V2_LAYOUTS.len());
    for n in 1..=V2_LAYOUTS.len() as u32 {
        let pod = &snapshot.pods[&uid(n)];
        assert_eq!(pod.usage_usec, 1_000 * u64::from(n), "layout {n}");
        assert_eq!(
            pod.containers,
            BTreeMap::from([(id(n), 900 * u64::from(n))]),
            "layout {n}"
        );
    }
}

#[test]
fn v1_reads_cpuacct_usage_in_nanoseconds() {
    let dir = tempfile::tempdir().unwrap();
    let f = CgroupFixture::new(dir.path(), CgroupVersion::V1).unwrap();
    for (n, layout) in (1..).zip([
        "/kubepods/burstable/pod{u}/{id}",
        "/kubepods/pod{u}/{id}",
        "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{us}.slice/docker-{id}.scope",
    ]) {
        let (pod, container) = paths(layout, n);
        f.usage(&pod, 2_000 * u64::from(n)).unwrap();
        f.usage(&container, 1_500 * u64::from(n)).unwrap();
    }
    let mut reader = CgroupCpuReader::new(dir.path().join("fs/cgroup"));
    let snapshot = reader.snapshot();
    assert!(snapshot.complete);
    assert_eq!(reader.version(), Some(CgroupVersion::V1));
    assert_eq!(snapshot.pods.len(), 3);
    assert_eq!(snapshot.pods[&uid(3)].usage_usec, 6_000);
    assert_eq!(snapshot.pods[&uid(3)].containers[&id(3)], 4_500);
}

fn pod(usage_usec: u64, containers: &[(&str, u64)]) -> PodCpuUsage {
    PodCpuUsage {
        usage_usec,
        containers: containers
            .iter()
            .map(|(id, usage)| (id.to_string(), *usage))
            .collect(),
    }
}

fn snapshot(pods: &[(&str, PodCpuUsage)]) -> CgroupCpuSnapshot {
    CgroupCpuSnapshot {
        complete: true,
        pods: pods
            .iter()
            .map(|(uid, usage)| (uid.to_string(), usage.clone()))
            .collect(),
    }
}

#[test]
fn deltas_for_running_new_ended_and_recreated_cgroups() {
    let prev = snapshot(&[
        ("steady", pod(1_000, &[("a", 600), ("gone", 300)])),
        ("recreated", pod(5_000, &[("c", 5_000)])),
        ("deleted", pod(7_000, &[])),
    ]);
    let cur = snapshot(&[
        // Container `gone` ended (its time stays in the pod's); `new` started.
        ("steady", pod(1_900, &[("a", 1_000), ("new", 200)])),
        ("recreated", pod(40, &[("c", 40)])),
        ("born", pod(300, &[("b", 250)])),
    ]);
    let deltas = pod_cpu_deltas(&prev, &cur);
    assert_eq!(
        deltas,
        BTreeMap::from([
            ("steady".to_string(), pod(900, &[("a", 400), ("new", 200)])),
            ("recreated".to_string(), pod(40, &[("c", 40)])),
            ("born".to_string(), pod(300, &[("b", 250)])),
        ])
    );
}

#[test]
fn no_deltas_against_an_incomplete_snapshot() {
    let complete = snapshot(&[("p", pod(10, &[]))]);
    let incomplete = CgroupCpuSnapshot::default();
    assert!(pod_cpu_deltas(&incomplete, &complete).is_empty());
    assert!(pod_cpu_deltas(&complete, &incomplete).is_empty());
}

#[test]
fn no_cgroups_until_the_kubelet_creates_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut reader = CgroupCpuReader::new(dir.path().join("fs/cgroup"));
    let none = reader.snapshot();
    assert!(!none.complete && none.pods.is_empty());
    assert_eq!(reader.version(), None);
    let f = CgroupFixture::new(dir.path(), CgroupVersion::V2).unwrap();
    let (pod_dir, _) = paths(V2_LAYOUTS[0], 1);
    f.usage(&pod_dir, 10).unwrap();
    // Looked for again within REDISCOVER_EVERY_READINGS readings.
    let found = (0..=REDISCOVER_EVERY_READINGS)
        .map(|_| reader.snapshot())
        .find(|s| s.complete)
        .unwrap();
    assert_eq!(found.pods[&uid(1)].usage_usec, 10);
}

#[test]
fn a_kubepods_directory_that_goes_away_is_looked_for_again() {
    let dir = tempfile::tempdir().unwrap();
    let f = CgroupFixture::new(dir.path(), CgroupVersion::V2).unwrap();
    let (pod_dir, _) = paths(V2_LAYOUTS[3], 1);
    f.usage(&pod_dir, 10).unwrap();
    let mut reader = CgroupCpuReader::new(dir.path().join("fs/cgroup"));
    assert!(reader.snapshot().complete);
    f.remove("/kubepods").unwrap();
    assert!(!reader.snapshot().complete);
    let (pod_dir, _) = paths(V2_LAYOUTS[0], 2);
    f.usage(&pod_dir, 20).unwrap();
    let found = (0..=REDISCOVER_EVERY_READINGS)
        .map(|_| reader.snapshot())
        .find(|s| s.complete)
        .unwrap();
    assert_eq!(found.pods.keys().collect::<Vec<_>>(), [&uid(2)]);
}

#[test]
fn usage_usec_is_read_from_cpu_stat() {
    let stat = "usage_usec 12345\nuser_usec 10000\nsystem_usec 2345\nnr_periods 0\n";
    assert_eq!(parse_cpu_stat_usage_usec(stat), Some(12_345));
    assert_eq!(parse_cpu_stat_usage_usec("user_usec 5\n"), None);
    assert_eq!(parse_cpu_stat_usage_usec("usage_usec x\n"), None);
}
