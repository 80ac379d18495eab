//! Mapping a process to its pod and container from `/proc/PID/cgroup` (v1 and v2; systemd and
//! cgroupfs drivers; containerd, cri-o and docker; every QoS class; k3s/kind prefixes).

use serde::Serialize;

/// Kubernetes QoS class, read from the cgroup path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QosClass {
    Guaranteed,
    Burstable,
    BestEffort,
}

/// The container runtime named by the cgroup leaf, when it names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    Containerd,
    Crio,
    Docker,
    /// cgroupfs driver: a bare 64-hex id, runtime not named.
    Unnamed,
}

/// The pod (and container, when known) a process belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ContainerRef {
    /// Pod UID with dashes, lowercase.
    pub pod_uid: String,
    /// 64-hex container id; `None` for processes in the pod's own cgroup (e.g. cri-o's conmon).
    pub container_id: Option<String>,
    pub qos: QosClass,
    pub runtime: Option<Runtime>,
}

/// Who owns a process's CPU time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Owner {
    /// Outside any pod: the kubelet, the runtime, the OS.
    System,
    Container(ContainerRef),
}

/// Parses the contents of `/proc/PID/cgroup`. Every line (one per v1 hierarchy, or the single
/// v2 `0::/path` line) is tried; the first path that names a pod wins.
pub fn parse_cgroup_file(contents: &str) -> Owner {
    contents
        .lines()
        .filter_map(|line| line.splitn(3, ':').nth(2))
        .find_map(parse_cgroup_path)
        .map_or(Owner::System, Owner::Container)
}

/// Parses one cgroup path. Position-independent: any prefix (k3s, kind's `/kubelet.slice`,
/// a docker-in-docker `/docker/<id>`) may come before the `kubepods` part.
pub fn parse_cgroup_path(path: &str) -> Option<ContainerRef> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let kube_at = segments.iter().position(|s| s.contains("kubepods"))?;
    let (pod_at, pod_uid) = segments
        .iter()
        .enumerate()
        .skip(kube_at)
        .find_map(|(i, s)| pod_uid_of(s).map(|uid| (i, uid)))?;
    let qos = segments[kube_at..pod_at]
        .iter()
        .chain(std::iter::once(&segments[pod_at]))
        .find_map(|s| qos_of(s))
        .unwrap_or(QosClass::Guaranteed);
    let (container_id, runtime) = match segments.get(pod_at + 1).and_then(|s| container_of(s)) {
        Some((id, runtime)) => (Some(id), Some(runtime)),
        None => (None, None),
    };
    Some(ContainerRef {
        pod_uid,
        container_id,
        qos,
        runtime,
    })
}

/// `pod<uid>` (cgroupfs) or `kubepods[-qos]-pod<uid_with_underscores>.slice` (systemd).
pub(crate) fn pod_uid_of(segment: &str) -> Option<String> {
    let segment = segment.strip_suffix(".slice").unwrap_or(segment);
    let at = segment.rfind("pod")?;
    let uid = &segment[at + 3..];
    if !is_uid(uid) {
        return None;
    }
    Some(uid.replace('_', "-").to_ascii_lowercase())
}

fn is_uid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-' || c == '_',
            _ => c.is_ascii_hexdigit(),
        })
}

fn qos_of(segment: &str) -> Option<QosClass> {
    if segment.contains("besteffort") {
        Some(QosClass::BestEffort)
    } else if segment.contains("burstable") {
        Some(QosClass::Burstable)
    } else {
        None
    }
}

/// `cri-containerd-<id>.scope`, `crio-<id>.scope`, `docker-<id>.scope`, or a bare `<id>`.
pub(crate) fn container_of(segment: &str) -> Option<(String, Runtime)> {
    let name = segment.strip_suffix(".scope").unwrap_or(segment);
    let (runtime, id) = if let Some(id) = name.strip_prefix("cri-containerd-") {
        (Runtime::Containerd, id)
    } else if let Some(id) = name.strip_prefix("crio-") {
        (Runtime::Crio, id)
    } else if let Some(id) = name.strip_prefix("docker-") {
        (Runtime::Docker, id)
    } else {
        (Runtime::Unnamed, name)
    };
    let is_id = id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit());
    is_id.then(|| (id.to_ascii_lowercase(), runtime))
}

#[cfg(test)]
#[path = "cgroup_tests.rs"]
mod tests;
