//! Attribution: host energy split into idle and active by node CPU usage, active energy shared
//! by CPU time among pods (their cgroups' usage, exited processes included) and processes
//! outside pods, then within each pod among its containers and live processes; the parts add
//! up to the host.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Serialize;

use crate::sensors::cgroup::Owner;
use crate::sensors::cgroup_cpu::PodCpuUsage;
use crate::sensors::procfs::{ProcSnapshot, USEC_PER_TICK};

/// CPU time one process used during an interval.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessDelta {
    pub pid: u32,
    pub comm: String,
    pub cpu_ticks: u64,
    pub owner: Arc<Owner>,
}

/// A (pod, container) pair; `container_id` is `None` for processes in the pod's own cgroup.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ContainerKey {
    pub pod_uid: String,
    pub container_id: Option<String>,
}

/// Energy attributed to one process.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessEnergy {
    pub pid: u32,
    pub comm: String,
    pub cpu_ticks: u64,
    pub energy_joules: f64,
    /// `None` for processes outside pods (counted as system).
    pub pod_uid: Option<String>,
    pub container_id: Option<String>,
}

/// One interval's attribution.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Attribution {
    pub host_energy_joules: f64,
    pub idle_energy_joules: f64,
    pub active_energy_joules: f64,
    /// Processes outside pods plus `unaccounted_energy_joules`.
    pub system_energy_joules: f64,
    /// Active CPU time nothing accounts for: kernel work, processes outside pods that exited,
    /// pods measured by their live processes only (no cgroup figures) whose processes exited.
    pub unaccounted_energy_joules: f64,
    pub processes: Vec<ProcessEnergy>,
    pub containers: BTreeMap<ContainerKey, f64>,
}

/// CPU ticks each process used between two snapshots. A process is the pair (PID, start
/// time): a PID reused by a new process is a new process. A process absent from `prev` started
/// during the interval, so all its CPU time belongs to it; one absent from `cur` exited, and
/// the CPU time it used since `prev` is unknown here (its pod's cgroup still counts it; outside
/// pods, or without cgroup figures, it ends up unaccounted, in system).
pub fn process_deltas(prev: &ProcSnapshot, cur: &ProcSnapshot) -> Vec<ProcessDelta> {
    let before: HashMap<(u32, u64), u64> = prev
        .processes
        .iter()
        .map(|p| ((p.pid, p.start_ticks), p.cpu_ticks))
        .collect();
    cur.processes
        .iter()
        .map(|p| {
            let base = before.get(&(p.pid, p.start_ticks)).copied().unwrap_or(0);
            ProcessDelta {
                pid: p.pid,
                comm: p.comm.clone(),
                cpu_ticks: p.cpu_ticks.saturating_sub(base),
                owner: Arc::clone(&p.owner),
            }
        })
        .collect()
}

/// CPU time on the node over one interval, as the attribution needs it.
#[derive(Debug, Clone, Copy)]
pub struct CpuInterval<'a> {
    /// All CPUs' time from `/proc/stat`, in ticks.
    pub node_total_ticks: u64,
    /// Of which not idle (nor iowait).
    pub node_active_ticks: u64,
    /// CPU time of the processes alive at the end of the interval.
    pub processes: &'a [ProcessDelta],
    /// CPU time by pod cgroup (exited processes included), by pod UID. A pod not listed here
    /// is measured by its live processes instead.
    pub pod_cgroups: &'a BTreeMap<String, PodCpuUsage>,
}

/// Splits `host_energy_joules` for an interval in which the node used `node_total_ticks` of
/// CPU time, `node_active_ticks` of them not idle, by the live processes' CPU time alone
/// ([`attribute_interval`] without cgroup figures).
pub fn attribute(
    host_energy_joules: f64,
    node_total_ticks: u64,
    node_active_ticks: u64,
    processes: &[ProcessDelta],
) -> Attribution {
    attribute_interval(
        host_energy_joules,
        &CpuInterval {
            node_total_ticks,
            node_active_ticks,
            processes,
            pod_cgroups: &BTreeMap::new(),
        },
    )
}

/// Energy `e` times `part / whole` (the ratio first, so a whole is exactly `e`), 0 when
/// `whole` is 0.
fn portion(e: f64, part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        e * (part as f64 / whole as f64)
    }
}

/// The live processes of one pod, by container id (`None`: the pod's own cgroup).
#[derive(Default)]
struct PodProcesses<'a> {
    /// Indices into the interval's processes.
    by_container: BTreeMap<Option<&'a str>, Vec<usize>>,
    usage_usec: u64,
}

