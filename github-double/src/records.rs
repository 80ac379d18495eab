//! The public value types: repository options, check-run and deployment states, and what the
//! double records (requests, deployments with their statuses, comments).

use serde::{Deserialize, Serialize};

/// How a repository is created in the double.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoOptions {
    /// Private repositories are hidden (404) from callers without a covering installation token.
    #[serde(default)]
    pub private: bool,
    /// Whether the App's installation on the owner account covers this repository.
    #[serde(default = "default_true")]
    pub installed: bool,
    #[serde(default = "default_branch")]
    pub default_branch: String,
}

impl Default for RepoOptions {
    fn default() -> Self {
        Self {
            private: false,
            installed: true,
            default_branch: default_branch(),
        }
    }
}

impl RepoOptions {
    /// A private repository the App is installed on, default branch `main`.
    pub fn private_installed() -> Self {
        Self {
            private: true,
            ..Self::default()
        }
    }
}

fn default_true() -> bool {
    true
}

pub(crate) fn default_branch() -> String {
    "main".to_owned()
}

/// A repository the double created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddedRepo {
    pub id: u64,
    pub full_name: String,
    /// The installation of the App on the owner account (one per owner).
    pub installation_id: u64,
}

/// `status` of a check run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Queued,
    InProgress,
    Completed,
}

/// `conclusion` of a completed check run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckConclusion {
    Success,
    Failure,
    Neutral,
    Cancelled,
    Skipped,
    TimedOut,
    ActionRequired,
}

/// A check run a test set on a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordedCheckRun {
    pub id: u64,
    pub name: String,
    pub head_sha: String,
    pub status: CheckStatus,
    pub conclusion: Option<CheckConclusion>,
    pub started_at: String,
    pub completed_at: Option<String>,
}

/// `state` of a deployment status, as GitHub's schema lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentState {
    Error,
    Failure,
    Inactive,
    InProgress,
    Queued,
    Pending,
    Success,
}

impl DeploymentState {
    pub const ALL: [DeploymentState; 7] = [
        Self::Error,
        Self::Failure,
        Self::Inactive,
        Self::InProgress,
        Self::Queued,
        Self::Pending,
        Self::Success,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Failure => "failure",
            Self::Inactive => "inactive",
            Self::InProgress => "in_progress",
            Self::Queued => "queued",
            Self::Pending => "pending",
            Self::Success => "success",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == value)
    }
}

/// A deployment created through the API, with its statuses (newest first).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedDeployment {
    pub id: u64,
    pub sha: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub task: String,
    pub environment: String,
    pub original_environment: String,
    pub description: String,
    pub payload: serde_json::Value,
    pub auto_merge: bool,
    pub required_contexts: Option<Vec<String>>,
    pub transient_environment: bool,
    pub production_environment: bool,
    pub created_at: String,
    pub updated_at: String,
    pub statuses: Vec<RecordedDeploymentStatus>,
}

/// A deployment status created through the API (or by `auto_inactive`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordedDeploymentStatus {
    pub id: u64,
    pub state: DeploymentState,
    pub description: String,
    pub environment: String,
    pub environment_url: String,
    pub log_url: String,
    pub created_at: String,
}

/// An issue or pull-request comment created through the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordedComment {
    pub id: u64,
    pub issue_number: u64,
    pub body: String,
    pub created_at: String,
    pub updated_at: String,
}

/// How a request to the GitHub API surface authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    None,
    /// A valid App JWT.
    Jwt,
    /// A valid, unexpired installation token the double issued.
    InstallationToken,
    /// An `Authorization` header the double rejects (bad JWT, unknown or expired token, ...).
    Invalid,
}

/// One request to the GitHub API surface (the control API is not recorded).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub auth: AuthKind,
    /// The status answered (0 while the request is still being answered).
    pub status: u16,
    pub body: Option<serde_json::Value>,
}
