//! What is going wrong with a rollout, in plain language: looks at the Deployment, its newest
//! ReplicaSet, that ReplicaSet's pods, their events and (for crashing containers) the last
//! lines of the previous container's log, and turns them into [`Diagnosis`]s with a hint.
//!
//! [`Evidence`] holds what was read; [`problems`] is the pure translation (unit-tested from
//! typed fixtures); [`diagnose`] reads and translates in one call.

mod controllers;
mod pods;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use k8s_openapi::api::{
    apps::v1::{Deployment, ReplicaSet},
    core::v1::{Event, Pod},
};
use kube::{
    api::{ListParams, LogParams},
    Api, Client,
};
use serde::Serialize;

use super::kube_words::REVISION_ANNOTATION;

/// How many lines of a crashed container's log a problem shows.
pub const LOG_LINES: i64 = 10;

#[derive(Debug, thiserror::Error)]
pub enum DiagnoseError {
    #[error("could not read {what} in {namespace}: {source}")]
    Read {
        what: &'static str,
        namespace: String,
        #[source]
        source: kube::Error,
    },
    #[error("the Deployment {namespace}/{name} does not exist")]
    NotFound { namespace: String, name: String },
}

pub type Result<T, E = DiagnoseError> = std::result::Result<T, E>;

/// What kind of trouble a [`Diagnosis`] is, most fundamental first (the order problems are shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    ImagePull,
    OutOfMemory,
    CrashLoop,
    Unschedulable,
    QuotaExceeded,
    PodsRefused,
    ReadinessFailing,
    ProgressDeadline,
}

/// One thing going wrong, for a developer who does not know Kubernetes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    pub kind: ProblemKind,
    /// A short headline: "The image can't be pulled".
    pub title: String,
    /// What happened, with names and numbers (and Kubernetes' own words at the end).
    pub detail: String,
    /// What to do about it.
    pub hint: String,
}

/// Everything the translation looks at, read from the cluster (or built by a test).
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    pub deployment: Deployment,
    /// The Deployment's ReplicaSets (any order).
    pub replica_sets: Vec<ReplicaSet>,
    /// The Deployment's pods, old and new.
    pub pods: Vec<Pod>,
    /// Events in the namespace (only those about these pods and ReplicaSets are used).
    pub events: Vec<Event>,
    /// The last lines of the previous instance's log, by (pod, container).
    pub previous_logs: BTreeMap<(String, String), String>,
}

/// Reads the evidence for Deployment `name` and translates it.
pub async fn diagnose(client: &Client, namespace: &str, name: &str) -> Result<Vec<Diagnosis>> {
    let mut evidence = Evidence::gather(client, namespace, name).await?;
    evidence.read_previous_logs(client).await;
    Ok(problems(&evidence))
}

/// The `k=v,...` label selector of a Deployment's pods (Canopy selects by labels only).
pub fn pod_selector(deployment: &Deployment) -> String {
    deployment
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.as_ref())
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

fn revision_of(meta: &kube::api::ObjectMeta) -> Option<i64> {
    meta.annotations
        .as_ref()?
        .get(REVISION_ANNOTATION)?
        .parse()
        .ok()
}

fn owned_by(meta: &kube::api::ObjectMeta, owner_uid: Option<&str>) -> bool {
    owner_uid.is_some_and(|uid| {
        meta.owner_references
            .iter()
            .flatten()
            .any(|owner| owner.uid == uid)
    })
}

impl Evidence {
    /// Lists the Deployment, its ReplicaSets and pods, and the namespace's events.
    pub async fn gather(client: &Client, namespace: &str, name: &str) -> Result<Self> {
        let read = |what| {
            move |source| DiagnoseError::Read {
                what,
                namespace: namespace.to_owned(),
                source,
            }
        };
        let deployment = Api::<Deployment>::namespaced(client.clone(), namespace)
            .get_opt(name)
            .await
            .map_err(read("the Deployment"))?
            .ok_or_else(|| DiagnoseError::NotFound {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            })?;
        let selector = ListParams::default().labels(&pod_selector(&deployment));
        let replica_sets = Api::<ReplicaSet>::namespaced(client.clone(), namespace)
            .list(&selector)
            .await
            .map_err(read("ReplicaSets"))?
            .items;
        let pods = Api::<Pod>::namespaced(client.clone(), namespace)
            .list(&selector)
            .await
            .map_err(read("pods"))?
            .items;
        let events = Api::<Event>::namespaced(client.clone(), namespace)
            .list(&ListParams::default())
            .await
            .map_err(read("events"))?
            .items;
        Ok(Self {
            deployment,
            replica_sets,
            pods,
            events,
            previous_logs: BTreeMap::new(),
        })
    }

