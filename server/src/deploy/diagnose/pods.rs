//! Problems the pods of the newest ReplicaSet show (image pulls, crashes, memory, scheduling,
//! readiness), translated into plain language with hints.

use std::collections::BTreeMap;

use app::api::spec::Size;
use k8s_openapi::{
    api::core::v1::{Container, ContainerStatus, Pod, Probe},
    apimachinery::pkg::util::intstr::IntOrString,
};

use super::{with_words, Diagnosis, Evidence, ProblemKind};
use crate::deploy::size::resources;

const IMAGE_PULL_REASONS: [&str; 5] = [
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "ErrImageNeverPull",
    "RegistryUnavailable",
];

/// One problem per kind, from the first pod that shows it, noting how many pods do.
pub(super) fn pod_problems(evidence: &Evidence) -> Vec<Diagnosis> {
    let pods = evidence.new_pods();
    let mut first: BTreeMap<ProblemKind, (Diagnosis, usize)> = BTreeMap::new();
    for pod in &pods {
        for problem in pod_problem(evidence, pod) {
            first
                .entry(problem.kind)
                .and_modify(|(_, n)| *n += 1)
                .or_insert((problem, 1));
        }
    }
    first
        .into_values()
        .map(|(mut problem, affected)| {
            if pods.len() > 1 {
                let count = format!("({affected} of {} new pods are affected.)", pods.len());
                problem.detail = match problem.detail.split_once('\n') {
                    Some((first, rest)) => format!("{first} {count}\n{rest}"),
                    None => format!("{} {count}", problem.detail),
                };
            }
            problem
        })
        .collect()
}

pub(super) fn pod_problem(evidence: &Evidence, pod: &Pod) -> Vec<Diagnosis> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let mut found = Vec::new();
    if let Some(unschedulable) = status.conditions.iter().flatten().find(|c| {
        c.type_ == "PodScheduled"
            && c.status == "False"
            && c.reason.as_deref() == Some("Unschedulable")
    }) {
        found.push(unschedulable_problem(
            &name,
            unschedulable.message.as_deref().unwrap_or_default(),
        ));
    }
    for container in status.container_statuses.iter().flatten() {
        let spec = pod
            .spec
            .as_ref()
            .and_then(|s| s.containers.iter().find(|c| c.name == container.name));
        if let Some(problem) = container_problem(evidence, &name, container, spec) {
            found.push(problem);
        }
    }
    found
}

fn container_problem(
    evidence: &Evidence,
    pod: &str,
    status: &ContainerStatus,
    spec: Option<&Container>,
) -> Option<Diagnosis> {
    let waiting = status.state.as_ref().and_then(|s| s.waiting.as_ref());
    let waiting_reason = waiting
        .and_then(|w| w.reason.as_deref())
        .unwrap_or_default();
    if IMAGE_PULL_REASONS.contains(&waiting_reason) {
        let from_event = evidence
            .events_about("Pod", pod)
            .into_iter()
            .rev()
            .find(|e| e.reason.as_deref() == Some("Failed"))
            .and_then(|e| e.message.clone());
        let message = from_event
            .or_else(|| waiting.and_then(|w| w.message.clone()))
            .unwrap_or_default();
        return Some(image_problem(&status.image, &message));
    }
    let terminated = status
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .or_else(|| status.state.as_ref().and_then(|s| s.terminated.as_ref()));
    if let Some(ended) = terminated {
        if ended.reason.as_deref() == Some("OOMKilled") {
            return Some(oom_problem(pod, &status.name, status.restart_count, spec));
        }
        if ended.exit_code != 0
            && (status.restart_count > 0 || waiting_reason == "CrashLoopBackOff")
        {
            let log = evidence
                .previous_logs
                .get(&(pod.to_owned(), status.name.clone()))
                .cloned()
                .or_else(|| ended.message.clone().filter(|m| !m.trim().is_empty()));
            return Some(crash_problem(
                pod,
                &status.name,
                ended.exit_code,
                status.restart_count,
                log.as_deref(),
            ));
        }
    }
    let running = status.state.as_ref().is_some_and(|s| s.running.is_some());
    if running && !status.ready {
        let failure = evidence
            .events_about("Pod", pod)
            .into_iter()
            .rev()
            .find(|e| {
                e.reason.as_deref() == Some("Unhealthy")
                    && e.message
                        .as_deref()
                        .is_some_and(|m| m.starts_with("Readiness probe failed"))
            })?;
        let probe = readiness_probe(evidence, &status.name);
        return Some(readiness_problem(
            pod,
            probe.as_ref(),
            spec,
            failure.message.as_deref().unwrap_or_default(),
        ));
    }
    None
}

