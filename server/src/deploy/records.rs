//! Postgres records of deploys: start, progress, outcome, history.

use app::api::{
    deploys::{DeployRecord, DeployStatus},
    spec::{Environment, ServiceSpec},
};
use sqlx::PgPool;
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

use super::DeployError;
use crate::replicas::ReplicaId;
use app::api::ServiceRef;

#[derive(Clone)]
pub struct DeployRecords {
    pool: PgPool,
}

/// What a new deploy row needs.
pub struct NewDeploy<'a> {
    pub spec: &'a ServiceSpec,
    pub requested_by: &'a str,
    pub reason: Option<&'a str>,
    pub rollback_of: Option<i64>,
    pub git_sha: Option<&'a str>,
    /// The replica that will follow the deploy, holding its lease from the start (none: any
    /// replica may claim it).
    pub follower: Option<&'a super::lease::FollowerLease>,
}

/// A deploy just recorded: what its follower needs, without reading the row back (a read that
/// fails after the commit must not keep the deploy from being applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Started {
    pub id: i64,
    pub revision: i64,
}

/// How a deploy ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    /// `reason` is shown to users as is.
    Failed {
        reason: String,
    },
}

struct Row {
    id: i64,
    team: String,
    service: String,
    environment: String,
    revision: i64,
    image: String,
    requested_by: String,
    reason: Option<String>,
    rollback_of_revision: Option<i64>,
    status: String,
    failure_reason: Option<String>,
    warnings: serde_json::Value,
    started_at: OffsetDateTime,
    finished_at: Option<OffsetDateTime>,
}

impl Row {
    fn into_record(self) -> Result<DeployRecord, DeployError> {
        let environment = Environment::parse(&self.environment)
            .ok_or_else(|| DeployError::CorruptRow("environment"))?;
        let status =
            DeployStatus::parse(&self.status).ok_or_else(|| DeployError::CorruptRow("status"))?;
        let warnings = serde_json::from_value(self.warnings)?;
        Ok(DeployRecord {
            id: self.id,
            team: self.team,
            service: self.service,
            environment,
            revision: self.revision,
            image: self.image,
            requested_by: self.requested_by,
            reason: self.reason,
            rollback_of_revision: self.rollback_of_revision,
            status,
            failure_reason: self.failure_reason,
            warnings,
            started_at: self.started_at.format(&Rfc3339)?,
            finished_at: self.finished_at.map(|t| t.format(&Rfc3339)).transpose()?,
            duration_ms: self.finished_at.map(|f| {
                i64::try_from((f - self.started_at).whole_milliseconds()).unwrap_or(i64::MAX)
            }),
        })
    }
}

impl DeployRecords {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Registers the service if needed and records a new deploy as `applying` with the next
    /// revision. Refused (Conflict) while another deploy of the same service and environment
    /// is in progress.
    pub async fn start(&self, new: NewDeploy<'_>) -> Result<Started, DeployError> {
        let spec_json = serde_json::to_value(new.spec)?;
        let mut tx = self.pool.begin().await?;
        let team_id = sqlx::query_scalar!(
            r#"INSERT INTO teams (name) VALUES ($1)
               ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id"#,
            new.spec.team.as_str()
        )
        .fetch_one(&mut *tx)
        .await?;
        let service_id = sqlx::query_scalar!(
            r#"INSERT INTO services (team_id, name) VALUES ($1, $2)
               ON CONFLICT (team_id, name) DO UPDATE SET name = EXCLUDED.name RETURNING id"#,
            team_id,
            new.spec.name.as_str()
        )
        .fetch_one(&mut *tx)
        .await?;
        // Serialise revision numbering per service and environment.
        sqlx::query!(
            "SELECT id FROM services WHERE id = $1 FOR UPDATE",
            service_id
        )
        .fetch_one(&mut *tx)
        .await?;
        let environment = new.spec.environment.to_string();
        let environment = environment.as_str();
        let (follower, lease_secs) = match new.follower {
            Some(lease) => (
                Some(lease.replica().as_str()),
                Some(lease.duration().as_secs_f64()),
            ),
            None => (None, None),
        };
        let inserted = sqlx::query!(
            r#"INSERT INTO deploys (service_id, environment, revision, spec, image, requested_by,
                                    reason, rollback_of, status, git_sha, follower,
                                    follower_lease_until)
               SELECT $1, $2, COALESCE(MAX(revision), 0) + 1, $3, $4, $5, $6, $7, 'applying', $8,
                      $9, now() + make_interval(secs => $10)
               FROM deploys WHERE service_id = $1 AND environment = $2
               ON CONFLICT DO NOTHING
               RETURNING id, revision"#,
            service_id,
            environment,
            spec_json,
            new.spec.image.as_str(),
            new.requested_by,
            new.reason,
            new.rollback_of,
            new.git_sha,
            follower,
            lease_secs
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(started) = inserted else {
            tx.rollback().await?;
            return Err(DeployError::Conflict {
                field: app::api::Field::Name,
                message: format!(
                    "A deploy of {} to {environment} is already in progress; wait for it to finish.",
                    new.spec.name
                ),
            });
        };
        tx.commit().await?;
        Ok(Started {
            id: started.id,
            revision: started.revision,
        })
    }

