//! Deploy history and live rollout state, as the UI and the REST API show them.

use serde::{Deserialize, Serialize};

use super::spec::Environment;

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployStatus {
    /// Canopy is writing the objects to the cluster.
    Applying,
    /// Objects are written; Kubernetes is replacing the pods.
    RollingOut,
    Succeeded,
    Failed,
}

impl DeployStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeployStatus::Applying => "applying",
            DeployStatus::RollingOut => "rolling_out",
            DeployStatus::Succeeded => "succeeded",
            DeployStatus::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            DeployStatus::Applying,
            DeployStatus::RollingOut,
            DeployStatus::Succeeded,
            DeployStatus::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }

    /// Words for people.
    pub fn label(self) -> &'static str {
        match self {
            DeployStatus::Applying => "Applying",
            DeployStatus::RollingOut => "Rolling out",
            DeployStatus::Succeeded => "Running",
            DeployStatus::Failed => "Failed",
        }
    }

    pub fn in_progress(self) -> bool {
        matches!(self, DeployStatus::Applying | DeployStatus::RollingOut)
    }
}

/// One recorded deploy.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployRecord {
    pub id: i64,
    pub team: String,
    pub service: String,
    pub environment: Environment,
    pub revision: i64,
    pub image: String,
    pub requested_by: String,
    pub reason: Option<String>,
    pub rollback_of_revision: Option<i64>,
    pub status: DeployStatus,
    pub failure_reason: Option<String>,
    /// Plain warnings, e.g. an optional object the cluster could not take.
    pub warnings: Vec<String>,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub finished_at: Option<String>,
    pub duration_ms: Option<i64>,
}

/// A problem explained for people: what is wrong, the evidence, and what to do.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub title: String,
    pub detail: String,
    pub hint: String,
}

/// The live state of a service's newest rollout, pushed to the service page.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveRollout {
    pub revision: i64,
    pub status: DeployStatus,
    pub desired: i32,
    pub updated: i32,
    pub ready: i32,
    pub available: i32,
    /// One plain sentence, e.g. "2 of 3 new pods are ready".
    pub message: String,
    pub problem: Option<Problem>,
}

impl LiveRollout {
    pub fn applying(revision: i64) -> Self {
        Self {
            revision,
            status: DeployStatus::Applying,
            desired: 0,
            updated: 0,
            ready: 0,
            available: 0,
            message: "Writing the service's objects to the cluster…".to_owned(),
            problem: None,
        }
    }
}
