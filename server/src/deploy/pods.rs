//! A deployed service's pods (status in plain language) and the events about its Deployment,
//! ReplicaSets and pods, newest first. Reads what the rollout diagnosis reads ([`Evidence`])
//! and reuses its translation ([`problems_of_pod`], [`PodSummary`]).

use std::collections::BTreeSet;

use app::api::{
    deploys::Problem,
    pods::{EventInfo, PodInfo, ServicePods},
};
use k8s_openapi::{
    api::core::v1::{Event, Pod},
    jiff::Timestamp,
};
use kube::Client;

use super::DeployError;
use super::{
    diagnose::{problems_of_pod, DiagnoseError, Evidence},
    render::{ANNOTATION_REVISION, LABEL_SERVICE},
    rollout::PodSummary,
};

/// At most this many events are listed (newest first).
pub const MAX_EVENTS: usize = 100;

/// The pods of Deployment `service` in `namespace` and the events about it. A service that is
/// not (or no longer) in the cluster has no pods and no events.
pub async fn service_pods(
    client: &Client,
    namespace: &str,
    service: &str,
) -> Result<ServicePods, DeployError> {
    let mut evidence = match Evidence::gather(client, namespace, service).await {
        Ok(evidence) => evidence,
        Err(DiagnoseError::NotFound { .. }) => {
            return Ok(ServicePods {
                cluster: true,
                ..ServicePods::default()
            })
        }
        Err(error) => return Err(error.into()),
    };
    // Pods are selected by the Deployment's selector; keep only those labelled as the service's.
    evidence.pods.retain(|pod| belongs_to(pod, service));
    evidence.read_previous_logs(client).await;
    let now = Timestamp::now();
    Ok(ServicePods {
        pods: pods_of(&evidence, now),
        events: events_of(&evidence, service, now),
        cluster: true,
    })
}

/// The pod carries the service's label (`canopy.dev/service`).
pub fn belongs_to(pod: &Pod, service: &str) -> bool {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|labels| labels.get(LABEL_SERVICE))
        .is_some_and(|value| value == service)
}

/// The pods, newest version first, then by name.
pub fn pods_of(evidence: &Evidence, now: Timestamp) -> Vec<PodInfo> {
    let newest: BTreeSet<String> = evidence
        .new_pods()
        .into_iter()
        .filter_map(|pod| pod.metadata.name.clone())
        .collect();
    let mut pods: Vec<PodInfo> = evidence
        .pods
        .iter()
        .map(|pod| {
            let name = pod.metadata.name.clone().unwrap_or_default();
            let is_newest = newest.contains(&name);
            pod_info(evidence, pod, is_newest, now)
        })
        .collect();
    pods.sort_by(|a, b| b.newest.cmp(&a.newest).then_with(|| a.name.cmp(&b.name)));
    pods
}

fn pod_info(evidence: &Evidence, pod: &Pod, newest: bool, now: Timestamp) -> PodInfo {
    let summary = PodSummary::of(pod, newest);
    let status = pod.status.clone().unwrap_or_default();
    let containers: Vec<String> = pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter().map(|c| c.name.clone()))
        .collect();
    let statuses = status.container_statuses.clone().unwrap_or_default();
    let ready = statuses.iter().filter(|c| c.ready).count();
    let unscheduled = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "PodScheduled" && c.status == "False");
    let problem = problems_of_pod(evidence, pod)
        .into_iter()
        .next()
        .map(|p| Problem {
            title: p.title,
            detail: p.detail,
            hint: p.hint,
        });
    let created = pod.metadata.creation_timestamp.as_ref().map(|t| t.0);
    PodInfo {
        name: summary.name.clone(),
        phase: status.phase.clone().unwrap_or_else(|| "Pending".to_owned()),
        containers_ready: u32::try_from(ready).unwrap_or(u32::MAX),
        containers_total: u32::try_from(containers.len()).unwrap_or(u32::MAX),
        restarts: summary.restarts,
        created_at: created.map(|t| t.to_string()),
        age: created.map(|t| age(t, now)).unwrap_or_default(),
        node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        status: plain_status(&summary, unscheduled),
        problem,
        revision: pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ANNOTATION_REVISION))
            .and_then(|r| r.parse().ok()),
        containers,
        newest,
    }
}

/// A few plain words for where a pod stands (the problem, if any, says why).
pub fn plain_status(summary: &PodSummary, unscheduled: bool) -> String {
    match summary.state.as_str() {
        "Terminating" => "Stopping".to_owned(),
        "Running" if summary.ready => "Running".to_owned(),
        "Running" => "Running, not ready".to_owned(),
        "Pending" if unscheduled => "Waiting for a node".to_owned(),
        "Pending" | "ContainerCreating" | "PodInitializing" => "Starting".to_owned(),
        "CrashLoopBackOff" => "Crashing, waiting to restart".to_owned(),
        "ImagePullBackOff" | "ErrImagePull" | "InvalidImageName" => {
            "Image can't be pulled".to_owned()
        }
        "CreateContainerConfigError" => "Misconfigured, can't start".to_owned(),
        "Succeeded" => "Finished".to_owned(),
        "Failed" => "Failed".to_owned(),
        other => other.to_owned(),
    }
}

