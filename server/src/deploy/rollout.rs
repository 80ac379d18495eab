//! Where a rollout stands, judged from a Deployment the way `kubectl rollout status` judges it
//! (observedGeneration, updated/ready/available replicas against the desired count, the
//! Progressing condition's progress deadline, the Available condition), and what a watch of it
//! reports ([`RolloutSnapshot`]) and ends with ([`RolloutOutcome`]). The watcher is in
//! [`watch`]; what went wrong, in plain language, in [`super::diagnose`].

mod watch;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;

use std::time::Duration;

use k8s_openapi::api::{apps::v1::Deployment, core::v1::Pod};
use serde::Serialize;

use super::diagnose::Diagnosis;

pub use watch::{rollout_snapshots, watch_rollout};

pub use super::kube_words::{PROGRESS_DEADLINE_EXCEEDED, REVISION_ANNOTATION};

#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    #[error("the Deployment {namespace}/{name} does not exist (it was never deployed, or it was deleted)")]
    NotFound { namespace: String, name: String },
    #[error("could not read the Deployment {namespace}/{name}: {source}")]
    Read {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error(transparent)]
    Diagnose(#[from] super::diagnose::DiagnoseError),
}

pub type Result<T, E = RolloutError> = std::result::Result<T, E>;

/// Where a rollout stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RolloutStatus {
    /// The Deployment controller has not yet seen the latest change.
    Pending,
    /// New pods are being created, started or made ready, or old ones are going away.
    Progressing {
        /// Pods already on the new version.
        updated: i32,
        /// Pods (old and new) passing their readiness check.
        ready: i32,
        /// New pods ready for long enough to count as available.
        available: i32,
        /// The replica count asked for.
        desired: i32,
        /// Pods of older versions still running or terminating.
        old: i32,
    },
    /// Every desired pod runs the new version and is available.
    Available { replicas: i32 },
    /// Kubernetes gave up: no progress within the progress deadline.
    Failed { reason: String },
}

impl RolloutStatus {
    /// The rollout has ended (successfully or not); nothing more will happen on its own.
    pub fn is_finished(&self) -> bool {
        matches!(self, Self::Available { .. } | Self::Failed { .. })
    }

    /// One plain sentence for the page.
    pub fn message(&self) -> String {
        match self {
            Self::Pending => "Waiting for Kubernetes to pick up the change…".to_owned(),
            Self::Progressing {
                updated,
                available,
                desired,
                old,
                ..
            } => {
                if updated < desired {
                    format!("{updated} of {desired} pods are on the new version…")
                } else if *old > 0 {
                    format!("All {desired} new pods are up; {old} old pod(s) are stopping…")
                } else {
                    format!("{available} of {desired} new pods are ready…")
                }
            }
            Self::Available { replicas } => format!("Running: {replicas} of {replicas} pods ready"),
            Self::Failed { reason } => format!("The rollout failed: {reason}"),
        }
    }
}

fn count(value: Option<i32>) -> i32 {
    value.unwrap_or(0)
}

/// Judges a Deployment as `kubectl rollout status` does, plus its Available condition.
pub fn judge(deployment: &Deployment) -> RolloutStatus {
    let status = deployment.status.clone().unwrap_or_default();
    let generation = deployment.metadata.generation.unwrap_or(0);
    if status.observed_generation.unwrap_or(0) < generation {
        return RolloutStatus::Pending;
    }
    let condition = |kind: &str| status.conditions.iter().flatten().find(|c| c.type_ == kind);
    if let Some(progressing) = condition("Progressing") {
        if progressing.reason.as_deref() == Some(PROGRESS_DEADLINE_EXCEEDED) {
            let deadline = deployment
                .spec
                .as_ref()
                .and_then(|s| s.progress_deadline_seconds)
                .unwrap_or(600);
            return RolloutStatus::Failed {
                reason: format!(
                    "the new version made no progress for {deadline} seconds (progress deadline exceeded)"
                ),
            };
        }
    }
    let desired = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let updated = count(status.updated_replicas);
    let available = count(status.available_replicas);
    let total = count(status.replicas);
    let available_condition_false = condition("Available").is_some_and(|c| c.status == "False");
    if updated < desired || total > updated || available < updated || available_condition_false {
        return RolloutStatus::Progressing {
            updated,
            ready: count(status.ready_replicas),
            available,
            desired,
            old: (total - updated).max(0),
        };
    }
    RolloutStatus::Available { replicas: desired }
}

/// One pod, as the page lists it during a rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodSummary {
    pub name: String,
    /// The pod runs the version being rolled out (it belongs to the newest ReplicaSet).
    pub new_version: bool,
    pub ready: bool,
    /// `Running`, `Pending`, or what the first container waits for (`CrashLoopBackOff`, ...).
    pub state: String,
    pub restarts: i32,
}

impl PodSummary {
    pub fn of(pod: &Pod, new_version: bool) -> Self {
        let status = pod.status.clone().unwrap_or_default();
        let containers = status.container_statuses.clone().unwrap_or_default();
        let waiting = containers
            .iter()
            .find_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone());
        let state = if pod.metadata.deletion_timestamp.is_some() {
            "Terminating".to_owned()
        } else {
            waiting.unwrap_or_else(|| status.phase.clone().unwrap_or_else(|| "Pending".to_owned()))
        };
        Self {
            name: pod.metadata.name.clone().unwrap_or_default(),
            new_version,
            ready: status
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True"),
            state,
            restarts: containers.iter().map(|c| c.restart_count).sum(),
        }
    }
}

/// What a watch reports each time something changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RolloutSnapshot {
    pub status: RolloutStatus,
    /// The Deployment controller's revision number of the version being rolled out.
    pub revision: Option<i64>,
    pub pods: Vec<PodSummary>,
    /// What is going wrong, in plain language, most important first.
    pub problems: Vec<Diagnosis>,
}

/// How a watched rollout ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutEnd {
    Available,
    Failed,
    /// The caller's timeout passed first; the rollout may still finish later.
    TimedOut,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RolloutOutcome {
    pub end: RolloutEnd,
    /// The last snapshot seen (`None` only if the timeout passed before the first one).
    pub last: Option<RolloutSnapshot>,
    pub elapsed: Duration,
}

impl RolloutOutcome {
    /// The reason to record for a rollout that did not become available: the most important
    /// problem, or the status itself.
    pub fn failure_reason(&self) -> Option<String> {
        if self.end == RolloutEnd::Available {
            return None;
        }
        let last = self.last.as_ref();
        let reason = last
            .and_then(|s| s.problems.first())
            .map(|p| format!("{}: {}", p.title, p.detail))
            .or_else(|| last.map(|s| s.status.message()))
            .unwrap_or_else(|| "no news from the cluster before the timeout".to_owned());
        Some(match self.end {
            RolloutEnd::TimedOut => {
                format!("not available after {} s: {reason}", self.elapsed.as_secs())
            }
            _ => reason,
        })
    }
}
