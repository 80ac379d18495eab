//! Who gets a team's e-mail and when: the team's schedule (set by a team admin) and each
//! person's opt-out per team (from the portal or the one-click unsubscribe link).

use sqlx::PgPool;

use super::{
    week::{Schedule, TeamZone},
    ReportError,
};

/// How an opt-out was made (shown to the person).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptOutVia {
    Portal,
    OneClick,
}

impl OptOutVia {
    fn as_str(self) -> &'static str {
        match self {
            Self::Portal => "portal",
            Self::OneClick => "one_click",
        }
    }
}

#[derive(Clone)]
pub struct Preferences {
    pool: PgPool,
}

impl Preferences {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The team's schedule, or Monday 08:00 UTC.
    pub async fn schedule(&self, team: &str) -> Result<Schedule, ReportError> {
        let row = sqlx::query!(
            "SELECT weekday, hour, time_zone FROM report_schedules WHERE team = $1",
            team
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(row) => Schedule {
                weekday: row.weekday as i8,
                hour: row.hour as i8,
                // A zone stored by an older release and unknown now falls back to UTC.
                zone: TeamZone::parse(&row.time_zone).unwrap_or_else(|_| TeamZone::utc()),
            },
            None => Schedule::default(),
        })
    }

    pub async fn set_schedule(
        &self,
        team: &str,
        schedule: &Schedule,
        by: &str,
    ) -> Result<(), ReportError> {
        sqlx::query!(
            "INSERT INTO report_schedules (team, weekday, hour, time_zone, updated_by)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (team) DO UPDATE SET weekday = $2, hour = $3, time_zone = $4,
                 updated_by = $5, updated_at = now()",
            team,
            i16::from(schedule.weekday),
            i16::from(schedule.hour),
            schedule.zone.name(),
            by
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Teams that have members (the ones an e-mail can go to).
    pub async fn teams_with_members(&self) -> Result<Vec<String>, ReportError> {
        Ok(
            sqlx::query_scalar!("SELECT DISTINCT team FROM team_members ORDER BY team")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    pub async fn opted_out(&self, user_id: i64, team: &str) -> Result<bool, ReportError> {
        Ok(sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM report_opt_outs WHERE user_id = $1 AND team = $2)
               AS "exists!""#,
            user_id,
            team
        )
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn opt_out(
        &self,
        user_id: i64,
        team: &str,
        via: OptOutVia,
    ) -> Result<(), ReportError> {
        sqlx::query!(
            "INSERT INTO report_opt_outs (user_id, team, via) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            user_id,
            team,
            via.as_str()
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn opt_in(&self, user_id: i64, team: &str) -> Result<(), ReportError> {
        sqlx::query!(
            "DELETE FROM report_opt_outs WHERE user_id = $1 AND team = $2",
            user_id,
            team
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The person's e-mail address, if they have one.
    pub async fn email_of(&self, user_id: i64) -> Result<Option<String>, ReportError> {
        Ok(
            sqlx::query_scalar!("SELECT email FROM users WHERE id = $1", user_id)
                .fetch_optional(&self.pool)
                .await?
                .flatten()
                .filter(|e| !e.is_empty()),
        )
    }
}
