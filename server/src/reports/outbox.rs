//! The e-mail outbox in PostgreSQL: a week's report frozen once, one row per team × week ×
//! person, claimed with `FOR UPDATE SKIP LOCKED` and a lease so that several replicas (or a
//! restarted one) send each message once. States: pending → sending → sent | failed.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use serde::Serialize;
use sqlx::PgPool;
use time::{Date, OffsetDateTime};

use super::{content::WeeklyReport, ReportError};

/// Attempts before a message is given up as failed.
pub const MAX_ATTEMPTS: i32 = 8;

/// A claimed row: this sender may send it until the lease runs out.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: i64,
    pub kind: String,
    pub team: String,
    pub week_start: Date,
    pub user_id: Option<i64>,
    pub recipient: String,
    pub message_id: String,
    pub attempts: i32,
}

/// One row of a team's send history.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryRow {
    pub kind: String,
    pub week_start: String,
    pub recipient: String,
    pub state: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub smtp_reply: Option<String>,
    pub created_at: String,
    pub sent_at: Option<String>,
}

/// `2026-11-30 16:05 UTC`, as the history shows times.
fn stamp(t: OffsetDateTime) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    t.to_offset(time::UtcOffset::UTC)
        .format(FORMAT)
        .unwrap_or_default()
}

/// When a transiently failed message is tried again: exponential from 30 s, at most 1 h
/// (backon's exponential backoff, no jitter: the outbox row holds the time).
pub fn retry_delay(attempts: i32) -> Duration {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_secs(30))
        .with_max_delay(Duration::from_secs(3_600))
        .with_factor(2.0)
        .without_max_times()
        .build()
        .nth(usize::try_from(attempts.saturating_sub(1)).unwrap_or(0))
        .unwrap_or(Duration::from_secs(3_600))
}

#[derive(Clone)]
pub struct Outbox {
    pool: PgPool,
}

impl Outbox {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Stores `report` as the team's week unless one is stored already; returns the stored one
    /// (so every replica sends the same figures) and whether this call stored it.
    pub async fn freeze(
        &self,
        report: &WeeklyReport,
        week_start: Date,
    ) -> Result<(WeeklyReport, bool), ReportError> {
        let content = serde_json::to_value(report)
            .map_err(|e| ReportError::Internal(format!("report as JSON: {e}")))?;
        let inserted = sqlx::query!(
            "INSERT INTO weekly_reports (team, week_start, content) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            report.team,
            week_start,
            content
        )
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1;
        Ok((self.report(&report.team, week_start).await?, inserted))
    }

    pub async fn frozen(
        &self,
        team: &str,
        week_start: Date,
    ) -> Result<Option<WeeklyReport>, ReportError> {
        let content = sqlx::query_scalar!(
            "SELECT content FROM weekly_reports WHERE team = $1 AND week_start = $2",
            team,
            week_start
        )
        .fetch_optional(&self.pool)
        .await?;
        content
            .map(|c| {
                serde_json::from_value(c)
                    .map_err(|e| ReportError::Internal(format!("stored report: {e}")))
            })
            .transpose()
    }

    pub async fn report(&self, team: &str, week_start: Date) -> Result<WeeklyReport, ReportError> {
        self.frozen(team, week_start).await?.ok_or_else(|| {
            ReportError::Internal(format!("no stored report for {team} {week_start}"))
        })
    }