/// Events about the Deployment, its ReplicaSets and their pods (also pods already gone),
/// newest first, at most [`MAX_EVENTS`].
pub fn events_of(evidence: &Evidence, service: &str, now: Timestamp) -> Vec<EventInfo> {
    let replica_sets: BTreeSet<String> = evidence
        .replica_sets
        .iter()
        .filter_map(|rs| rs.metadata.name.clone())
        .collect();
    let pods: BTreeSet<String> = evidence
        .pods
        .iter()
        .filter_map(|pod| pod.metadata.name.clone())
        .collect();
    let about_service = |event: &&Event| {
        let object = &event.involved_object;
        let name = object.name.as_deref().unwrap_or_default();
        match object.kind.as_deref() {
            Some("Deployment") => name == service,
            Some("ReplicaSet") => replica_sets.contains(name),
            // A pod's name is its ReplicaSet's name and a suffix; gone pods count too.
            Some("Pod") => {
                pods.contains(name)
                    || name
                        .rsplit_once('-')
                        .is_some_and(|(rs, _)| replica_sets.contains(rs))
            }
            _ => false,
        }
    };
    let mut events: Vec<(Option<Timestamp>, EventInfo)> = evidence
        .events
        .iter()
        .filter(about_service)
        .map(|event| {
            let seen = last_seen(event);
            (seen, event_info(event, seen, now))
        })
        .collect();
    events.sort_by_key(|event| std::cmp::Reverse(event.0));
    events
        .into_iter()
        .take(MAX_EVENTS)
        .map(|(_, event)| event)
        .collect()
}

/// When an event last happened: core/v1 events have `lastTimestamp`; those written through
/// events.k8s.io (the scheduler's, on 1.20) have `eventTime` and maybe a series.
fn last_seen(event: &Event) -> Option<Timestamp> {
    event
        .last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or_else(|| {
            event
                .series
                .as_ref()
                .and_then(|s| s.last_observed_time.as_ref())
                .map(|t| t.0)
        })
        .or_else(|| event.event_time.as_ref().map(|t| t.0))
        .or_else(|| event.first_timestamp.as_ref().map(|t| t.0))
        .or_else(|| event.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

fn event_info(event: &Event, seen: Option<Timestamp>, now: Timestamp) -> EventInfo {
    let object = &event.involved_object;
    let count = event
        .count
        .or_else(|| event.series.as_ref().and_then(|s| s.count))
        .unwrap_or(1);
    EventInfo {
        kind: event.type_.clone().unwrap_or_else(|| "Normal".to_owned()),
        reason: event.reason.clone().unwrap_or_default(),
        message: event.message.clone().unwrap_or_default().trim().to_owned(),
        object: format!(
            "{}/{}",
            object.kind.as_deref().unwrap_or("Object"),
            object.name.as_deref().unwrap_or_default()
        ),
        count,
        last_seen: seen.map(|t| t.to_string()),
        ago: seen.map(|t| age(t, now)).unwrap_or_default(),
    }
}

/// How long ago `then` was, the way kubectl shows ages: `42s`, `5m`, `3h`, `2d`.
pub fn age(then: Timestamp, now: Timestamp) -> String {
    let secs = now.as_second().saturating_sub(then.as_second()).max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(age(at(0), at(42)), "42s");
        assert_eq!(age(at(0), at(119)), "119s");
        assert_eq!(age(at(0), at(300)), "5m");
        assert_eq!(age(at(0), at(3 * 3600 + 5)), "3h");
        assert_eq!(age(at(0), at(3 * 86_400)), "3d");
        assert_eq!(age(at(10), at(0)), "0s", "clock skew is not negative");
    }

    #[test]
    fn statuses_are_plain_words() {
        let summary = |state: &str, ready: bool| PodSummary {
            name: "web-1".to_owned(),
            new_version: true,
            ready,
            state: state.to_owned(),
            restarts: 0,
        };
        assert_eq!(plain_status(&summary("Running", true), false), "Running");
        assert_eq!(
            plain_status(&summary("Running", false), false),
            "Running, not ready"
        );
        assert_eq!(
            plain_status(&summary("Pending", false), true),
            "Waiting for a node"
        );
        assert_eq!(
            plain_status(&summary("CrashLoopBackOff", false), false),
            "Crashing, waiting to restart"
        );
        assert_eq!(
            plain_status(&summary("ImagePullBackOff", false), false),
            "Image can't be pulled"
        );
    }
}
