//! Pod status as a kubelet would report it, built from each simulated container's state.
//! Pure functions: no API calls here.

use std::hash::{DefaultHasher, Hash, Hasher};

use k8s_openapi::{
    api::core::v1::{
        ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
        ContainerStatus, HostIP, PodCondition, PodIP, PodStatus,
    },
    apimachinery::pkg::apis::meta::v1::Time,
    jiff::Timestamp,
};

/// Where a pod runs and when the kubelet took it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub host_ip: String,
    pub pod_ip: String,
    pub start_time: Timestamp,
}

/// How a container instance ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Termination {
    pub exit_code: i32,
    pub reason: &'static str,
    pub message: String,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
}

/// The state of one simulated container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerPhase {
    /// Bound, image being pulled, not started yet (`ContainerCreating`).
    Creating,
    /// Never started: waiting with a reason such as `ImagePullBackOff`.
    Waiting {
        reason: &'static str,
        message: String,
    },
    /// Running; `ready` is false while its readiness probe fails.
    Running {
        started_at: Timestamp,
        ready: bool,
        restart_count: i32,
        last: Option<Termination>,
    },
    /// Exited and waiting for the back-off to end (`CrashLoopBackOff`).
    BackOff {
        message: String,
        restart_count: i32,
        last: Termination,
    },
}

/// One container of a simulated pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimContainer {
    pub name: String,
    pub image: String,
    pub phase: ContainerPhase,
}

impl SimContainer {
    fn ready(&self) -> bool {
        matches!(self.phase, ContainerPhase::Running { ready: true, .. })
    }

    fn started(&self) -> bool {
        matches!(
            self.phase,
            ContainerPhase::Running { .. } | ContainerPhase::BackOff { .. }
        )
    }
}

/// The full pod status for these containers. `existing` conditions keep their transition time
/// when their status does not change; `init_containers` are reported as completed.
pub fn pod_status(
    pod_uid: &str,
    containers: &[SimContainer],
    init_containers: &[(String, String)],
    placement: &Placement,
    existing: &[PodCondition],
    now: Timestamp,
) -> PodStatus {
    let all_started = containers.iter().all(SimContainer::started);
    let unready: Vec<&str> = containers
        .iter()
        .filter(|container| !container.ready())
        .map(|container| container.name.as_str())
        .collect();
    let ready_reason = (!unready.is_empty()).then_some("ContainersNotReady");
    let ready_message = (!unready.is_empty())
        .then(|| format!("containers with unready status: [{}]", unready.join(" ")));
    let ready = if unready.is_empty() { "True" } else { "False" };
    let conditions = vec![
        condition(existing, "Initialized", "True", None, None, now),
        condition(
            existing,
            "Ready",
            ready,
            ready_reason,
            ready_message.clone(),
            now,
        ),
        condition(
            existing,
            "ContainersReady",
            ready,
            ready_reason,
            ready_message,
            now,
        ),
        condition(existing, "PodScheduled", "True", None, None, now),
    ];
    PodStatus {
        phase: Some(if all_started { "Running" } else { "Pending" }.to_owned()),
        conditions: Some(conditions),
        host_ip: Some(placement.host_ip.clone()),
        host_ips: Some(vec![HostIP {
            ip: placement.host_ip.clone(),
        }]),
        pod_ip: Some(placement.pod_ip.clone()),
        pod_ips: Some(vec![PodIP {
            ip: placement.pod_ip.clone(),
        }]),
        start_time: Some(Time(placement.start_time)),
        init_container_statuses: (!init_containers.is_empty()).then(|| {
            init_containers
                .iter()
                .map(|(name, image)| {
                    completed_init_container(pod_uid, name, image, placement.start_time)
                })
                .collect()
        }),
        container_statuses: Some(
            containers
                .iter()
                .map(|container| container_status(pod_uid, container))
                .collect(),
        ),
        ..PodStatus::default()
    }
}

fn condition(
    existing: &[PodCondition],
    type_: &str,
    status: &str,
    reason: Option<&str>,
    message: Option<String>,
    now: Timestamp,
) -> PodCondition {
    let previous = existing
        .iter()
        .find(|c| c.type_ == type_ && c.status == status);
    let last_transition_time = previous
        .and_then(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    PodCondition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.map(str::to_owned),
        message,
        last_transition_time: Some(last_transition_time),
        ..PodCondition::default()
    }
}

