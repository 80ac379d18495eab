//! Dependency drift on the server: a source per service, scans (queued by "scan now" or the
//! daily schedule, run by a worker with bounded concurrency), their storage with history, the
//! PostgreSQL cache of registry answers, and the views pages and the API read. The parsing,
//! registry lookups and rules are the `canopy-drift` library's (docs/DRIFT.md).

pub mod backend;
pub mod cache;
mod source;
mod store;
pub mod view;
mod worker;

use std::sync::Arc;

use app::api::{
    auth::{Permission, Principal},
    drift::{OrgDrift, ScanView, ServiceDrift, Source},
    AppError, ServiceName, TeamName,
};
use canopy_drift::{Registries, RegistrySettings};
use sqlx::PgPool;
use tokio::sync::Notify;

use crate::config::DriftSettings;

pub use source::validate_source_path;
pub use store::outdated_per_service;

/// What can go wrong in the drift capability (mapped to what users see in `server/src/error.rs`).
#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    #[error("{field}: {message}")]
    InvalidInput {
        field: &'static str,
        message: String,
    },
    #[error("{0} was not found")]
    NotFound(String),
    #[error("Not allowed: {0}")]
    Forbidden(String),
    /// A scan needs a source first.
    #[error("{0}")]
    NoSource(String),
    #[error("the registry clients could not be built: {0}")]
    Registries(#[from] canopy_drift::DatasourceError),
    #[error("a stored scan could not be read or written: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

pub type Result<T, E = DriftError> = std::result::Result<T, E>;

fn require(who: &Principal, team: &TeamName, permission: Permission) -> Result<()> {
    who.require(team, permission).map_err(|error| match error {
        AppError::Forbidden { message } => DriftError::Forbidden(message),
        other => DriftError::Forbidden(other.to_string()),
    })
}

/// The drift capability: shared by the HTTP API, the pages' backend and the background worker.
#[derive(Clone)]
pub struct Drift {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    /// One set of registry clients for every scan on this replica, so the per-registry
    /// concurrency limit and the "registry down" memory hold across services.
    registries: Registries,
    settings: DriftSettings,
    /// Woken when a scan is queued, so "scan now" starts at once.
    wake: Notify,
    /// Reads linked GitHub repositories (set once GitHub-linked delivery is built).
    repo_files: std::sync::OnceLock<Arc<dyn RepoFiles>>,
}

/// Reads the manifest files of a repository on GitHub (implemented by `crate::github`).
#[async_trait::async_trait]
pub trait RepoFiles: Send + Sync {
    /// The commit at the head of `branch` of `repository` (`owner/name`) and the files there
    /// that are manifests; the error says what went wrong, in words.
    async fn manifest_files(
        &self,
        repository: &str,
        branch: &str,
    ) -> std::result::Result<(String, Vec<canopy_drift::SourceFile>), String>;
}

impl Drift {
    pub fn new(pool: PgPool, settings: DriftSettings) -> Result<Self> {
        let registries = Registries::new(RegistrySettings {
            crates_index: settings.crates_index.clone(),
            npm: settings.npm.clone(),
            pypi: settings.pypi.clone(),
            go_proxy: settings.go_proxy.clone(),
            docker: settings.docker.clone(),
            github_api: settings.github_api.clone(),
            cache: Arc::new(cache::PgCache::new(pool.clone())),
            cache_ttl: settings.cache_ttl,
            retries: settings.retries,
            ..RegistrySettings::default()
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                registries,
                settings,
                wake: Notify::new(),
                repo_files: std::sync::OnceLock::new(),
            }),
        })
    }

    /// Lets scans read linked GitHub repositories.
    pub fn set_repo_files(&self, files: Arc<dyn RepoFiles>) {
        let _ = self.inner.repo_files.set(files);
    }

    /// A service linked to `repository@branch` on GitHub reads its dependencies from there
    /// (unless someone set a local path).
    pub async fn use_github_source(
        &self,
        service_id: i64,
        repository: &str,
        branch: &str,
        actor: &str,
    ) -> Result<()> {
        store::set_github_source(
            &self.inner.pool,
            service_id,
            &format!("{repository}@{branch}"),
            actor,
        )
        .await
    }

    /// After a push to `repository@branch`: queues a scan of the service when that is its
    /// source (one waits or runs per service at most).
    pub async fn scan_after_push(
        &self,
        service_id: i64,
        repository: &str,
        branch: &str,
        actor: &str,
    ) -> Result<bool> {
        let Some(source @ Source::Github { .. }) =
            store::source(&self.inner.pool, service_id).await?
        else {
            return Ok(false);
        };
        let Source::Github {
            repository: linked,
            branch: followed,
        } = &source
        else {
            return Ok(false);
        };
        if !linked.eq_ignore_ascii_case(repository) || followed != branch {
            return Ok(false);
        }
        store::enqueue(
            &self.inner.pool,
            service_id,
            "push",
            actor,
            &store::scan_target(&source),
        )
        .await?;
        self.inner.wake.notify_one();
        Ok(true)
    }

    async fn service_id(&self, team: &TeamName, service: &ServiceName) -> Result<i64> {
        store::service_id(&self.inner.pool, team, service)
            .await?
            .ok_or_else(|| DriftError::NotFound(format!("Service {service} of team {team}")))
    }

    /// Points `service` at a local directory or git checkout (deployers and admins of the team).
    pub async fn set_source(
        &self,
        who: &Principal,
        team: &TeamName,
        service: &ServiceName,
        raw_path: &str,
    ) -> Result<Source> {
        require(who, team, Permission::Deploy)?;
        let service_id = self.service_id(team, service).await?;
        let path = validate_source_path(raw_path, &self.inner.settings.source_roots).await?;
        store::set_source(&self.inner.pool, service_id, &path, &who.actor()).await?;
        tracing::info!(%team, %service, path, actor = %who.actor(), "drift source set");
        Ok(Source::Path { path })
    }

    /// Queues a scan of `service` (one waits or runs per service at most: a second request
    /// answers the one already queued) and wakes the worker.
    pub async fn scan_now(
        &self,
        who: &Principal,
        team: &TeamName,
        service: &ServiceName,
    ) -> Result<ScanView> {
        require(who, team, Permission::Deploy)?;
        let service_id = self.service_id(team, service).await?;
        let Some(source) = store::source(&self.inner.pool, service_id).await? else {
            return Err(DriftError::NoSource(format!(
                "Service {service} has no source yet: set source_path (a local directory or git checkout) first, or link it to a GitHub repository."
            )));
        };
        let target = store::scan_target(&source);
        let id = store::enqueue(
            &self.inner.pool,
            service_id,
            "manual",
            &who.actor(),
            &target,
        )
        .await?;
        self.inner.wake.notify_one();
        let scan = store::scan(&self.inner.pool, id).await?;
        view::scan_view(&scan)
    }

    /// The service's source, scans and the latest done scan's dependencies (any signed-in person).
    pub async fn service(
        &self,
        who: &Principal,
        team: &TeamName,
        service: &ServiceName,
    ) -> Result<ServiceDrift> {
        require(who, team, Permission::Read)?;
        let service_id = self.service_id(team, service).await?;
        let source = store::source(&self.inner.pool, service_id).await?;
        let history = store::recent_scans(&self.inner.pool, service_id, 10).await?;
        let last_done = store::last_done(&self.inner.pool, service_id).await?;
        let dependencies = match &last_done {
            Some(scan) => view::dependency_rows(scan)?,
            None => Vec::new(),
        };
        Ok(ServiceDrift {
            team: team.to_string(),
            service: service.to_string(),
            source,
            latest: history.first().map(view::scan_view).transpose()?,
            last_done: last_done.as_ref().map(view::scan_view).transpose()?,
            dependencies,
            history: history
                .iter()
                .map(view::scan_view)
                .collect::<Result<Vec<_>>>()?,
        })
    }

    /// Services ranked by libyears and majors behind, with the trend (any signed-in person).
    pub async fn org(&self, ecosystem: Option<String>, team: Option<TeamName>) -> Result<OrgDrift> {
        let latest = store::latest_done_per_service(&self.inner.pool).await?;
        let daily = store::daily_done(&self.inner.pool, view::TREND_DAYS).await?;
        let teams = store::teams(&self.inner.pool).await?;
        view::org(
            latest,
            daily,
            teams,
            ecosystem,
            team.map(|t| t.to_string()),
            time::OffsetDateTime::now_utc(),
        )
    }

    /// Starts the background worker (runs queued scans) and the schedule on this replica.
    pub fn spawn(&self) {
        worker::spawn(self.clone());
    }
}
