//! What a lookup says about one dependency: up to date, outdated (by how much, and what kind
//! of update), unknown (the registry could not tell) or skipped (nothing to look up).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::model::Dependency;

/// One dependency and the judgement on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DependencyReport {
    pub dependency: Dependency,
    pub outcome: Outcome,
}

/// The judgement on one dependency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", content = "detail", rename_all = "snake_case")]
pub enum Outcome {
    UpToDate(UpToDate),
    Outdated(Outdated),
    /// The registry could not be asked or did not know the package; the reason says which.
    Unknown(String),
    /// Nothing to look up (a path or git dependency, a build stage, ...); the reason says why.
    Skipped(String),
}

impl Outcome {
    /// The outdated details, when the dependency is behind.
    pub fn outdated(&self) -> Option<&Outdated> {
        match self {
            Outcome::Outdated(outdated) => Some(outdated),
            _ => None,
        }
    }
}

/// Renovate's update types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateType {
    Major,
    Minor,
    Patch,
    /// Replace a range by an exact version. Renovate proposes it only with `rangeStrategy:
    /// pin`, which is not its default; Canopy does not emit it today (kept for the API).
    Pin,
    /// Same version, new digest: a SHA-pinned action whose tag now points elsewhere.
    Digest,
}

/// The dependency is on the newest version its versioning allows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpToDate {
    pub current: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub current_released_at: Option<OffsetDateTime>,
    pub current_yanked: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_deprecated: Option<String>,
}

/// The dependency is behind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outdated {
    /// The version in use: locked, else pinned, else the lowest the range allows.
    pub current: String,
    /// The newest version the declared range allows (`None` when the declaration is not a
    /// range this versioning reads).
    pub newest_in_range: Option<String>,
    /// The newest version Renovate would propose (stable unless `current` is a pre-release).
    pub newest_stable: String,
    /// The kind of update from `current` to `newest_stable`.
    pub update_type: UpdateType,
    /// The declared range already allows `newest_stable`: only the lockfile changes
    /// (Renovate's `isLockfileUpdate`).
    pub lockfile_only: bool,
    /// May break callers (Renovate's `isBreaking`: a major change, or a minor one below 1.0).
    pub breaking: bool,
    /// Releases newer than `current`, up to and including `newest_stable`.
    pub versions_behind: u32,
    /// Years between the release of `current` and of `newest_stable`, when both dates are known.
    pub libyears: Option<f64>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub current_released_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub newest_released_at: Option<OffsetDateTime>,
    pub current_yanked: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_deprecated: Option<String>,
    /// The digest `newest_stable` points to, where the registry tells (action commit SHAs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_digest: Option<String>,
}