fn container_status(pod_uid: &str, container: &SimContainer) -> ContainerStatus {
    let mut status = ContainerStatus {
        name: container.name.clone(),
        image: container.image.clone(),
        image_id: String::new(),
        ready: container.ready(),
        started: Some(false),
        ..ContainerStatus::default()
    };
    match &container.phase {
        ContainerPhase::Creating => {
            status.state = Some(waiting("ContainerCreating", None));
        }
        ContainerPhase::Waiting { reason, message } => {
            status.state = Some(waiting(reason, Some(message.clone())));
        }
        ContainerPhase::Running {
            started_at,
            restart_count,
            last,
            ..
        } => {
            status.state = Some(ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: Some(Time(*started_at)),
                }),
                ..ContainerState::default()
            });
            status.started = Some(true);
            status.restart_count = *restart_count;
            status.last_state = last
                .as_ref()
                .map(|last| terminated(pod_uid, &container.name, *restart_count - 1, last));
        }
        ContainerPhase::BackOff {
            message,
            restart_count,
            last,
        } => {
            status.state = Some(waiting("CrashLoopBackOff", Some(message.clone())));
            status.restart_count = *restart_count;
            status.last_state = Some(terminated(
                pod_uid,
                &container.name,
                *restart_count - 1,
                last,
            ));
        }
    }
    if container.started() {
        status.image_id = image_id(&container.image);
        status.container_id = Some(container_id(pod_uid, &container.name, status.restart_count));
    }
    status
}

fn completed_init_container(
    pod_uid: &str,
    name: &str,
    image: &str,
    at: Timestamp,
) -> ContainerStatus {
    let done = Termination {
        exit_code: 0,
        reason: "Completed",
        message: String::new(),
        started_at: at,
        finished_at: at,
    };
    ContainerStatus {
        name: name.to_owned(),
        image: image.to_owned(),
        image_id: image_id(image),
        container_id: Some(container_id(pod_uid, name, 0)),
        ready: true,
        state: Some(terminated(pod_uid, name, 0, &done)),
        ..ContainerStatus::default()
    }
}

fn waiting(reason: &str, message: Option<String>) -> ContainerState {
    ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.to_owned()),
            message,
        }),
        ..ContainerState::default()
    }
}

fn terminated(pod_uid: &str, name: &str, instance: i32, end: &Termination) -> ContainerState {
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: end.exit_code,
            reason: Some(end.reason.to_owned()),
            message: (!end.message.is_empty()).then(|| end.message.clone()),
            started_at: Some(Time(end.started_at)),
            finished_at: Some(Time(end.finished_at)),
            container_id: Some(container_id(pod_uid, name, instance)),
            ..ContainerStateTerminated::default()
        }),
        ..ContainerState::default()
    }
}

/// A stable fake 64-hex-digit id derived from the parts.
fn fake_digest(parts: &[&str]) -> String {
    (0..4u8)
        .map(|round| {
            let mut hasher = DefaultHasher::new();
            (round, parts).hash(&mut hasher);
            format!("{:016x}", hasher.finish())
        })
        .collect()
}

fn container_id(pod_uid: &str, name: &str, instance: i32) -> String {
    format!(
        "containerd://{}",
        fake_digest(&[pod_uid, name, &instance.to_string()])
    )
}