    /// One row per member of `team` with an e-mail address who has not opted out; rows that
    /// exist already are left alone. Returns how many were added.
    pub async fn enqueue_week(
        &self,
        team: &str,
        week_start: Date,
        domain: &str,
    ) -> Result<u64, ReportError> {
        Ok(sqlx::query!(
            r#"INSERT INTO report_outbox (kind, team, week_start, user_id, recipient, message_id)
               SELECT 'weekly', $1, $2, u.id, u.email,
                      '<weekly.' || $1 || '.' || $2::date || '.' || u.id || '@' || $3 || '>'
               FROM team_members m JOIN users u ON u.id = m.user_id
               WHERE m.team = $1 AND u.email IS NOT NULL AND u.email <> ''
                 AND NOT EXISTS (SELECT 1 FROM report_opt_outs o
                                 WHERE o.user_id = u.id AND o.team = $1)
               ORDER BY u.id
               ON CONFLICT DO NOTHING"#,
            team,
            week_start,
            domain
        )
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// A test message of the team's week to one person (always a new row).
    pub async fn enqueue_test(
        &self,
        team: &str,
        week_start: Date,
        user_id: i64,
        recipient: &str,
        domain: &str,
    ) -> Result<i64, ReportError> {
        let message_id = format!(
            "<test.{team}.{week_start}.{}@{domain}>",
            uuid::Uuid::new_v4().simple()
        );
        Ok(sqlx::query_scalar!(
            "INSERT INTO report_outbox (kind, team, week_start, user_id, recipient, message_id)
             VALUES ('test', $1, $2, $3, $4, $5) RETURNING id",
            team,
            week_start,
            user_id,
            recipient,
            message_id
        )
        .fetch_one(&self.pool)
        .await?)
    }

    /// Claims up to `limit` due rows (pending and due, or sending with an expired lease: their
    /// sender stopped) for `worker` until `lease` from now.
    pub async fn claim(
        &self,
        worker: &str,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<Claimed>, ReportError> {
        let rows = sqlx::query!(
            r#"UPDATE report_outbox SET state = 'sending', attempts = attempts + 1,
                      claimed_by = $1, lease_until = now() + make_interval(secs => $2)
               WHERE id IN (
                   SELECT id FROM report_outbox
                   WHERE (state = 'pending' AND next_attempt_at <= now())
                      OR (state = 'sending' AND lease_until < now())
                   ORDER BY id LIMIT $3
                   FOR UPDATE SKIP LOCKED)
               RETURNING id, kind, team, week_start, user_id, recipient, message_id, attempts"#,
            worker,
            lease.as_secs_f64(),
            limit
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Claimed {
                id: r.id,
                kind: r.kind,
                team: r.team,
                week_start: r.week_start,
                user_id: r.user_id,
                recipient: r.recipient,
                message_id: r.message_id,
                attempts: r.attempts,
            })
            .collect())
    }

    /// The SMTP server accepted the message.
    pub async fn mark_sent(&self, id: i64, reply: &str) -> Result<(), ReportError> {
        sqlx::query!(
            "UPDATE report_outbox SET state = 'sent', sent_at = now(), smtp_reply = $2,
                    lease_until = NULL, last_error = NULL
             WHERE id = $1",
            id,
            reply
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Tried again after [`retry_delay`], or failed for good after [`MAX_ATTEMPTS`].
    pub async fn mark_retry(
        &self,
        claimed: &Claimed,
        error: &str,
    ) -> Result<&'static str, ReportError> {
        if claimed.attempts >= MAX_ATTEMPTS {
            self.mark_failed(
                claimed.id,
                &format!("{error} (gave up after {} attempts)", claimed.attempts),
            )
            .await?;
            return Ok("failed");
        }
        let delay = retry_delay(claimed.attempts);
        sqlx::query!(
            "UPDATE report_outbox SET state = 'pending', last_error = $2, lease_until = NULL,
                    next_attempt_at = now() + make_interval(secs => $3)
             WHERE id = $1 AND state = 'sending'",
            claimed.id,
            error,
            delay.as_secs_f64()
        )
        .execute(&self.pool)
        .await?;
        Ok("pending")
    }

    pub async fn mark_failed(&self, id: i64, error: &str) -> Result<(), ReportError> {
        sqlx::query!(
            "UPDATE report_outbox SET state = 'failed', last_error = $2, lease_until = NULL
             WHERE id = $1 AND state = 'sending'",
            id,
            error
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The team's messages, newest first (or every team's with `None`).
    pub async fn history(
        &self,
        team: Option<&str>,
        limit: i64,
    ) -> Result<Vec<HistoryRow>, ReportError> {
        let rows = sqlx::query!(
            "SELECT kind, team, week_start, recipient, state, attempts, last_error, smtp_reply,
                    created_at, sent_at
             FROM report_outbox WHERE $1::text IS NULL OR team = $1
             ORDER BY created_at DESC, id DESC LIMIT $2",
            team,
            limit
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| HistoryRow {
                kind: if team.is_none() {
                    format!("{} ({})", r.kind, r.team)
                } else {
                    r.kind
                },
                week_start: r.week_start.to_string(),
                recipient: r.recipient,
                state: r.state,
                attempts: r.attempts,
                last_error: r.last_error,
                smtp_reply: r.smtp_reply,
                created_at: stamp(r.created_at),
                sent_at: r.sent_at.map(stamp),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_an_hour() {
        assert_eq!(retry_delay(1), Duration::from_secs(30));
        assert_eq!(retry_delay(2), Duration::from_secs(60));
        assert_eq!(retry_delay(3), Duration::from_secs(120));
        assert_eq!(retry_delay(20), Duration::from_secs(3_600));
    }
}