    /// The ReplicaSet of the version being rolled out: the one with the Deployment's revision,
    /// or the highest revision while the Deployment controller has not caught up.
    pub fn newest_replica_set(&self) -> Option<&ReplicaSet> {
        let owner = self.deployment.metadata.uid.as_deref();
        let owned = || {
            self.replica_sets
                .iter()
                .filter(move |rs| owner.is_none() || owned_by(&rs.metadata, owner))
        };
        let revision = revision_of(&self.deployment.metadata);
        revision
            .and_then(|r| owned().find(|rs| revision_of(&rs.metadata) == Some(r)))
            .or_else(|| owned().max_by_key(|rs| revision_of(&rs.metadata)))
    }

    /// The pods of the newest ReplicaSet, by name.
    pub fn new_pods(&self) -> Vec<&Pod> {
        let newest = self
            .newest_replica_set()
            .and_then(|rs| rs.metadata.uid.as_deref());
        let mut pods: Vec<&Pod> = self
            .pods
            .iter()
            .filter(|pod| owned_by(&pod.metadata, newest))
            .collect();
        pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        pods
    }

    /// The new pods' containers that have crashed at least once: (pod, container, restarts).
    pub fn crashed_containers(&self) -> Vec<(String, String, i32)> {
        self.new_pods()
            .into_iter()
            .flat_map(|pod| {
                let name = pod.metadata.name.clone().unwrap_or_default();
                pod.status
                    .iter()
                    .flat_map(|s| s.container_statuses.iter().flatten())
                    .filter(|c| {
                        c.restart_count > 0
                            && c.last_state
                                .as_ref()
                                .and_then(|s| s.terminated.as_ref())
                                .is_some()
                    })
                    .map(move |c| (name.clone(), c.name.clone(), c.restart_count))
            })
            .collect()
    }

    /// Reads the last lines of the previous instance of each crashed container through the pod
    /// log API. A log that cannot be read is left out (the termination message stands in).
    pub async fn read_previous_logs(&mut self, client: &Client) {
        let namespace = self
            .deployment
            .metadata
            .namespace
            .clone()
            .unwrap_or_default();
        for (pod, container, _) in self.crashed_containers() {
            if let Some(text) = previous_log(client, &namespace, &pod, &container).await {
                self.previous_logs.insert((pod, container), text);
            }
        }
    }

    /// Events about the object named `name` of `kind`, oldest first.
    pub fn events_about(&self, kind: &str, name: &str) -> Vec<&Event> {
        let mut events: Vec<&Event> = self
            .events
            .iter()
            .filter(|e| {
                e.involved_object.kind.as_deref() == Some(kind)
                    && e.involved_object.name.as_deref() == Some(name)
            })
            .collect();
        events.sort_by_key(|e| e.last_timestamp.as_ref().map(|t| t.0));
        events
    }
}

/// The last [`LOG_LINES`] lines of a container's previous instance, if the log can be read.
pub async fn previous_log(
    client: &Client,
    namespace: &str,
    pod: &str,
    container: &str,
) -> Option<String> {
    let params = LogParams {
        container: Some(container.to_owned()),
        previous: true,
        tail_lines: Some(LOG_LINES),
        ..LogParams::default()
    };
    match Api::<Pod>::namespaced(client.clone(), namespace)
        .logs(pod, &params)
        .await
    {
        Ok(text) if !text.trim().is_empty() => Some(text.trim_end().to_owned()),
        Ok(_) => None,
        Err(error) => {
            tracing::debug!(%error, pod, container, "previous container log unavailable");
            None
        }
    }
}

/// Translates the evidence into problems, most fundamental first, one per kind.
pub fn problems(evidence: &Evidence) -> Vec<Diagnosis> {
    let mut found = pods::pod_problems(evidence);
    found.extend(controllers::replica_problems(evidence));
    found.extend(controllers::deadline_problem(evidence, !found.is_empty()));
    found.sort_by_key(|p| p.kind);
    found.dedup_by_key(|p| p.kind);
    found
}

/// What is wrong with one pod (any version), most fundamental first: the same translation as
/// for a rollout, for the pods list.
pub fn problems_of_pod(evidence: &Evidence, pod: &Pod) -> Vec<Diagnosis> {
    let mut found = pods::pod_problem(evidence, pod);
    found.sort_by_key(|p| p.kind);
    found.dedup_by_key(|p| p.kind);
    found
}

/// A plain sentence, then Kubernetes' own words (when there are any).
fn with_words(sentence: &str, words: &str) -> String {
    let words = words.trim();
    if words.is_empty() {
        sentence.to_owned()
    } else {
        format!("{sentence} Kubernetes says: \"{words}\"")
    }
}
