//! PostgreSQL queries of the drift capability: sources, the scan queue (claims with leases),
//! finished scans with history, and what the org-wide page reads.

use app::api::{drift::Source, ServiceName, TeamName};
use sqlx::PgPool;
use time::{Date, OffsetDateTime};

use super::Result;

/// A scan as stored.
#[derive(Debug, Clone)]
pub struct ScanRow {
    pub id: i64,
    pub trigger: String,
    pub requested_by: String,
    pub state: String,
    pub source_path: String,
    pub queued_at: OffsetDateTime,
    pub started_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
    pub error: Option<String>,
    pub summary: Option<serde_json::Value>,
    pub reports: Option<serde_json::Value>,
    pub manifest_errors: Option<serde_json::Value>,
}

/// A scan claimed by this replica's worker.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: i64,
    pub source_path: String,
}

/// A service's newest done scan (the org-wide ranking).
#[derive(Debug, Clone)]
pub struct LatestDone {
    pub team: String,
    pub service: String,
    pub finished_at: OffsetDateTime,
    pub summary: serde_json::Value,
}

/// A service's last done scan of one day (the trend).
#[derive(Debug, Clone)]
pub struct DailyDone {
    pub service_id: i64,
    pub team: String,
    pub day: Date,
    pub summary: serde_json::Value,
}

/// What a finished scan stores.
pub struct Finished {
    pub summary: serde_json::Value,
    pub reports: serde_json::Value,
    pub manifest_errors: serde_json::Value,
    pub dependencies: i32,
    pub outdated: i32,
    pub libyears: f64,
    pub majors_behind: i32,
}

pub async fn service_id(
    pool: &PgPool,
    team: &TeamName,
    service: &ServiceName,
) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar!(
        "SELECT s.id FROM services s JOIN teams t ON t.id = s.team_id
         WHERE t.name = $1 AND s.name = $2",
        team.as_str(),
        service.as_str()
    )
    .fetch_optional(pool)
    .await?)
}

pub async fn set_source(pool: &PgPool, service_id: i64, path: &str, actor: &str) -> Result<()> {
    sqlx::query!(
        r#"INSERT INTO drift_sources (service_id, kind, source_path, updated_by)
           VALUES ($1, 'path', $2, $3)
           ON CONFLICT (service_id) DO UPDATE
           SET kind = 'path', source_path = EXCLUDED.source_path,
               updated_by = EXCLUDED.updated_by, updated_at = now()"#,
        service_id,
        path,
        actor
    )
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn source(pool: &PgPool, service_id: i64) -> Result<Option<Source>> {
    let row = sqlx::query!(
        "SELECT kind, source_path FROM drift_sources WHERE service_id = $1",
        service_id
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| match row.kind.as_str() {
        "github" => {
            let (repository, branch) = row
                .source_path
                .split_once('@')
                .unwrap_or((row.source_path.as_str(), "main"));
            Source::Github {
                repository: repository.to_owned(),
                branch: branch.to_owned(),
            }
        }
        _ => Source::Path {
            path: row.source_path,
        },
    }))
}

