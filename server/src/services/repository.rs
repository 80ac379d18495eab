//! Postgres queries for teams and services.

use app::api::{AppError, Field, ServiceName, ServiceSummary, TeamName, TeamSummary};
use sqlx::PgPool;
use time::format_description::well_known::Rfc3339;

use crate::error::{from_sqlx, internal};

#[derive(Clone)]
pub struct ServiceRepository {
    pool: PgPool,
}

impl ServiceRepository {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub async fn list(&self) -> Result<Vec<ServiceSummary>, AppError> {
        let rows = sqlx::query!(
            r#"SELECT t.name AS team, s.name, s.created_at
               FROM services s JOIN teams t ON t.id = s.team_id
               ORDER BY t.name, s.name"#
        )
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlx)?;
        rows.into_iter()
            .map(|row| {
                Ok(ServiceSummary {
                    team: TeamName::parse(&row.team).map_err(internal)?,
                    name: ServiceName::parse(&row.name).map_err(internal)?,
                    created_at: row.created_at.format(&Rfc3339).map_err(internal)?,
                })
            })
            .collect()
    }

    /// Registers `name` for `team` (creating the team on first use). A name already taken in the
    /// team is a conflict and writes nothing.
    pub async fn register(
        &self,
        team: TeamName,
        name: ServiceName,
    ) -> Result<ServiceSummary, AppError> {
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        let team_id = sqlx::query_scalar!(
            r#"INSERT INTO teams (name) VALUES ($1)
               ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
               RETURNING id"#,
            team.as_str()
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(from_sqlx)?;
        let created_at = sqlx::query_scalar!(
            r#"INSERT INTO services (team_id, name) VALUES ($1, $2)
               ON CONFLICT (team_id, name) DO NOTHING
               RETURNING created_at"#,
            team_id,
            name.as_str()
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(from_sqlx)?;
        let Some(created_at) = created_at else {
            tx.rollback().await.map_err(from_sqlx)?;
            return Err(AppError::Conflict {
                field: Field::Name,
                message: format!("A service named “{name}” already exists in team “{team}”. Choose another name."),
            });
        };
        tx.commit().await.map_err(from_sqlx)?;
        tracing::info!(%team, service = %name, "service registered");
        Ok(ServiceSummary {
            team,
            name,
            created_at: created_at.format(&Rfc3339).map_err(internal)?,
        })
    }

    pub async fn teams(&self) -> Result<Vec<TeamSummary>, AppError> {
        let rows = sqlx::query!(
            r#"SELECT t.name, count(s.id) AS "service_count!"
               FROM teams t LEFT JOIN services s ON s.team_id = t.id
               GROUP BY t.name ORDER BY t.name"#
        )
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlx)?;
        rows.into_iter()
            .map(|row| {
                Ok(TeamSummary {
                    name: TeamName::parse(&row.name).map_err(internal)?,
                    service_count: row.service_count,
                })
            })
            .collect()
    }
}