/// Splits `host_energy_joules` over one interval.
///
/// `E_active = E * active/total`, `E_idle = E - E_active`. Consumers share `E_active` by CPU
/// time: each pod by its cgroup's usage when it has one in `cpu.pod_cgroups` (so processes that
/// exited during the interval count), else by its live processes' ticks, and each process
/// outside pods by its ticks; consumer `c` gets `E_active * t_c / max(active, sum t)`.
/// Dividing by the larger of the two keeps every share non-negative and their sum at most
/// `E_active` even when the figures (read at slightly different instants) exceed the node's;
/// the rest is unaccounted and goes to system. Inside a pod measured by its cgroup, containers
/// share the pod's energy by their own cgroups' usage (what no container cgroup holds, the
/// pod's own processes and containers that ended, stays with the pod, `container_id: None`),
/// and a container's live processes share its energy by their ticks.
pub fn attribute_interval(host_energy_joules: f64, cpu: &CpuInterval<'_>) -> Attribution {
    let host = host_energy_joules.max(0.0);
    let total_usec = cpu.node_total_ticks.saturating_mul(USEC_PER_TICK);
    let active_usec = cpu
        .node_active_ticks
        .min(cpu.node_total_ticks)
        .saturating_mul(USEC_PER_TICK);
    let active = portion(host, active_usec, total_usec);
    let idle = host - active;

    let usec = |p: &ProcessDelta| p.cpu_ticks.saturating_mul(USEC_PER_TICK);
    let mut system_usec = 0u64;
    let mut pods: BTreeMap<&str, PodProcesses> = BTreeMap::new();
    for (i, p) in cpu.processes.iter().enumerate() {
        match p.owner.as_ref() {
            Owner::System => system_usec = system_usec.saturating_add(usec(p)),
            Owner::Container(c) => {
                let pod = pods.entry(c.pod_uid.as_str()).or_default();
                pod.by_container
                    .entry(c.container_id.as_deref())
                    .or_default()
                    .push(i);
                pod.usage_usec = pod.usage_usec.saturating_add(usec(p));
            }
        }
    }
    for uid in cpu.pod_cgroups.keys() {
        pods.entry(uid.as_str()).or_default();
    }
    let pod_usec = |uid: &str, pod: &PodProcesses| {
        cpu.pod_cgroups
            .get(uid)
            .map_or(pod.usage_usec, |c| c.usage_usec)
    };
    let consumed_usec = pods
        .iter()
        .map(|(uid, pod)| pod_usec(uid, pod))
        .fold(system_usec, u64::saturating_add);
    let denominator = active_usec.max(consumed_usec);

    let mut process_energy = vec![0.0; cpu.processes.len()];
    let mut containers: BTreeMap<ContainerKey, f64> = BTreeMap::new();
    // Shares `energy` among processes by ticks, over `max(usage_usec, their sum)`.
    let mut split_among = |energy: f64, usage_usec: u64, indices: &[usize]| {
        let sum = indices
            .iter()
            .map(|i| usec(&cpu.processes[*i]))
            .fold(0, u64::saturating_add);
        for i in indices {
            process_energy[*i] = portion(energy, usec(&cpu.processes[*i]), usage_usec.max(sum));
        }
    };
    for (uid, pod) in &pods {
        let key = |container_id: Option<&str>| ContainerKey {
            pod_uid: (*uid).to_string(),
            container_id: container_id.map(str::to_string),
        };
        let Some(cgroup) = cpu.pod_cgroups.get(*uid) else {
            for (container_id, indices) in &pod.by_container {
                let usage = indices
                    .iter()
                    .map(|i| usec(&cpu.processes[*i]))
                    .fold(0, u64::saturating_add);
                let energy = portion(active, usage, denominator);
                split_among(energy, usage, indices);
                containers.insert(key(*container_id), energy);
            }
            continue;
        };
        let pod_energy = portion(active, cgroup.usage_usec, denominator);
        let in_containers = cgroup
            .containers
            .values()
            .fold(0, |sum: u64, u| sum.saturating_add(*u));
        let pod_whole = cgroup.usage_usec.max(in_containers);
        let mut rest = pod_energy;
        let mut rest_processes = Vec::new();
        for (container_id, usage) in &cgroup.containers {
            let energy = portion(pod_energy, *usage, pod_whole);
            rest -= energy;
            let indices = pod
                .by_container
                .get(&Some(container_id.as_str()))
                .map_or(&[][..], Vec::as_slice);
            split_among(energy, *usage, indices);
            containers.insert(key(Some(container_id)), energy);
        }
        for (container_id, indices) in &pod.by_container {
            let measured = container_id.is_some_and(|id| cgroup.containers.contains_key(id));
            if !measured {
                rest_processes.extend_from_slice(indices);
            }
        }
        // Rounding leaves crumbs of a rest that is zero; they go to unaccounted below.
        let rest_usec = pod_whole - in_containers;
        if rest_usec > 0 || !rest_processes.is_empty() {
            let rest = rest.max(0.0);
            split_among(rest, rest_usec, &rest_processes);
            containers.insert(key(None), rest);
        }
    }

    let mut system_processes = 0.0;
    let mut out = Vec::with_capacity(cpu.processes.len());
    for (p, energy) in cpu.processes.iter().zip(process_energy) {
        let (energy_joules, pod_uid, container_id) = match p.owner.as_ref() {
            Owner::System => {
                let energy = portion(active, usec(p), denominator);
                system_processes += energy;
                (energy, None, None)
            }
            Owner::Container(c) => (energy, Some(c.pod_uid.clone()), c.container_id.clone()),
        };
        if p.cpu_ticks > 0 {
            out.push(ProcessEnergy {
                pid: p.pid,
                comm: p.comm.clone(),
                cpu_ticks: p.cpu_ticks,
                energy_joules,
                pod_uid,
                container_id,
            });
        }
    }
    let pods_energy: f64 = containers.values().sum();
    let unaccounted = (active - pods_energy - system_processes).max(0.0);
    Attribution {
        host_energy_joules: host,
        idle_energy_joules: idle,
        active_energy_joules: active,
        system_energy_joules: system_processes + unaccounted,
        unaccounted_energy_joules: unaccounted,
        processes: out,
        containers,
    }
}

#[cfg(test)]
#[path = "attribution_tests.rs"]
mod tests;