/// Makes the linked repository `owner/name@branch` the service's source, unless a local path
/// was set (a path someone chose stays).
pub async fn set_github_source(
    pool: &PgPool,
    service_id: i64,
    repository_at_branch: &str,
    actor: &str,
) -> Result<()> {
    sqlx::query!(
        r#"INSERT INTO drift_sources (service_id, kind, source_path, updated_by)
           VALUES ($1, 'github', $2, $3)
           ON CONFLICT (service_id) DO UPDATE
           SET source_path = EXCLUDED.source_path, updated_by = EXCLUDED.updated_by,
               updated_at = now()
           WHERE drift_sources.kind = 'github'"#,
        service_id,
        repository_at_branch,
        actor
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// What a scan of `source` reads: the path, or `github:owner/name@branch`.
pub fn scan_target(source: &Source) -> String {
    match source {
        Source::Path { path } => path.clone(),
        Source::Github { repository, branch } => format!("github:{repository}@{branch}"),
    }
}

/// Queues a scan, or returns the one already queued or running for the service.
pub async fn enqueue(
    pool: &PgPool,
    service_id: i64,
    trigger: &str,
    actor: &str,
    path: &str,
) -> Result<i64> {
    let inserted = sqlx::query_scalar!(
        r#"INSERT INTO drift_scans (service_id, trigger, requested_by, source_path)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (service_id) WHERE state IN ('queued', 'running') DO NOTHING
           RETURNING id"#,
        service_id,
        trigger,
        actor,
        path
    )
    .fetch_optional(pool)
    .await?;
    if let Some(id) = inserted {
        return Ok(id);
    }
    Ok(sqlx::query_scalar!(
        "SELECT id FROM drift_scans WHERE service_id = $1 AND state IN ('queued', 'running')
         ORDER BY id DESC LIMIT 1",
        service_id
    )
    .fetch_one(pool)
    .await?)
}

/// Queues a scheduled scan of every service with a source, when this replica is the one that
/// moves the schedule forward (at most once per `every_secs` across replicas). Returns how many
/// scans it queued, or `None` when the round was not due or another replica took it.
pub async fn queue_scheduled_round(pool: &PgPool, every_secs: f64) -> Result<Option<u64>> {
    let mut tx = pool.begin().await?;
    let claimed = sqlx::query_scalar!(
        r#"UPDATE drift_schedule SET last_run_at = now()
           WHERE id AND (last_run_at IS NULL OR last_run_at <= now() - make_interval(secs => $1))
           RETURNING last_run_at"#,
        every_secs
    )
    .fetch_optional(&mut *tx)
    .await?;
    if claimed.is_none() {
        tx.rollback().await?;
        return Ok(None);
    }
    let queued = sqlx::query!(
        r#"INSERT INTO drift_scans (service_id, trigger, requested_by, source_path)
           SELECT service_id, 'schedule', 'schedule',
                  CASE WHEN kind = 'github' THEN 'github:' || source_path ELSE source_path END
           FROM drift_sources
           ON CONFLICT (service_id) WHERE state IN ('queued', 'running') DO NOTHING"#
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(Some(queued))
}

/// Claims the oldest queued scan (or a running one whose replica's lease ran out).
pub async fn claim(pool: &PgPool, lease_secs: f64) -> Result<Option<Claimed>> {
    let row = sqlx::query!(
        r#"UPDATE drift_scans SET state = 'running', started_at = now(),
               lease_until = now() + make_interval(secs => $1)
           WHERE id = (
               SELECT id FROM drift_scans
               WHERE state = 'queued' OR (state = 'running' AND lease_until < now())
               ORDER BY queued_at LIMIT 1 FOR UPDATE SKIP LOCKED)
           RETURNING id, source_path"#,
        lease_secs
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| Claimed {
        id: row.id,
        source_path: row.source_path,
    }))
}

pub async fn finish_done(pool: &PgPool, id: i64, finished: Finished) -> Result<()> {
    sqlx::query!(
        r#"UPDATE drift_scans SET state = 'done', finished_at = now(), lease_until = NULL,
               summary = $2, reports = $3, manifest_errors = $4, dependencies = $5,
               outdated = $6, libyears = $7, majors_behind = $8
           WHERE id = $1"#,
        id,
        finished.summary,
        finished.reports,
        finished.manifest_errors,
        finished.dependencies,
        finished.outdated,
        finished.libyears,
        finished.majors_behind
    )
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn finish_failed(pool: &PgPool, id: i64, error: &str) -> Result<()> {
    sqlx::query!(
        r#"UPDATE drift_scans SET state = 'failed', finished_at = now(), lease_until = NULL,
               error = $2
           WHERE id = $1"#,
        id,
        error
    )
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn scan(pool: &PgPool, id: i64) -> Result<ScanRow> {
    Ok(sqlx::query_as!(
        ScanRow,
        r#"SELECT id, trigger, requested_by, state, source_path, queued_at, started_at,
                  finished_at, error, summary, NULL::jsonb AS reports, manifest_errors
           FROM drift_scans WHERE id = $1"#,
        id
    )
    .fetch_one(pool)
    .await?)
}

/// The newest scans of a service (without their reports), newest first.
pub async fn recent_scans(pool: &PgPool, service_id: i64, limit: i64) -> Result<Vec<ScanRow>> {
    Ok(sqlx::query_as!(
        ScanRow,
        r#"SELECT id, trigger, requested_by, state, source_path, queued_at, started_at,
                  finished_at, error, summary, NULL::jsonb AS reports, manifest_errors
           FROM drift_scans WHERE service_id = $1
           ORDER BY queued_at DESC, id DESC LIMIT $2"#,
        service_id,
        limit
    )
    .fetch_all(pool)
    .await?)
}

/// The newest done scan of a service, with its reports.
pub async fn last_done(pool: &PgPool, service_id: i64) -> Result<Option<ScanRow>> {
    Ok(sqlx::query_as!(
        ScanRow,
        r#"SELECT id, trigger, requested_by, state, source_path, queued_at, started_at,
                  finished_at, error, summary, reports, manifest_errors
           FROM drift_scans WHERE service_id = $1 AND state = 'done'
           ORDER BY finished_at DESC, id DESC LIMIT 1"#,
        service_id
    )
    .fetch_optional(pool)
    .await?)
}

pub async fn latest_done_per_service(pool: &PgPool) -> Result<Vec<LatestDone>> {
    Ok(sqlx::query_as!(
        LatestDone,
        r#"SELECT DISTINCT ON (d.service_id) t.name AS team, s.name AS service,
                  d.finished_at AS "finished_at!", d.summary AS "summary!"
           FROM drift_scans d
           JOIN services s ON s.id = d.service_id
           JOIN teams t ON t.id = s.team_id
           WHERE d.state = 'done'
           ORDER BY d.service_id, d.finished_at DESC, d.id DESC"#
    )
    .fetch_all(pool)
    .await?)
}

/// Outdated dependencies at each service's newest done scan, by service id (the catalogue).
pub async fn outdated_per_service(pool: &PgPool) -> Result<std::collections::HashMap<i64, i32>> {
    let rows = sqlx::query!(
        r#"SELECT DISTINCT ON (service_id) service_id, outdated
           FROM drift_scans
           WHERE state = 'done'
           ORDER BY service_id, finished_at DESC, id DESC"#
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| row.outdated.map(|outdated| (row.service_id, outdated)))
        .collect())
}

/// Each service's last done scan per UTC day over the last `days` days.
pub async fn daily_done(pool: &PgPool, days: i32) -> Result<Vec<DailyDone>> {
    Ok(sqlx::query_as!(
        DailyDone,
        r#"SELECT DISTINCT ON (d.service_id, (d.finished_at AT TIME ZONE 'UTC')::date)
                  d.service_id, t.name AS team,
                  (d.finished_at AT TIME ZONE 'UTC')::date AS "day!",
                  d.summary AS "summary!"
           FROM drift_scans d
           JOIN services s ON s.id = d.service_id
           JOIN teams t ON t.id = s.team_id
           WHERE d.state = 'done' AND d.finished_at >= now() - make_interval(days => $1)
           ORDER BY d.service_id, (d.finished_at AT TIME ZONE 'UTC')::date,
                    d.finished_at DESC, d.id DESC"#,
        days
    )
    .fetch_all(pool)
    .await?)
}

/// Teams with at least one service.
pub async fn teams(pool: &PgPool) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar!(
        "SELECT DISTINCT t.name FROM teams t JOIN services s ON s.team_id = t.id ORDER BY t.name"
    )
    .fetch_all(pool)
    .await?)
}
