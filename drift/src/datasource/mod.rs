//! Datasources: one client per registry, all returning [`Releases`], sharing an HTTP layer
//! with caching, retries, timeouts, per-registry concurrency limits and request counts.

pub mod cache;
pub mod crates;
pub mod docker;
pub mod github;
pub mod goproxy;
pub mod http;
pub mod npm;
pub mod pypi;
pub mod registries;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What a registry knows about one package.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Releases {
    pub versions: Vec<Release>,
    /// npm's `latest` dist-tag: versions above it are not proposed (as Renovate does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest: Option<String>,
}

/// One published version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    pub version: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub released_at: Option<OffsetDateTime>,
    #[serde(default)]
    pub yanked: bool,
    /// The deprecation message, when the registry marks the version deprecated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<String>,
    /// What the version points to, where the registry tells (a tag's commit SHA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl Release {
    /// A release with only a version.
    pub fn new(version: impl Into<String>) -> Self {
        Release {
            version: version.into(),
            released_at: None,
            yanked: false,
            deprecated: None,
            digest: None,
        }
    }
}

/// Why a registry could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatasourceError {
    /// Connection refused, timeouts, 5xx after retries, or the registry already found down.
    #[error("registry unreachable: {0}")]
    Unreachable(String),
    #[error("not found in the registry")]
    NotFound,
    #[error("registry refused access ({0})")]
    Denied(u16),
    #[error("unexpected answer from the registry: {0}")]
    InvalidResponse(String),
    #[error("not a valid package name: {0}")]
    InvalidName(String),
}

/// Parses an RFC 3339 timestamp, `None` when absent or malformed.
pub(crate) fn parse_time(raw: Option<&str>) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(raw?, &time::format_description::well_known::Rfc3339).ok()
}
