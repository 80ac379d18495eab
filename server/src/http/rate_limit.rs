//! The request rate limit, shared by every replica: each caller (a signed-in person or token
//! holder by user, anyone else by address) may make `per_second` requests that change things
//! or reach the REST API, with bursts up to `burst`. The state is one row per caller in the
//! UNLOGGED table `rate_limits` (the generic cell rate algorithm: the row holds the caller's
//! "theoretical arrival time"), updated by a single statement, so replicas share the budget
//! without talking to each other. Over the limit: 429 with `Retry-After` and a message that
//! says which limit. Pages (GET) are not counted: they are cheap to refuse elsewhere (the
//! pool's wait) and a person clicking around should never see this. Agents' ingest and
//! GitHub's webhooks have their own bounds (node tokens and body limits, signatures).
//!
//! No maintained crate keeps GCRA state in PostgreSQL (governor and its tower layers keep it in
//! process memory, which would give each replica its own budget), hence this one statement.

use std::{net::SocketAddr, time::Duration};

use app::api::{auth::Principal, AppError};
use axum::{
    extract::{ConnectInfo, Request, State},
    http::{Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use axum_extra::{headers::RetryAfter, TypedHeader};
use sqlx::PgPool;

use crate::config::ConfigError;

/// The limit (`CANOPY_RATE_LIMIT_PER_SECOND`, default 20; `CANOPY_RATE_LIMIT_BURST`,
/// default 100).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitSettings {
    pub per_second: f64,
    pub burst: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            per_second: 20.0,
            burst: 100,
        }
    }
}

impl RateLimitSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut settings = Self::default();
        if let Some(value) = lookup("CANOPY_RATE_LIMIT_PER_SECOND") {
            settings.per_second = value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|r| r.is_finite() && *r >= 0.01 && *r <= 100_000.0)
                .ok_or_else(|| ConfigError::Invalid {
                    var: "CANOPY_RATE_LIMIT_PER_SECOND",
                    reason: "expected requests per second from 0.01 to 100000".to_owned(),
                    value: value.clone(),
                })?;
        }
        if let Some(value) = lookup("CANOPY_RATE_LIMIT_BURST") {
            settings.burst = value
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|b| (1..=1_000_000).contains(b))
                .ok_or_else(|| ConfigError::Invalid {
                    var: "CANOPY_RATE_LIMIT_BURST",
                    reason: "expected a whole number of requests from 1 to 1000000".to_owned(),
                    value: value.clone(),
                })?;
        }
        Ok(settings)
    }

    /// The time one request uses up.
    fn interval_secs(&self) -> f64 {
        1.0 / self.per_second
    }
}

/// The shared limiter.
#[derive(Clone)]
pub struct RateLimiter {
    pool: PgPool,
    settings: RateLimitSettings,
}

/// What the limiter decided for one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Allowed,
    /// Over the limit; the next request fits after this long.
    Limited {
        retry_after: Duration,
    },
}

impl RateLimiter {
    pub fn new(pool: PgPool, settings: RateLimitSettings) -> Self {
        Self { pool, settings }
    }

    pub fn settings(&self) -> RateLimitSettings {
        self.settings
    }

    /// Counts one request of `key` against the shared budget.
    pub async fn check(&self, key: &str) -> Result<Decision, sqlx::Error> {
        let interval = self.settings.interval_secs();
        let tolerance = interval * f64::from(self.settings.burst);
        // Allowed when the caller's new arrival time stays within `burst` intervals of now.
        let allowed = sqlx::query_scalar!(
            r#"INSERT INTO rate_limits AS r (key, tat)
               VALUES ($1, now() + make_interval(secs => $2))
               ON CONFLICT (key) DO UPDATE
                 SET tat = GREATEST(r.tat, now()) + make_interval(secs => $2)
                 WHERE GREATEST(r.tat, now()) + make_interval(secs => $2)
                       <= now() + make_interval(secs => $3)
               RETURNING 1 AS "allowed!""#,
            key,
            interval,
            tolerance
        )
        .fetch_optional(&self.pool)
        .await?;
        if allowed.is_some() {
            return Ok(Decision::Allowed);
        }
        let wait = sqlx::query_scalar!(
            r#"SELECT EXTRACT(EPOCH FROM (tat - now()))::float8 - $2 + $3 AS "wait!"
               FROM rate_limits WHERE key = $1"#,
            key,
            tolerance,
            interval
        )
        .fetch_optional(&self.pool)
        .await?
        .unwrap_or(interval);
        Ok(Decision::Limited {
            retry_after: Duration::from_secs_f64(wait.clamp(0.0, 3600.0)),
        })
    }

