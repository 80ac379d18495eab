//! Dependency drift as the portal and the JSON API show it: a service's source, its scans
//! (queued / running / done / failed, with counts), one row per dependency, and the org-wide
//! ranking and trend; and the server functions that reach them through `DriftBackend`.
//!
//! These are view types: the server builds them from `canopy-drift`'s reports (the UI crate
//! does not depend on the drift library, which is not built for the browser).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use super::{auth::Permission, ServiceName, TeamName};
use super::{AppError, Field};

/// Where a service's code is read from.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// A local directory or git checkout on Canopy's host.
    Path { path: String },
    /// The repository the service is linked to through the GitHub App (`owner/name`), read at
    /// the head of `branch` through the trees and blobs API.
    Github { repository: String, branch: String },
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::Path { path } => format!("local path {path}"),
            Source::Github { repository, branch } => {
                format!("GitHub repository {repository}, branch {branch}")
            }
        }
    }
}

/// Where a scan is.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanState {
    Queued,
    Running,
    Done,
    Failed,
}

impl ScanState {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanState::Queued => "queued",
            ScanState::Running => "running",
            ScanState::Done => "done",
            ScanState::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Queued, Self::Running, Self::Done, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }

    /// Still waiting or working: the page looks again shortly.
    pub fn pending(self) -> bool {
        matches!(self, ScanState::Queued | ScanState::Running)
    }
}

/// The figures of one scan (or of several services added up).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DriftTotals {
    pub dependencies: u32,
    pub outdated: u32,
    /// Sum of libyears over dependencies whose release dates are known.
    pub libyears: f64,
    pub majors_behind: u32,
    pub minors_behind: u32,
    pub patches_behind: u32,
    pub digests_behind: u32,
    /// Outdated dependencies whose update may break (a major, or a minor below 1.0).
    pub breaking: u32,
    pub unknown: u32,
    pub skipped: u32,
}

/// One scan of one service.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanView {
    pub id: i64,
    pub state: ScanState,
    /// `manual` (scan now) or `schedule`.
    pub trigger: String,
    pub requested_by: String,
    pub source_path: String,
    /// RFC 3339.
    pub queued_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Why a failed scan failed.
    pub error: Option<String>,
    /// Present when the scan is done.
    pub totals: Option<DriftTotals>,
    /// Manifests that could not be read (`file:line: message`); the rest was scanned.
    #[serde(default)]
    pub manifest_errors: Vec<String>,
}

/// One dependency in a scan.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DependencyRow {
    pub name: String,
    /// `cargo`, `npm`, `pypi`, `go`, `docker`, `github_actions`.
    pub ecosystem: String,
    pub declared: String,
    /// `up_to_date`, `outdated`, `unknown` or `skipped`.
    pub status: String,
    pub current: Option<String>,
    pub newest_in_range: Option<String>,
    pub newest: Option<String>,
    /// `major`, `minor`, `patch`, `pin`, `digest` (outdated only).
    pub update_type: Option<String>,
    pub breaking: bool,
    pub lockfile_only: bool,
    pub versions_behind: u32,
    pub libyears: Option<f64>,
    /// Why the dependency is unknown or skipped.
    pub reason: Option<String>,
    /// The manifest, relative to the source's root, and the 1-based line.
    pub file: String,
    pub line: u32,
}

/// A service's drift: its source, the scan in progress or last finished, the latest done
/// scan's rows, and recent history.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceDrift {
    pub team: String,
    pub service: String,
    pub source: Option<Source>,
    /// The newest scan, whatever its state.
    pub latest: Option<ScanView>,
    /// The newest done scan, whose dependencies are listed.
    pub last_done: Option<ScanView>,
    pub dependencies: Vec<DependencyRow>,
    /// Recent scans, newest first.
    pub history: Vec<ScanView>,
}

/// One service in the org-wide ranking (its newest done scan).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceRanking {
    pub team: String,
    pub service: String,
    pub scanned_at: String,
    pub totals: DriftTotals,
}

/// Sum of libyears over services (each at its newest scan on or before that day).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendPoint {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub libyears: f64,
    pub services: u32,
}

/// The org-wide picture, with the filters it was built for.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgDrift {
    pub ecosystem: Option<String>,
    pub team: Option<String>,
    /// Ranked by libyears, then majors behind.
    pub services: Vec<ServiceRanking>,
    pub totals: DriftTotals,
    pub trend: Vec<TrendPoint>,
    /// What the filters may choose from.
    pub teams: Vec<String>,
    pub ecosystems: Vec<String>,
}

/// The ecosystems a filter accepts.
pub const ECOSYSTEMS: [&str; 6] = ["cargo", "npm", "pypi", "go", "docker", "github_actions"];

/// An optional filter value: empty means none; otherwise one of `allowed`.
pub fn parse_ecosystem(raw: Option<String>) -> Result<Option<String>, AppError> {
    match raw.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty()) {
        None => Ok(None),
        Some(eco) if ECOSYSTEMS.contains(&eco.as_str()) => Ok(Some(eco)),
        Some(other) => Err(AppError::invalid(
            Field::Ecosystem,
            format!("{other:?} is not one of {}", ECOSYSTEMS.join(", ")),
        )),
    }
}

#[cfg(feature = "ssr")]
fn names(team: &str, service: &str) -> Result<(TeamName, ServiceName), AppError> {
    Ok((
        TeamName::parse(team).map_err(|e| AppError::invalid(Field::Team, e))?,
        ServiceName::parse(service).map_err(|e| AppError::invalid(Field::Name, e))?,
    ))
}

#[server(prefix = "/api/fn", endpoint = "load_org_drift")]
pub async fn load_org_drift(
    ecosystem: Option<String>,
    team: Option<String>,
) -> Result<OrgDrift, AppError> {
    let who = super::auth::principal()?;
    let ecosystem = parse_ecosystem(ecosystem)?;
    let team = match team.filter(|t| !t.trim().is_empty()) {
        Some(t) => Some(TeamName::parse(t.trim()).map_err(|e| AppError::invalid(Field::Team, e))?),
        None => None,
    };
    if let Some(team) = &team {
        who.require(team, Permission::Read)?;
    }
    super::backend::drift_backend()?
        .org(&who, ecosystem, team)
        .await
}

#[server(prefix = "/api/fn", endpoint = "load_service_drift")]
pub async fn load_service_drift(team: String, service: String) -> Result<ServiceDrift, AppError> {
    let who = super::auth::principal()?;
    let (team, service) = names(&team, &service)?;
    who.require(&team, Permission::Read)?;
    super::backend::drift_backend()?
        .service(&who, team, service)
        .await
}

#[server(prefix = "/api/fn", endpoint = "set_drift_source")]
pub async fn set_drift_source(
    team: String,
    service: String,
    source_path: String,
) -> Result<Source, AppError> {
    let who = super::auth::principal()?;
    let (team, service) = names(&team, &service)?;
    who.require(&team, Permission::Deploy)?;
    super::backend::drift_backend()?
        .set_source(&who, team, service, source_path)
        .await
}

#[server(prefix = "/api/fn", endpoint = "scan_dependencies_now")]
pub async fn scan_dependencies_now(team: String, service: String) -> Result<ScanView, AppError> {
    let who = super::auth::principal()?;
    let (team, service) = names(&team, &service)?;
    who.require(&team, Permission::Deploy)?;
    super::backend::drift_backend()?
        .scan_now(&who, team, service)
        .await
}
