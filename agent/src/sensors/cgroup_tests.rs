//! cgroup parsing: v1 and v2, systemd and cgroupfs drivers, containerd/cri-o/docker, every QoS
//! class, k3s and kind prefixes, and processes outside pods.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

const UID: &str = "0b5f0a8c-2a43-4c34-9a8e-1b2c3d4e5f60";
const UID_US: &str = "0b5f0a8c_2a43_4c34_9a8e_1b2c3d4e5f60";
const ID: &str = "3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a19";

fn container(contents: &str) -> ContainerRef {
    match parse_cgroup_file(contents) {
        Owner::Container(c) => c,
        Owner::System => panic!("expected a container for {contents:?}"),
    }
}

fn expect(contents: &str, qos: QosClass, runtime: Runtime) {
    let c = container(contents);
    assert_eq!(c.pod_uid, UID, "{contents}");
    assert_eq!(c.container_id.as_deref(), Some(ID), "{contents}");
    assert_eq!(c.qos, qos, "{contents}");
    assert_eq!(c.runtime, Some(runtime), "{contents}");
}

#[test]
fn v2_systemd_every_runtime_and_qos() {
    for (prefix, runtime) in [
        ("cri-containerd-", Runtime::Containerd),
        ("crio-", Runtime::Crio),
        ("docker-", Runtime::Docker),
    ] {
        expect(
            &format!("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_US}.slice/{prefix}{ID}.scope\n"),
            QosClass::Burstable,
            runtime,
        );
        expect(
            &format!("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_US}.slice/{prefix}{ID}.scope\n"),
            QosClass::BestEffort,
            runtime,
        );
        // Guaranteed pods sit directly under kubepods.slice.
        expect(
            &format!("0::/kubepods.slice/kubepods-pod{UID_US}.slice/{prefix}{ID}.scope\n"),
            QosClass::Guaranteed,
            runtime,
        );
    }
}

#[test]
fn v2_cgroupfs_every_qos() {
    expect(
        &format!("0::/kubepods/burstable/pod{UID}/{ID}\n"),
        QosClass::Burstable,
        Runtime::Unnamed,
    );
    expect(
        &format!("0::/kubepods/besteffort/pod{UID}/{ID}\n"),
        QosClass::BestEffort,
        Runtime::Unnamed,
    );
    expect(
        &format!("0::/kubepods/pod{UID}/{ID}\n"),
        QosClass::Guaranteed,
        Runtime::Unnamed,
    );
    expect(
        &format!("0::/kubepods/pod{UID}/crio-{ID}\n"),
        QosClass::Guaranteed,
        Runtime::Crio,
    );
}

#[test]
fn v1_lines_per_hierarchy() {
    let systemd = format!(
        "12:pids:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_US}.slice/docker-{ID}.scope\n\
         11:cpu,cpuacct:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_US}.slice/docker-{ID}.scope\n\
         1:name=systemd:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_US}.slice/docker-{ID}.scope\n\
         0::/\n"
    );
    expect(&systemd, QosClass::BestEffort, Runtime::Docker);
    let cgroupfs = format!(
        "11:memory:/kubepods/burstable/pod{UID}/{ID}\n10:cpu,cpuacct:/kubepods/burstable/pod{UID}/{ID}\n"
    );
    expect(&cgroupfs, QosClass::Burstable, Runtime::Unnamed);
    // A v1 file whose first lines are not pod paths still finds the pod further down.
    let mixed = format!("3:rdma:/\n2:cpu:/kubepods/pod{UID}/{ID}\n");
    expect(&mixed, QosClass::Guaranteed, Runtime::Unnamed);
}

#[test]
fn k3s_and_kind_prefixes() {
    // kind: kubelet cgroup root /kubelet, nested in the node container's cgroup.
    expect(
        &format!("0::/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod{UID_US}.slice/cri-containerd-{ID}.scope\n"),
        QosClass::Burstable,
        Runtime::Containerd,
    );
    expect(
        &format!("0::/docker/1234abcd/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod{UID_US}.slice/cri-containerd-{ID}.scope\n"),
        QosClass::Guaranteed,
        Runtime::Containerd,
    );
    // k3s (cgroupfs driver) and k3d (k3s in docker).
    expect(
        &format!("0::/k3s/kubepods/besteffort/pod{UID}/{ID}\n"),
        QosClass::BestEffort,
        Runtime::Unnamed,
    );
    expect(
        &format!("0::/docker/5e6f/kubepods/burstable/pod{UID}/{ID}\n"),
        QosClass::Burstable,
        Runtime::Unnamed,
    );
}

#[test]
fn pod_level_processes_have_no_container() {
    let c = container(&format!(
        "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_US}.slice/crio-conmon-{ID}.scope\n"
    ));
    assert_eq!(c.pod_uid, UID);
    assert_eq!(c.container_id, None);
    let c = container(&format!("0::/kubepods/burstable/pod{UID}\n"));
    assert_eq!(c.container_id, None);
}

#[test]
fn processes_outside_pods_are_system() {
    for contents in [
        "0::/system.slice/kubelet.service\n",
        "0::/init.scope\n",
        "0::/user.slice/user-1000.slice/session-3.scope\n",
        "0::/kubepods.slice\n",
        "0::/kubepods.slice/kubepods-burstable.slice\n",
        "12:pids:/system.slice/containerd.service\n1:name=systemd:/system.slice/containerd.service\n",
        "",
        "garbage without colons\n",
        // "pod" followed by something that is not a UID.
        "0::/kubepods/burstable/podnotauid/abc\n",
    ] {
        assert_eq!(parse_cgroup_file(contents), Owner::System, "{contents:?}");
    }
}

#[test]
fn uppercase_ids_are_normalised() {
    let upper_uid = UID.to_uppercase();
    let upper_id = ID.to_uppercase();
    let c = container(&format!("0::/kubepods/pod{upper_uid}/{upper_id}\n"));
    assert_eq!(c.pod_uid, UID);
    assert_eq!(c.container_id.as_deref(), Some(ID));
}

proptest::proptest! {
    #[test]
    fn arbitrary_cgroup_files_never_panic(contents in "\\PC{0,400}") {
        let _ = parse_cgroup_file(&contents);
    }

    #[test]
    fn arbitrary_kubepods_paths_never_panic(tail in "[a-z0-9_./:-]{0,200}") {
        let _ = parse_cgroup_file(&format!("0::/kubepods/{tail}\n"));
        let _ = parse_cgroup_file(&format!("0::/kubepods.slice/kubepods-pod{tail}.slice/x\n"));
    }
}
