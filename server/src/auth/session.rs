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
) -> Result<Option<Principal>, AuthError> {
    let Some(signed_in) = session.get::<SignedIn>(KEY).await? else {
        return Ok(None);
    };
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
