//! The home page's reads of the deploy records: the service environments whose newest deploy
//! failed, the rollouts in progress past their deadline, and the newest deploys.

use app::api::{deploys::DeployStatus, ServiceRef};
use sqlx::PgPool;
use time::OffsetDateTime;

/// A service environment whose newest deploy failed.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedRow {
    pub service: ServiceRef,
    pub revision: i64,
    pub reason: String,
    pub at: OffsetDateTime,
}

/// A deploy still applying or rolling out.
#[derive(Debug, Clone, PartialEq)]
pub struct InProgressRow {
    pub service: ServiceRef,
    pub revision: i64,
    pub status: DeployStatus,
    pub started_at: OffsetDateTime,
}

/// One deploy of the feed.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedRow {
    pub service: ServiceRef,
    pub revision: i64,
    pub requested_by: String,
    pub status: DeployStatus,
    pub rollback_of_revision: Option<i64>,
    pub started_at: OffsetDateTime,
}

/// A row's service, or `None` (logged) for one Canopy could not have written.
fn service_of(team: &str, service: &str, environment: &str) -> Option<ServiceRef> {
    ServiceRef::parse(team, service, environment)
        .inspect_err(|error| tracing::warn!(%error, "a deploy row names no valid service"))
        .ok()
}

fn status_of(raw: &str) -> DeployStatus {
    DeployStatus::parse(raw).unwrap_or(DeployStatus::Failed)
}

/// The standing environments (dev, staging, prod) whose newest deploy failed, newest failure
/// first. Previews are left out: they come and go with pull requests, which show their own.
pub async fn failed_latest(pool: &PgPool) -> Result<Vec<FailedRow>, sqlx::Error> {
    type Row = (String, String, String, i64, String, OffsetDateTime);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT t.name, s.name, d.environment, d.revision, coalesce(d.failure_reason, ''),
                coalesce(d.finished_at, d.started_at) AS at
         FROM deploys d
         JOIN services s ON s.id = d.service_id
         JOIN teams t ON t.id = s.team_id
         WHERE d.status = 'failed' AND d.environment IN ('dev', 'staging', 'prod')
           AND NOT EXISTS (SELECT 1 FROM deploys n
                           WHERE n.service_id = d.service_id AND n.environment = d.environment
                             AND n.revision > d.revision)
         ORDER BY at DESC, d.id DESC",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(team, service, environment, revision, reason, at)| {
            Some(FailedRow {
                service: service_of(&team, &service, &environment)?,
                revision,
                reason,
                at,
            })
        })
        .collect())
}

/// Deploys applying or rolling out that started before `started_before`, longest first
/// (the partial index `deploys_one_in_progress` holds exactly these rows).
pub async fn in_progress_since(
    pool: &PgPool,
    started_before: OffsetDateTime,
) -> Result<Vec<InProgressRow>, sqlx::Error> {
    type Row = (String, String, String, i64, String, OffsetDateTime);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT t.name, s.name, d.environment, d.revision, d.status, d.started_at
         FROM deploys d
         JOIN services s ON s.id = d.service_id
         JOIN teams t ON t.id = s.team_id
         WHERE d.status IN ('applying', 'rolling_out') AND d.started_at < $1
         ORDER BY d.started_at, d.id",
    )
    .bind(started_before)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(
            |(team, service, environment, revision, status, started_at)| {
                Some(InProgressRow {
                    service: service_of(&team, &service, &environment)?,
                    revision,
                    status: status_of(&status),
                    started_at,
                })
            },
        )
        .collect())
}

/// The newest `limit` deploys across the organisation (index `deploys_started_at`).
pub async fn newest_deploys(pool: &PgPool, limit: usize) -> Result<Vec<FeedRow>, sqlx::Error> {
    type Row = (
        String,
        String,
        String,
        i64,
        String,
        String,
        Option<i64>,
        OffsetDateTime,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT t.name, s.name, d.environment, d.revision, d.requested_by, d.status,
                r.revision, d.started_at
         FROM (SELECT * FROM deploys ORDER BY started_at DESC, id DESC LIMIT $1) d
         JOIN services s ON s.id = d.service_id
         JOIN teams t ON t.id = s.team_id
         LEFT JOIN deploys r ON r.id = d.rollback_of
         ORDER BY d.started_at DESC, d.id DESC",
    )
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(
            |(
                team,
                service,
                environment,
                revision,
                requested_by,
                status,
                rollback_of,
                started_at,
            )| {
                Some(FeedRow {
                    service: service_of(&team, &service, &environment)?,
                    revision,
                    requested_by,
                    status: status_of(&status),
                    rollback_of_revision: rollback_of,
                    started_at,
                })
            },
        )
        .collect())
}
