//! Identity: local accounts and invites, sessions, roles per team, API tokens and the audit
//! trail. The rules of who may do what are in `app::api::auth` (shared with the pages); this
//! module finds out who is asking and keeps the records. Threat model: docs/SECURITY.md.

pub mod accounts;
pub mod audit;
pub mod github;
pub mod session;
pub mod tokens;

use app::api::{auth::Principal, AppError};

pub use accounts::{Accounts, Username};
pub use audit::{Audit, AuditEntry};
pub use tokens::ApiTokens;

/// How identity fails. Mapped to what users see in `server/src/error.rs`.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Wrong password and unknown user get the same answer (no user enumeration).
    #[error("The user name or password is not right.")]
    BadCredentials,
    #[error("Too many failed sign-ins for this account or from this address; wait {retry_after_minutes} minutes and try again.")]
    RateLimited { retry_after_minutes: i64 },
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("This invite link is not valid: it expired, was already used, or never existed. Ask an admin for a new one.")]
    InviteNotValid,
    #[error("The user name {0} is taken; pick another.")]
    UsernameTaken(String),
    #[error("{0} was not found")]
    NotFound(String),
    #[error("the identity records: {0}")]
    Database(#[from] sqlx::Error),
    #[error("password hashing: {0}")]
    Hashing(String),
    #[error("the session store: {0}")]
    Session(#[from] tower_sessions::session::Error),
    #[error("writing {path}: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Identity for the HTTP layer: accounts, tokens, the audit log, and how Canopy is reached.
#[derive(Clone)]
pub struct Identity {
    pub accounts: Accounts,
    pub tokens: ApiTokens,
    pub audit: Audit,
    /// `host[:port]` of `CANOPY_PUBLIC_URL`: the origin state-changing requests must come from
    /// (else the request's own Host).
    pub public_host: Option<String>,
    /// Where `/invite/...` links point (`CANOPY_PUBLIC_URL`, else the request's Host).
    pub public_url: Option<String>,
    /// Sign-in with GitHub, when `CANOPY_GITHUB_CLIENT_ID` and its secret are set.
    pub github: Option<github::GithubSignIn>,
}

impl Identity {
    /// `public_url`: `CANOPY_PUBLIC_URL`; `github`: sign-in with GitHub, when configured.
    pub fn new(
        pool: sqlx::PgPool,
        public_url: Option<&url::Url>,
        github: Option<github::GithubSettings>,
    ) -> Self {
        Self {
            accounts: Accounts::new(pool.clone()),
            tokens: ApiTokens::new(pool.clone()),
            audit: Audit::new(pool),
            public_host: public_url.and_then(|url| {
                let host = url.host_str()?;
                Some(match url.port() {
                    Some(port) => format!("{host}:{port}"),
                    None => host.to_owned(),
                })
            }),
            public_url: public_url.map(|u| u.as_str().trim_end_matches('/').to_owned()),
            github: github.map(github::GithubSignIn::new),
        }
    }
}

impl Identity {
    /// How people reach Canopy, for links (invites, GitHub's callback): `CANOPY_PUBLIC_URL`,
    /// else the request's own host over plain http (the local default).
    pub fn base_url(&self, headers: &axum::http::HeaderMap) -> String {
        self.public_url.clone().unwrap_or_else(|| {
            let host = headers
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            format!("http://{host}")
        })
    }
}

/// The principal of the bootstrap token (`CANOPY_API_TOKEN`): an organisation admin, for
/// scripts that set Canopy up before anyone has signed in.
pub fn bootstrap_principal() -> Principal {
    Principal {
        user_id: 0,
        username: "bootstrap-token".to_owned(),
        org_admin: true,
        teams: Default::default(),
        token_scope: Some(app::api::auth::Scope::Admin),
        address: None,
    }
}

/// `Ok` when `principal` may administer the organisation.
pub fn require_org_admin(principal: &Principal) -> Result<(), AppError> {
    if principal.may_administer_org() {
        Ok(())
    } else {
        Err(AppError::Forbidden {
            message: format!(
                "{} is not an organisation admin; only they manage users and see the organisation's audit log",
                principal.username
            ),
        })
    }
}