/// The readiness probe of container `name` as the Deployment asks for it.
fn readiness_probe(evidence: &Evidence, name: &str) -> Option<Probe> {
    evidence
        .deployment
        .spec
        .as_ref()?
        .template
        .spec
        .as_ref()?
        .containers
        .iter()
        .find(|c| c.name == name)?
        .readiness_probe
        .clone()
}

pub(super) fn image_problem(image: &str, message: &str) -> Diagnosis {
    let lower = message.to_ascii_lowercase();
    let (cause, hint) = if [
        "unauthorized",
        "denied",
        "authentication required",
        "forbidden",
        "401",
        "403",
    ]
    .iter()
    .any(|m| lower.contains(m))
    {
        (
            "the registry refused access: it needs credentials".to_owned(),
            "The registry is private. Ask the platform team to add pull credentials for it to \
             your team's namespace, or publish the image where the cluster can read it."
                .to_owned(),
        )
    } else if [
        "no such host",
        "dial tcp",
        "i/o timeout",
        "connection refused",
        "tls:",
    ]
    .iter()
    .any(|m| lower.contains(m))
    {
        let host = image.split('/').next().unwrap_or(image);
        (
            format!("the registry {host} cannot be reached"),
            format!(
                "Check the registry host in the image reference ({host}) for typos; if it is \
                 right, the cluster cannot reach it."
            ),
        )
    } else if [
        "not found",
        "manifest unknown",
        "notfound",
        "does not exist",
    ]
    .iter()
    .any(|m| lower.contains(m))
    {
        (
            "the registry says this image or tag does not exist".to_owned(),
            format!(
                "Check the image name and tag for typos and that this tag was pushed \
                 (`docker pull {image}` should work). Some private registries also answer \
                 \"not found\" when credentials are missing."
            ),
        )
    } else {
        (
            "pulling it keeps failing".to_owned(),
            "Check that the image name and tag exist (`docker pull` it yourself); if the \
             registry is private, the cluster needs credentials for it."
                .to_owned(),
        )
    };
    Diagnosis {
        kind: ProblemKind::ImagePull,
        title: "The image can't be pulled".to_owned(),
        detail: with_words(
            &format!("Kubernetes cannot download {image}: {cause}."),
            message,
        ),
        hint,
    }
}

pub(super) fn oom_problem(
    pod: &str,
    container: &str,
    restarts: i32,
    spec: Option<&Container>,
) -> Diagnosis {
    let limit = spec
        .and_then(|c| c.resources.as_ref())
        .and_then(|r| r.limits.as_ref())
        .and_then(|l| l.get("memory"))
        .map(|q| q.0.clone());
    let size = limit.as_deref().and_then(|limit| {
        Size::ALL
            .into_iter()
            .find(|s| resources(*s).memory_limit == limit)
    });
    let limit_text = match (&limit, size) {
        (Some(limit), Some(size)) => format!("its {limit} memory limit (size {})", size.as_str()),
        (Some(limit), None) => format!("its {limit} memory limit"),
        _ => "its memory limit".to_owned(),
    };
    let hint = match size {
        Some(size) => match size.next() {
            Some(next) => format!(
                "Choose size {} ({} of memory instead of {}) in the service settings, or make \
                 the app use less memory.",
                next.as_str(),
                resources(next).memory_limit,
                resources(size).memory_limit
            ),
            None => format!(
                "{} is already the largest size: make the app use less memory (look for \
                 leaks, smaller caches, a lower heap limit).",
                size.as_str()
            ),
        },
        None => "Give the container more memory, or make the app use less.".to_owned(),
    };
    Diagnosis {
        kind: ProblemKind::OutOfMemory,
        title: "The container runs out of memory".to_owned(),
        detail: format!(
            "Container {container} in pod {pod} was stopped for using more than {limit_text}; \
             it has restarted {restarts} time(s)."
        ),
        hint,
    }
}

