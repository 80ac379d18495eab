//! [`DeployError`]: how the deploy engine fails. Mapped to what users see (`AppError`) in
//! `server/src/error.rs` and from there to HTTP in `server/src/http/error.rs`, nowhere else.

use app::api::{spec::SpecError, Field};

use super::apply::ApplyError;

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// No cluster is configured or reachable.
    #[error("Canopy is not connected to a Kubernetes cluster right now: {reason}")]
    NoCluster { reason: String },
    #[error("{what} was not found")]
    NotFound { what: String },
    /// Input refused before anything was written.
    #[error("{}: {message}", field.label())]
    InvalidInput { field: Field, message: String },
    /// A spec (or a parameter named like a spec field) was refused; every bad field is listed.
    #[error("{}", errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    InvalidSpec { errors: Vec<SpecError> },
    /// Valid, but clashes with what exists (a deploy already in progress).
    #[error("{message}")]
    Conflict { field: Field, message: String },
    #[error("the deploy records: {0}")]
    Database(#[from] sqlx::Error),
    /// The task that owns a deploy panicked or was cancelled (a bug; the log has it).
    #[error("the deploy's task ended abnormally: {0}")]
    Task(String),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("the Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("reading the service's state in the cluster: {0}")]
    Diagnose(#[from] super::diagnose::DiagnoseError),
    #[error("a stored value could not be read back: {0}")]
    Json(#[from] serde_json::Error),
    #[error("a stored time could not be formatted: {0}")]
    Time(#[from] time::error::Format),
    /// A stored row holds a value Canopy does not know (a bug or a hand-edited row).
    #[error("a stored deploy row has an unknown {0}")]
    CorruptRow(&'static str),
    #[error("a stored quota has an out-of-range {0}")]
    CorruptQuota(&'static str),
}

impl DeployError {
    pub fn invalid(field: Field, message: impl std::fmt::Display) -> Self {
        DeployError::InvalidInput {
            field,
            message: message.to_string(),
        }
    }

    /// One bad field of a spec-like input (`replicas`, `tail`, `secrets.KEY`, ...).
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        DeployError::InvalidSpec {
            errors: vec![SpecError {
                field: field.into(),
                message: message.into(),
            }],
        }
    }
}

pub type Result<T, E = DeployError> = std::result::Result<T, E>;

/// A service that has never been deployed to this environment.
pub(crate) fn not_deployed(of: &app::api::ServiceRef) -> DeployError {
    DeployError::NotFound {
        what: format!("A deploy of {} in {}", of.service, of.environment.as_str()),
    }
}

/// Canopy has no cluster to act on.
pub(crate) fn no_cluster() -> DeployError {
    DeployError::NoCluster {
        reason: "no kubeconfig is configured (set CANOPY_KUBECONFIG or KUBECONFIG)".to_owned(),
    }
}
