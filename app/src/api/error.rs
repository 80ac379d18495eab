//! The one error type users see from Canopy's server functions and HTTP API.
//!
//! Anything unexpected is logged on the server with its whole chain and reaches users as
//! `Internal` with a reference they can quote; see `server/src/error.rs` for the mapping.

use serde::{Deserialize, Serialize};
use server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};

/// A form field or API input that an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Team,
    Name,
    /// The first day of a custom energy period.
    From,
    /// The last day of a custom energy period.
    To,
    /// Where a service's code is read from for dependency drift.
    SourcePath,
    /// A dependency ecosystem filter.
    Ecosystem,
    /// A GitHub repository, `owner/name`.
    Repo,
    /// A git branch, tag or commit.
    Ref,
    /// A file's path in a repository.
    Path,
    /// The image a push deploys, with `{sha}`.
    ImageTemplate,
    /// The check that must pass before a push deploys.
    RequiredCheck,
    /// A service's public route (its host).
    Route,
    /// The catalogue's search text (`q`).
    Search,
    /// The catalogue's team filter (`team`).
    TeamFilter,
    /// The catalogue's deploy state filter (`state`).
    State,
    /// The catalogue's environment filter (`env`).
    Environment,
    /// The catalogue's sort column (`sort`).
    Sort,
    /// The catalogue's sort direction (`dir`).
    Dir,
    /// The catalogue's page number (`page`).
    Page,
}

impl Field {
    /// The label users see next to the input.
    pub fn label(self) -> &'static str {
        match self {
            Field::Team => "Team",
            Field::Name => "Service name",
            Field::From => "From",
            Field::To => "To",
            Field::SourcePath => "Source path (source_path)",
            Field::Ecosystem => "Ecosystem",
            Field::Repo => "Repository (repo)",
            Field::Ref => "Branch, tag or commit (ref)",
            Field::Path => "File path (path)",
            Field::ImageTemplate => "Image template (image_template)",
            Field::RequiredCheck => "Required check (required_check)",
            Field::Route => "Public route (route.host)",
            Field::Search => "Search (q)",
            Field::TeamFilter => "Team (team)",
            Field::State => "State (state)",
            Field::Environment => "Environment (env)",
            Field::Sort => "Sort column (sort)",
            Field::Dir => "Sort direction (dir)",
            Field::Page => "Page (page)",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AppError {
    /// The input was refused; nothing was written.
    #[error("{}: {message}", field.label())]
    InvalidInput { field: Field, message: String },
    /// The input is valid but clashes with what exists; nothing was written.
    #[error("{message}")]
    Conflict { field: Field, message: String },
    /// A service spec was refused; every bad field is listed. Nothing was applied.
    #[error("{}", errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    InvalidSpec { errors: Vec<super::spec::SpecError> },
    /// No Kubernetes cluster is configured or reachable, so deploys cannot happen.
    #[error("Canopy is not connected to a Kubernetes cluster right now: {reason}")]
    NoCluster { reason: String },
    #[error("{what} was not found")]
    NotFound { what: String },
    /// Nobody is signed in (or the session expired): sign in and try again.
    #[error("You are not signed in (or your session expired). Sign in and try again; what you submitted was not saved.")]
    Unauthorized,
    /// Signed in, but this needs a role the person does not have; nothing was changed.
    #[error("Not allowed: {message}")]
    Forbidden { message: String },
    /// Too many attempts; try again later.
    #[error("{message}")]
    TooManyRequests { message: String },
    /// Canopy's database cannot be reached right now (connection refused, dropped, shutting
    /// down).
    #[error("Canopy cannot reach its database right now, so this cannot be shown or saved. Try again in a moment; if it persists, ask the platform team to check Canopy's database.")]
    Unavailable,
    /// Canopy is overloaded: every database connection stayed in use for the whole wait, so
    /// this request could not have one. The database itself is fine.
    #[error("Canopy is busy right now: every database connection is in use, so this could not be shown or saved in time. The database is fine; try again in a few seconds.")]
    Busy,
    /// A service Canopy relies on (GitHub) failed or could not be reached; try again later.
    #[error("{message}")]
    Upstream { message: String },
    /// Something unexpected; the server log has the details under this reference.
    #[error("Something went wrong on Canopy's side (reference {reference}). Please try again or report the reference to the platform team.")]
    Internal { reference: String },
    /// The request itself failed (network, encoding) before reaching Canopy's logic.
    #[error("The request failed: {0}")]
    Transport(String),
}

impl AppError {
    pub fn invalid(field: Field, message: impl std::fmt::Display) -> Self {
        AppError::InvalidInput {
            field,
            message: message.to_string(),
        }
    }

    /// The field this error is about, if any, so forms can show it inline.
    pub fn field(&self) -> Option<Field> {
        match self {
            AppError::InvalidInput { field, .. } | AppError::Conflict { field, .. } => Some(*field),
            _ => None,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::Transport(value.to_string())
    }
}