pub(super) fn crash_problem(
    pod: &str,
    container: &str,
    exit_code: i32,
    restarts: i32,
    log: Option<&str>,
) -> Diagnosis {
    let meaning = match exit_code {
        1 => " (the app reported an error)",
        2 => " (often a wrong command-line argument)",
        126 => " (the command is not executable)",
        127 => " (the command was not found in the image)",
        137 => " (killed)",
        139 => " (segmentation fault)",
        143 => " (stopped by a signal)",
        _ => "",
    };
    let mut detail = format!(
        "Container {container} in pod {pod} stopped with exit code {exit_code}{meaning} and has \
         restarted {restarts} time(s); Kubernetes waits longer before each restart."
    );
    match log {
        Some(lines) => detail.push_str(&format!("\nLast lines of its log:\n{lines}")),
        None => detail.push_str(" Its log could not be read."),
    }
    let hint = match exit_code {
        126 | 127 => "Check the image's entrypoint/command: the program it starts is missing or \
                      not executable in the image."
            .to_owned(),
        _ => "The last log lines usually say why the app stopped (a missing environment \
              variable or secret, a database it cannot reach, a bad setting). Fix that and \
              deploy again; running the image locally with the same variables reproduces it."
            .to_owned(),
    };
    Diagnosis {
        kind: ProblemKind::CrashLoop,
        title: "The container keeps crashing".to_owned(),
        detail,
        hint,
    }
}

pub(super) fn unschedulable_problem(pod: &str, message: &str) -> Diagnosis {
    let lower = message.to_ascii_lowercase();
    let short_of: Vec<&str> = ["cpu", "memory", "pods"]
        .into_iter()
        .filter(|r| {
            lower.contains(&format!("insufficient {r}"))
                || (*r == "pods" && lower.contains("too many pods"))
        })
        .collect();
    let hint = if short_of.is_empty() {
        "No node accepts the pod (see the scheduler's words above). Ask the platform team; \
         the cluster may be short of nodes that fit."
            .to_owned()
    } else {
        format!(
            "No node has enough free {} for it. Choose a smaller size or fewer replicas, or ask \
             the platform team for more capacity.",
            short_of.join(" and ")
        )
    };
    Diagnosis {
        kind: ProblemKind::Unschedulable,
        title: "No node has room for this service".to_owned(),
        detail: with_words(
            &format!("Pod {pod} is waiting for a node: the scheduler found none that fits it."),
            message,
        ),
        hint,
    }
}

pub(super) fn readiness_problem(
    pod: &str,
    probe: Option<&Probe>,
    container: Option<&Container>,
    message: &str,
) -> Diagnosis {
    let port_of = |port: &IntOrString| match port {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(name) => container
            .and_then(|c| {
                c.ports
                    .iter()
                    .flatten()
                    .find(|p| p.name.as_deref() == Some(name))
            })
            .map_or_else(|| name.clone(), |p| p.container_port.to_string()),
    };
    let http = probe.and_then(|p| p.http_get.as_ref());
    let tcp = probe.and_then(|p| p.tcp_socket.as_ref());
    let timeout = probe.and_then(|p| p.timeout_seconds).unwrap_or(1);
    let words = message
        .strip_prefix("Readiness probe failed:")
        .unwrap_or(message)
        .trim();
    let (check, hint) = match (http, tcp) {
        (Some(http), _) => {
            let path = http.path.clone().unwrap_or_else(|| "/".to_owned());
            let port = port_of(&http.port);
            (
                format!("Kubernetes asks GET {path} on port {port} and gets: {words}"),
                format!(
                    "Make sure the app listens on port {port} (on 0.0.0.0, not only 127.0.0.1) \
                     and answers {path} with a status from 200 to 399 within {timeout} s once \
                     it is ready. If {path} is not its health endpoint, change the health check \
                     path in the service settings."
                ),
            )
        }
        (None, Some(tcp)) => {
            let port = port_of(&tcp.port);
            (
                format!("Kubernetes tries to connect to port {port} and gets: {words}"),
                format!(
                    "Make sure the app listens on port {port} (on 0.0.0.0, not only \
                     127.0.0.1), or set the service's port to the one it listens on."
                ),
            )
        }
        _ => (
            format!("Its readiness check fails: {words}"),
            "Make sure the app starts listening and answers its health check.".to_owned(),
        ),
    };
    Diagnosis {
        kind: ProblemKind::ReadinessFailing,
        title: "The health check is failing".to_owned(),
        detail: format!(
            "Pod {pod} runs, but does not pass its health check, so it gets no traffic. {check}."
        ),
        hint,
    }
}