    /// Forgets callers whose budget is whole again (their row says nothing any more).
    pub async fn prune(&self) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query!("DELETE FROM rate_limits WHERE tat < now()")
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}

/// Whether a request counts against the limit.
pub(super) fn counted(method: &Method, path: &str) -> bool {
    if path == "/api/v1/ingest" || path.starts_with("/webhooks/") {
        return false;
    }
    path.starts_with("/api/v1/") || !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Who a request is counted for: the signed-in user (any of their tokens too), else the
/// client's address.
fn caller_key(request: &Request) -> Option<String> {
    if let Some(principal) = request.extensions().get::<Principal>() {
        return Some(format!("user:{}", principal.user_id));
    }
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| format!("addr:{}", info.0.ip()))
}

/// The middleware (inside authentication, which names the caller).
pub async fn limit(State(limiter): State<RateLimiter>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if !counted(request.method(), &path) {
        return next.run(request).await;
    }
    let Some(key) = caller_key(&request) else {
        return next.run(request).await;
    };
    match limiter.check(&key).await {
        Ok(Decision::Allowed) => next.run(request).await,
        Ok(Decision::Limited { retry_after }) => {
            let seconds = retry_after.as_secs_f64().ceil().max(1.0);
            let settings = limiter.settings();
            let error = AppError::TooManyRequests {
                message: format!(
                    "Too many requests: Canopy accepts {} requests per second from one person or address (bursts up to {}). Nothing was done; try again in {seconds:.0} s.",
                    settings.per_second, settings.burst
                ),
            };
            let (parts, body) =
                super::authn::refuse(&path, StatusCode::TOO_MANY_REQUESTS, error).into_parts();
            (
                parts,
                TypedHeader(RetryAfter::delay(Duration::from_secs_f64(seconds))),
                body,
            )
                .into_response()
        }
        // The limit fails open: a database that cannot be reached fails the request itself.
        Err(error) => {
            tracing::warn!(%error, "the rate limit could not be checked; the request goes on");
            next.run(request).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_counts_and_what_does_not() {
        assert!(counted(&Method::POST, "/api/fn/deploy_service"));
        assert!(counted(&Method::GET, "/api/v1/services"));
        assert!(counted(&Method::POST, "/signin"));
        assert!(!counted(&Method::GET, "/services"));
        assert!(!counted(&Method::POST, "/api/v1/ingest"));
        assert!(!counted(&Method::POST, "/webhooks/github"));
    }

    #[test]
    fn settings_are_bounded_and_named_when_wrong() {
        let read = |key: &'static str, value: &'static str| {
            RateLimitSettings::from_lookup(move |k| (k == key).then(|| value.to_owned()))
        };
        assert_eq!(
            read("CANOPY_RATE_LIMIT_PER_SECOND", "5")
                .unwrap()
                .per_second,
            5.0
        );
        assert_eq!(read("CANOPY_RATE_LIMIT_BURST", "10").unwrap().burst, 10);
        for (key, bad) in [
            ("CANOPY_RATE_LIMIT_PER_SECOND", "0"),
            ("CANOPY_RATE_LIMIT_PER_SECOND", "NaN"),
            ("CANOPY_RATE_LIMIT_BURST", "0"),
            ("CANOPY_RATE_LIMIT_BURST", "-3"),
        ] {
            let error = read(key, bad).unwrap_err().to_string();
            assert!(error.contains(key), "{error}");
        }
    }
}
