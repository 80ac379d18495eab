//! The audit trail: every state-changing action, who (person or token) did it, when, on which
//! service and environment, from which address, whether it was allowed, and how it ended. The
//! table is append-only (a trigger refuses UPDATE and DELETE).

use app::api::{auth::Principal, ServiceRef, TeamName};
use serde::Serialize;
use sqlx::PgPool;
use time::OffsetDateTime;

/// One audit row as pages and the API show it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: String,
    pub team: Option<String>,
    pub service: Option<String>,
    pub environment: Option<String>,
    pub address: Option<String>,
    pub allowed: bool,
    pub result: String,
}

/// What an action was about.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Org,
    Team(&'a TeamName),
    Service(&'a ServiceRef),
}

#[derive(Clone)]
pub struct Audit {
    pool: PgPool,
}

impl Audit {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Appends the entry of an action that ended with `result`: refused when it was
    /// forbidden, else allowed, with `describe(value)` or the error as its result.
    pub async fn record_result<T>(
        &self,
        who: &Principal,
        action: &str,
        target: Target<'_>,
        result: &Result<T, app::api::AppError>,
        describe: impl FnOnce(&T) -> String,
    ) {
        let (allowed, text) = match result {
            Ok(value) => (true, describe(value)),
            Err(error) => (
                !matches!(error, app::api::AppError::Forbidden { .. }),
                error.to_string(),
            ),
        };
        self.record(who, action, target, allowed, &text).await;
    }

    /// Appends one entry. A failure to write it is logged, never hidden: the action's own
    /// outcome is already decided, and the log line keeps the record.
    pub async fn record(
        &self,
        who: &Principal,
        action: &str,
        target: Target<'_>,
        allowed: bool,
        result: &str,
    ) {
        let (team, service, environment) = match target {
            Target::Org => (None, None, None),
            Target::Team(team) => (Some(team.as_str()), None, None),
            Target::Service(of) => (
                Some(of.team.as_str()),
                Some(of.service.as_str()),
                Some(of.environment.as_str()),
            ),
        };
        let written = sqlx::query!(
            "INSERT INTO audit_events (actor, action, team, service, environment, address, allowed, result)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            who.actor(),
            action,
            team,
            service,
            environment.as_deref(),
            who.address.as_deref(),
            allowed,
            result
        )
        .execute(&self.pool)
        .await;
        if let Err(error) = written {
            tracing::error!(%error, actor = %who.actor(), action, ?team, ?service, allowed, result, "audit entry could not be written");
        }
    }

    /// Newest first: the whole organisation, one team, or one service (all environments).
    pub async fn list(
        &self,
        team: Option<&TeamName>,
        service: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, sqlx::Error> {
        sqlx::query_as!(
            AuditEntry,
            "SELECT id, at, actor, action, team, service, environment, address, allowed, result
             FROM audit_events
             WHERE ($1::text IS NULL OR team = $1) AND ($2::text IS NULL OR service = $2)
             ORDER BY id DESC LIMIT $3",
            team.map(TeamName::as_str),
            service,
            limit
        )
        .fetch_all(&self.pool)
        .await
    }
}
