//! GitHub-linked delivery (docs/GITHUB.md): the GitHub App client, services linked to
//! repositories, the deploy button (a repository's `canopy.yaml` prefilling the deploy form),
//! signed push and pull-request webhooks recorded and processed from a durable queue, and a
//! GitHub deployment with statuses for every deploy of a linked service.

pub mod backend;
pub mod badges;
pub mod button;
pub mod canopy_file;
pub mod client;
pub mod deliveries;
pub mod links;
pub mod previews;
pub mod repo;
pub mod sources;
pub mod statuses;
pub mod webhooks;

use std::sync::Arc;

use app::api::{
    auth::{Permission, Principal},
    AppError, ServiceRef,
};
use secrecy::SecretString;
use sqlx::PgPool;
use tokio::sync::Notify;

use crate::{auth::accounts::Accounts, deploy::commands::DeployCommands};

pub use client::GithubClient;
pub use repo::{GitRef, ImageTemplate, RepoName, RepoPath};

/// `CANOPY_GITHUB_APP_ID` and `CANOPY_GITHUB_APP_PRIVATE_KEY_FILE`.
#[derive(Debug, Clone)]
pub struct AppCredentials {
    pub app_id: u64,
    pub private_key: SecretString,
}

/// The GitHub App settings (docs/GITHUB.md).
#[derive(Debug, Clone)]
pub struct GithubAppSettings {
    /// `CANOPY_GITHUB_API_URL` (`https://api.github.com`; `https://HOST/api/v3` on GitHub
    /// Enterprise Server; the local GitHub double in tests).
    pub api_url: url::Url,
    pub app: Option<AppCredentials>,
    /// `CANOPY_GITHUB_WEBHOOK_SECRET` or `CANOPY_GITHUB_WEBHOOK_SECRET_FILE`; webhooks are
    /// refused without one.
    pub webhook_secret: Option<SecretString>,
    /// `CANOPY_GITHUB_PREVIEW_TTL_HOURS` (default 72): how long a pull request's preview runs
    /// after its last push, unless the pull request closes first.
    pub preview_ttl: std::time::Duration,
}

/// How long a preview runs after its last push by default: three days.
pub const DEFAULT_PREVIEW_TTL: std::time::Duration = std::time::Duration::from_secs(72 * 3600);

impl GithubAppSettings {
    /// No App: public repositories can still be read for deploy buttons.
    pub fn without_app(api_url: url::Url) -> Self {
        Self {
            api_url,
            app: None,
            webhook_secret: None,
            preview_ttl: DEFAULT_PREVIEW_TTL,
        }
    }
}

/// What can go wrong in GitHub-linked delivery; every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    #[error("{field}: {message}")]
    InvalidInput {
        field: &'static str,
        message: String,
    },
    #[error("Canopy has no GitHub App configured: set CANOPY_GITHUB_APP_ID, CANOPY_GITHUB_APP_PRIVATE_KEY_FILE and CANOPY_GITHUB_WEBHOOK_SECRET (docs/GITHUB.md)")]
    NotConfigured,
    #[error("The Canopy GitHub App is not installed on {0}: ask an owner of {owner} to install it on this repository (GitHub → Settings → GitHub Apps → Configure), then try again", owner = .0.owner())]
    NotInstalled(RepoName),
    #[error("{0} was not found")]
    NotFound(String),
    #[error("Not allowed: {0}")]
    Forbidden(String),
    #[error("GitHub could not {what} for {repo}: {reason}")]
    Unavailable {
        what: &'static str,
        repo: String,
        reason: String,
    },
    #[error("GitHub refused to {what} for {repo}: {status} {message}")]
    Refused {
        what: &'static str,
        repo: String,
        status: u16,
        message: String,
    },
    #[error("GitHub sent something unexpected: {0}")]
    Unexpected(String),
    #[error("the GitHub client could not be set up: {0}")]
    Setup(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl GithubError {
    /// A failed API call: GitHub's refusal (4xx) with its message, or GitHub being down or
    /// unreachable (5xx, timeouts, connection errors), which is worth retrying.
    pub fn api(what: &'static str, repo: &RepoName, error: octocrab::Error) -> Self {
        match &error {
            octocrab::Error::GitHub { source, .. } if source.status_code.as_u16() < 500 => {
                GithubError::Refused {
                    what,
                    repo: repo.to_string(),
                    status: source.status_code.as_u16(),
                    message: source.message.clone(),
                }
            }
            octocrab::Error::GitHub { source, .. } => GithubError::Unavailable {
                what,
                repo: repo.to_string(),
                reason: format!("GitHub answered {} {}", source.status_code, source.message),
            },
            other => GithubError::Unavailable {
                what,
                repo: repo.to_string(),
                reason: other.to_string(),
            },
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            GithubError::Unavailable { .. } | GithubError::Database(_)
        ) || matches!(self, GithubError::Refused { status: 429, .. })
    }
}

pub type Result<T, E = GithubError> = std::result::Result<T, E>;

fn require(who: &Principal, of: &ServiceRef, permission: Permission) -> Result<()> {
    who.require(&of.team, permission)
        .map_err(|error| match error {
            AppError::Forbidden { message } => GithubError::Forbidden(message),
            other => GithubError::Forbidden(other.to_string()),
        })
}

/// The GitHub capability, shared by pages, the webhook endpoint and the background workers.
#[derive(Clone)]
pub struct Github {
    pool: PgPool,
    client: GithubClient,
    settings: Arc<GithubAppSettings>,
    commands: DeployCommands,
    accounts: Accounts,
    /// Canopy's own absolute URL, for the links GitHub shows (deploy pages, badges).
    base_url: Arc<str>,
    deliveries_wake: Arc<Notify>,
    statuses_wake: Arc<Notify>,
    /// Dependency drift, told about links and pushes (a linked repository is a drift source).
    drift: Option<crate::drift::Drift>,
}

impl Github {
    pub fn new(
        pool: PgPool,
        settings: GithubAppSettings,
        commands: DeployCommands,
        base_url: String,
    ) -> Result<Self> {
        Ok(Self {
            client: GithubClient::new(&settings)?,
            accounts: Accounts::new(pool.clone()),
            pool,
            settings: Arc::new(settings),
            commands,
            base_url: base_url.trim_end_matches('/').into(),
            deliveries_wake: Arc::default(),
            statuses_wake: Arc::default(),
            drift: None,
        })
    }

    /// Links and pushes also reach dependency drift, which reads linked repositories through
    /// this capability's client.
    pub fn with_drift(mut self, drift: crate::drift::Drift) -> Self {
        drift.set_repo_files(Arc::new(sources::RepoReader {
            client: self.client.clone(),
            pool: self.pool.clone(),
        }));
        self.drift = Some(drift);
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Starts the delivery and deployment-status workers; they stop with `shutdown`.
    pub fn spawn(&self, shutdown: tokio_util::sync::CancellationToken) {
        deliveries::spawn(self.clone(), shutdown.clone());
        statuses::spawn(self.clone(), shutdown);
    }
}
