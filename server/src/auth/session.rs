//! Sessions (tower-sessions, stored in PostgreSQL so every replica sees them): the cookie's
//! attributes, idle and absolute expiry, and what a session holds.

use app::api::auth::Principal;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use tower_sessions::{
    cookie::SameSite, session_store::ExpiredDeletion, Expiry, Session, SessionManagerLayer,
};
use tower_sessions_sqlx_store::PostgresStore;

use super::{Accounts, AuthError};

pub const COOKIE_NAME: &str = "canopy_session";
/// A session ends after this long without a request...
pub const IDLE_EXPIRY: Duration = Duration::hours(8);
/// ...and in any case this long after signing in.
pub const ABSOLUTE_EXPIRY: Duration = Duration::days(7);
const KEY: &str = "identity";

/// What a signed-in session holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SignedIn {
    user_id: i64,
    /// The user's session epoch at sign-in; "sign out everywhere" bumps it.
    epoch: i32,
    signed_in_at: OffsetDateTime,
    /// Set for GitHub sign-ins: the person's token (server-side only, in the session store)
    /// and when their membership was last read from GitHub.
    #[serde(default)]
    github: Option<GithubSession>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct GithubSession {
    token: String,
    refreshed_at: OffsetDateTime,
}

/// The session layer: `Secure` cookies when Canopy is served over HTTPS.
pub fn layer(pool: sqlx::PgPool, secure: bool) -> SessionManagerLayer<PostgresStore> {
    let store = PostgresStore::new(pool);
    let cleaner = store.clone();
    tokio::spawn(async move {
        if let Err(error) = cleaner
            .continuously_delete_expired(tokio::time::Duration::from_secs(3600))
            .await
        {
            tracing::warn!(%error, "expired session cleanup stopped");
        }
    });
    SessionManagerLayer::new(store)
        .with_name(COOKIE_NAME)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(secure)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(IDLE_EXPIRY))
}

/// Starts a signed-in session for `user_id` under a NEW session id (no fixation).
pub async fn sign_in(
    session: &Session,
    accounts: &Accounts,
    user_id: i64,
) -> Result<(), AuthError> {
    start(session, accounts, user_id, None).await
}

/// As [`sign_in`], keeping the person's GitHub token for the periodic membership refresh.
pub async fn sign_in_github(
    session: &Session,
    accounts: &Accounts,
    user_id: i64,
    token: &secrecy::SecretString,
) -> Result<(), AuthError> {
    use secrecy::ExposeSecret;
    let github = GithubSession {
        token: token.expose_secret().to_owned(),
        refreshed_at: OffsetDateTime::now_utc(),
    };
    start(session, accounts, user_id, Some(github)).await
}

async fn start(
    session: &Session,
    accounts: &Accounts,
    user_id: i64,
    github: Option<GithubSession>,
) -> Result<(), AuthError> {
    let epoch = accounts
        .principal(user_id)
        .await?
        .map_or(0, |(_, epoch)| epoch);
    session.cycle_id().await?;
    session
        .insert(
            KEY,
            SignedIn {
                user_id,
                epoch,
                signed_in_at: OffsetDateTime::now_utc(),
                github,
            },
        )
        .await?;
    Ok(())
}

pub async fn sign_out(session: &Session) -> Result<(), AuthError> {
    session.flush().await?;
    Ok(())
}

/// The signed-in principal of this session, if it is still valid (user exists, not signed out
/// everywhere since, not past the absolute expiry). An invalid session is ended.
pub async fn principal(
    session: &Session,
    accounts: &Accounts,
    github: Option<&super::github::GithubSignIn>,
) -> Result<Option<Principal>, AuthError> {
    let Some(mut signed_in) = session.get::<SignedIn>(KEY).await? else {
        return Ok(None);
    };
    if let (Some(github), Some(linked)) = (github, signed_in.github.clone()) {
        if OffsetDateTime::now_utc() - linked.refreshed_at >= github.refresh_every() {
            let token = secrecy::SecretString::from(linked.token.clone());
            match github.identity(&token).await {
                Ok(identity) => {
                    accounts.upsert_github_user(&identity).await?;
                    signed_in.github = Some(GithubSession {
                        refreshed_at: OffsetDateTime::now_utc(),
                        ..linked
                    });
                    session.insert(KEY, signed_in.clone()).await?;
                }
                Err(error @ super::github::GithubError::NotInOrg { .. }) => {
                    tracing::info!(%error, "signed out: no longer in the GitHub organisation");
                    session.flush().await?;
                    return Ok(None);
                }
                // GitHub down or the token revoked: the roles read last time stay until it
                // answers (a revoked token is found at the next sign-in).
                Err(error) => {
                    tracing::warn!(%error, "GitHub membership refresh failed; keeping the last roles")
                }
            }
        }
    }
    let valid = if OffsetDateTime::now_utc() - signed_in.signed_in_at > ABSOLUTE_EXPIRY {
        None
    } else {
        accounts
            .principal(signed_in.user_id)
            .await?
            .filter(|(_, epoch)| *epoch == signed_in.epoch)
            .map(|(principal, _)| principal)
    };
    if valid.is_none() {
        session.flush().await?;
    }
    Ok(valid)
}

const CSRF_KEY: &str = "csrf";

/// The session's anti-forgery token for forms that post without JavaScript (made on first use).
pub async fn csrf_token(session: &Session) -> Result<String, AuthError> {
    if let Some(token) = session.get::<String>(CSRF_KEY).await? {
        return Ok(token);
    }
    let token = super::accounts::random_secret(24);
    session.insert(CSRF_KEY, token.clone()).await?;
    Ok(token)
}

/// Whether `given` is this session's token (compared in constant time).
pub async fn csrf_matches(session: &Session, given: &str) -> Result<bool, AuthError> {
    Ok(session
        .get::<String>(CSRF_KEY)
        .await?
        .is_some_and(|expected| {
            bool::from(subtle::ConstantTimeEq::ct_eq(
                expected.as_bytes(),
                given.as_bytes(),
            ))
        }))
}