fn image_id(image: &str) -> String {
    let repository = image.split('@').next().unwrap_or(image);
    let last_slash = repository.rfind('/').map_or(0, |i| i + 1);
    let repository = match repository[last_slash..].find(':') {
        Some(colon) => &repository[..last_slash + colon],
        None => repository,
    };
    format!("{repository}@sha256:{}", fake_digest(&[image]))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn placement() -> Placement {
        Placement {
            host_ip: "172.18.0.2".into(),
            pod_ip: "10.244.0.5".into(),
            start_time: at(0),
        }
    }

    fn container(phase: ContainerPhase) -> SimContainer {
        SimContainer {
            name: "api".into(),
            image: "acme/api:1.2".into(),
            phase,
        }
    }

    fn condition_of<'a>(status: &'a PodStatus, type_: &str) -> &'a PodCondition {
        status
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == type_)
            .unwrap()
    }

    #[test]
    fn a_ready_container_makes_a_running_ready_pod() {
        let running = ContainerPhase::Running {
            started_at: at(1),
            ready: true,
            restart_count: 0,
            last: None,
        };
        let status = pod_status("uid", &[container(running)], &[], &placement(), &[], at(2));
        assert_eq!(status.phase.as_deref(), Some("Running"));
        for type_ in ["PodScheduled", "Initialized", "ContainersReady", "Ready"] {
            assert_eq!(condition_of(&status, type_).status, "True", "{type_}");
        }
        let container = &status.container_statuses.as_ref().unwrap()[0];
        assert!(container.ready);
        let started_at = container
            .state
            .as_ref()
            .unwrap()
            .running
            .as_ref()
            .unwrap()
            .started_at
            .clone();
        assert_eq!(started_at, Some(Time(at(1))));
        assert_eq!(
            container.image_id,
            format!("acme/api@sha256:{}", fake_digest(&["acme/api:1.2"]))
        );
        assert_eq!(status.pod_ip.as_deref(), Some("10.244.0.5"));
    }

    #[test]
    fn a_pull_failure_keeps_the_pod_pending() {
        let waiting = ContainerPhase::Waiting {
            reason: "ImagePullBackOff",
            message: "Back-off".into(),
        };
        let status = pod_status("uid", &[container(waiting)], &[], &placement(), &[], at(2));
        assert_eq!(status.phase.as_deref(), Some("Pending"));
        let ready = condition_of(&status, "Ready");
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_deref()),
            ("False", Some("ContainersNotReady"))
        );
        assert_eq!(
            ready.message.as_deref(),
            Some("containers with unready status: [api]")
        );
        let state = status.container_statuses.unwrap()[0].state.clone().unwrap();
        assert_eq!(
            state.waiting.unwrap().reason.as_deref(),
            Some("ImagePullBackOff")
        );
    }

    #[test]
    fn a_crash_loop_reports_the_last_termination() {
        let last = Termination {
            exit_code: 1,
            reason: "Error",
            message: "fatal".into(),
            started_at: at(1),
            finished_at: at(2),
        };
        let backoff = ContainerPhase::BackOff {
            message: "back-off 10s".into(),
            restart_count: 3,
            last,
        };
        let status = pod_status("uid", &[container(backoff)], &[], &placement(), &[], at(3));
        assert_eq!(status.phase.as_deref(), Some("Running"));
        let container = &status.container_statuses.as_ref().unwrap()[0];
        assert_eq!(container.restart_count, 3);
        let waiting = container.state.as_ref().unwrap().waiting.as_ref().unwrap();
        assert_eq!(waiting.reason.as_deref(), Some("CrashLoopBackOff"));
        let terminated = container
            .last_state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap();
        assert_eq!(
            (terminated.exit_code, terminated.message.as_deref()),
            (1, Some("fatal"))
        );
    }

    #[test]
    fn unchanged_conditions_keep_their_transition_time() {
        let running = ContainerPhase::Running {
            started_at: at(1),
            ready: true,
            restart_count: 0,
            last: None,
        };
        let first = pod_status(
            "uid",
            &[container(running.clone())],
            &[],
            &placement(),
            &[],
            at(2),
        );
        let again = pod_status(
            "uid",
            &[container(running)],
            &[],
            &placement(),
            first.conditions.as_ref().unwrap(),
            at(9),
        );
        assert_eq!(
            condition_of(&again, "Ready").last_transition_time,
            Some(Time(at(2)))
        );
    }

    #[test]
    fn init_containers_are_reported_completed() {
        let init = [("migrate".to_owned(), "acme/migrate:1".to_owned())];
        let status = pod_status(
            "uid",
            &[container(ContainerPhase::Creating)],
            &init,
            &placement(),
            &[],
            at(1),
        );
        let init = &status.init_container_statuses.unwrap()[0];
        let terminated = init.state.as_ref().unwrap().terminated.as_ref().unwrap();
        assert_eq!(
            (terminated.exit_code, terminated.reason.as_deref()),
            (0, Some("Completed"))
        );
    }
}
