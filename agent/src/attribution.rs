//! Attribution: host energy split into idle and active by node CPU usage, active energy shared
//! by CPU-time deltas among processes and summed to containers; the parts add up to the host.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Serialize;

use crate::sensors::cgroup::Owner;
use crate::sensors::procfs::ProcSnapshot;

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
    /// Active CPU time no live process accounts for (exited processes, kernel work).
    pub unaccounted_energy_joules: f64,
    pub processes: Vec<ProcessEnergy>,
    pub containers: BTreeMap<ContainerKey, f64>,
}

/// CPU ticks each process used between two snapshots. A process is the pair (PID, start
/// time): a PID reused by a new process is a new process. A process absent from `prev` started
/// during the interval, so all its CPU time belongs to it; one absent from `cur` exited, and
/// the CPU time it used since `prev` is unknown (it ends up unaccounted, in system).
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

/// Splits `host_energy_joules` for an interval in which the node used `node_total_ticks` of
/// CPU time, `node_active_ticks` of them not idle.
///
/// `E_active = E * active/total`, `E_idle = E - E_active`; process `p` gets
/// `E_active * d_p / max(active, sum d)`. Dividing by the larger of the two keeps every share
/// non-negative and their sum at most `E_active` even when per-process ticks (sampled at
/// slightly different instants) exceed the node's; what is left goes to system as unaccounted.
pub fn attribute(
    host_energy_joules: f64,
    node_total_ticks: u64,
    node_active_ticks: u64,
    processes: &[ProcessDelta],
) -> Attribution {
    let host = host_energy_joules.max(0.0);
    let active_ratio = if node_total_ticks == 0 {
        0.0
    } else {
        (node_active_ticks.min(node_total_ticks)) as f64 / node_total_ticks as f64
    };
    let active = host * active_ratio;
    let idle = host - active;
    let process_ticks: u64 = processes.iter().map(|p| p.cpu_ticks).sum();
    let denominator = node_active_ticks.min(node_total_ticks).max(process_ticks);
    let share = |ticks: u64| {
        if denominator == 0 {
            0.0
        } else {
            active * ticks as f64 / denominator as f64
        }
    };
    let mut containers: BTreeMap<ContainerKey, f64> = BTreeMap::new();
    let mut system_processes = 0.0;
    let mut out = Vec::with_capacity(processes.len());
    for p in processes {
        let energy_joules = share(p.cpu_ticks);
        let (pod_uid, container_id) = match p.owner.as_ref() {
            Owner::System => {
                system_processes += energy_joules;
                (None, None)
            }
            Owner::Container(c) => {
                let key = ContainerKey {
                    pod_uid: c.pod_uid.clone(),
                    container_id: c.container_id.clone(),
                };
                *containers.entry(key).or_insert(0.0) += energy_joules;
                (Some(c.pod_uid.clone()), c.container_id.clone())
            }
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
    let unaccounted = share(denominator - process_ticks);
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