    pub async fn get(&self, id: i64) -> Result<DeployRecord, DeployError> {
        let row = sqlx::query_as!(
            Row,
            r#"SELECT d.id, t.name AS team, s.name AS service, d.environment, d.revision, d.image,
                      d.requested_by, d.reason, r.revision AS "rollback_of_revision?", d.status,
                      d.failure_reason, d.warnings, d.started_at, d.finished_at
               FROM deploys d
               JOIN services s ON s.id = d.service_id
               JOIN teams t ON t.id = s.team_id
               LEFT JOIN deploys r ON r.id = d.rollback_of
               WHERE d.id = $1"#,
            id
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| DeployError::NotFound {
            what: format!("Deploy {id}"),
        })?;
        row.into_record()
    }

    /// Newest first.
    pub async fn history(
        &self,
        of: &ServiceRef,
        limit: i64,
    ) -> Result<Vec<DeployRecord>, DeployError> {
        let rows = sqlx::query_as!(
            Row,
            r#"SELECT d.id, t.name AS team, s.name AS service, d.environment, d.revision, d.image,
                      d.requested_by, d.reason, r.revision AS "rollback_of_revision?", d.status,
                      d.failure_reason, d.warnings, d.started_at, d.finished_at
               FROM deploys d
               JOIN services s ON s.id = d.service_id
               JOIN teams t ON t.id = s.team_id
               LEFT JOIN deploys r ON r.id = d.rollback_of
               WHERE t.name = $1 AND s.name = $2 AND d.environment = $3
               ORDER BY d.revision DESC
               LIMIT $4"#,
            of.team.as_str(),
            of.service.as_str(),
            &*of.environment.as_str(),
            limit
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Row::into_record).collect()
    }

    /// The spec recorded with a deploy (for rollback), with its revision and status.
    pub async fn spec_of_revision(
        &self,
        of: &ServiceRef,
        revision: i64,
    ) -> Result<(i64, ServiceSpec, DeployStatus), DeployError> {
        let row = sqlx::query!(
            r#"SELECT d.id, d.spec, d.status
               FROM deploys d
               JOIN services s ON s.id = d.service_id
               JOIN teams t ON t.id = s.team_id
               WHERE t.name = $1 AND s.name = $2 AND d.environment = $3 AND d.revision = $4"#,
            of.team.as_str(),
            of.service.as_str(),
            &*of.environment.as_str(),
            revision
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| DeployError::NotFound {
            what: format!("Revision {revision} of {of}"),
        })?;
        let status =
            DeployStatus::parse(&row.status).ok_or_else(|| DeployError::CorruptRow("status"))?;
        let spec = serde_json::from_value(row.spec)?;
        Ok((row.id, spec, status))
    }

    /// Records that the objects are applied; only the replica following the deploy (`by`) can.
    pub async fn mark_rolling_out(
        &self,
        id: i64,
        warnings: &[String],
        by: &ReplicaId,
    ) -> Result<(), DeployError> {
        let warnings = serde_json::to_value(warnings)?;
        sqlx::query!(
            r#"UPDATE deploys SET status = 'rolling_out', warnings = $2
               WHERE id = $1 AND status = 'applying' AND follower = $3"#,
            id,
            warnings,
            by.as_str()
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records the outcome once, by the replica following the deploy (`by`); later calls for
    /// the same deploy, or calls from a replica that lost its lease, change nothing.
    pub async fn finish(
        &self,
        id: i64,
        outcome: Outcome,
        by: &ReplicaId,
    ) -> Result<(), DeployError> {
        let (status, reason) = match outcome {
            Outcome::Succeeded => ("succeeded", None),
            Outcome::Failed { reason } => ("failed", Some(reason)),
        };
        sqlx::query!(
            r#"UPDATE deploys SET status = $2, failure_reason = $3, finished_at = now(),
                                  follower_lease_until = NULL
               WHERE id = $1 AND status IN ('applying', 'rolling_out') AND follower = $4"#,
            id,
            status,
            reason,
            by.as_str()
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
