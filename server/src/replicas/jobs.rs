//! Background jobs that run once per period across replicas. Each replica ticks every job on
//! its own clock; a run takes the job's PostgreSQL advisory lock in a transaction
//! (`pg_try_advisory_xact_lock`), looks whether the current period already ran (a row in
//! `background_job_runs`), runs the job and records the period in the same transaction. So:
//!
//! - two replicas never run the same job at once (the lock), nor twice in a period (the row);
//! - a replica that dies mid-run loses its connection, PostgreSQL releases the lock and rolls
//!   the transaction back, and the next replica to tick runs that period again (a run whose
//!   task is dropped inside a live process rolls back when sqlx returns the connection);
//! - a failed run records nothing, so the period is tried again on the next tick.
//!
//! Jobs are idempotent by design (watermarks, `ON CONFLICT`), so a retried period is safe.

use std::{future::Future, time::Duration};

use sqlx::PgPool;
use time::OffsetDateTime;

use super::ReplicaId;

/// Every job that runs on a schedule. The lock key is the variant's number (stable: never
/// reuse one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    EnergyRollupCompaction = 1,
    EnergyPartitions = 2,
    EnergyDailyRollup = 3,
    GridIntensityFetch = 4,
    WeeklyEmailSchedule = 5,
    RateLimitPrune = 6,
}

/// The advisory lock class of Canopy's jobs (`'CNPY'`), so they never collide with other
/// users of two-key advisory locks in the same database.
const LOCK_CLASS: i32 = 0x434E_5059;

/// How long a job's rows stay in `background_job_runs`.
const KEEP_RUNS: time::Duration = time::Duration::days(2);

impl Job {
    /// The name in metrics (`task` label) and in `background_job_runs`.
    pub fn name(self) -> &'static str {
        match self {
            Self::EnergyRollupCompaction => "energy_rollup_compaction",
            Self::EnergyPartitions => "energy_partitions",
            Self::EnergyDailyRollup => "energy_daily_rollup",
            Self::GridIntensityFetch => "grid_intensity_fetch",
            Self::WeeklyEmailSchedule => "weekly_email_schedule",
            Self::RateLimitPrune => "rate_limit_prune",
        }
    }

    fn lock_key(self) -> i32 {
        self as i32
    }
}

/// What one tick of a job did on this replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tick {
    /// This replica ran the period's run and recorded it.
    Ran,
    /// The period already ran (here or on another replica).
    AlreadyDone,
    /// Another replica is running the job right now.
    Busy,
    /// The run failed; nothing was recorded, the next tick tries the period again.
    Failed(String),
}

/// The start of the period `now` falls in, periods being `every` long from the Unix epoch (an
/// hourly job's periods are clock hours, on every replica).
pub fn period_start(now: OffsetDateTime, every: Duration) -> OffsetDateTime {
    let every_ms = i128::try_from(every.as_millis())
        .unwrap_or(i128::MAX)
        .max(1);
    let now_ms = now.unix_timestamp_nanos() / 1_000_000;
    let start_ms = now_ms - now_ms.rem_euclid(every_ms);
    OffsetDateTime::from_unix_timestamp_nanos(start_ms * 1_000_000).unwrap_or(now)
}

/// Runs jobs for one replica.
#[derive(Clone)]
pub struct Jobs {
    pool: PgPool,
    replica: ReplicaId,
}

impl Jobs {
    pub fn new(pool: PgPool, replica: ReplicaId) -> Self {
        Self { pool, replica }
    }

    /// One tick of `job` at `now`: runs `work` if the period has not run and no replica is
    /// running the job.
    pub async fn tick<Fut, E>(
        &self,
        job: Job,
        every: Duration,
        now: OffsetDateTime,
        work: Fut,
    ) -> Result<Tick, sqlx::Error>
    where
        Fut: Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        let period = period_start(now, every);
        let mut tx = self.pool.begin().await?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1, $2)")
            .bind(LOCK_CLASS)
            .bind(job.lock_key())
            .fetch_one(&mut *tx)
            .await?;
        if !locked {
            return Ok(Tick::Busy);
        }
        let done = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM background_job_runs
                              WHERE job = $1 AND period_start = $2) AS "done!""#,
            job.name(),
            period
        )
        .fetch_one(&mut *tx)
        .await?;
        if done {
            tx.rollback().await?;
            return Ok(Tick::AlreadyDone);
        }
        let started_at = OffsetDateTime::now_utc();
        crate::metrics::global().task_ran(job.name());
        if let Err(error) = work.await {
            tx.rollback().await?;
            return Ok(Tick::Failed(error.to_string()));
        }
        sqlx::query!(
            r#"INSERT INTO background_job_runs (job, period_start, replica, started_at)
               VALUES ($1, $2, $3, $4)"#,
            job.name(),
            period,
            self.replica.as_str(),
            started_at
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "DELETE FROM background_job_runs WHERE job = $1 AND period_start < $2",
            job.name(),
            period - KEEP_RUNS
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Tick::Ran)
    }

    /// Ticks `job` now and then every `every / 4` (at least every second) until the process
    /// ends, so a period that a dead replica left undone is taken up within a quarter of it.
    pub fn spawn<F, Fut, E>(
        &self,
        job: Job,
        every: Duration,
        work: F,
    ) -> tokio::task::JoinHandle<()>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send,
        E: std::fmt::Display + Send,
    {
        let jobs = self.clone();
        tokio::spawn(async move {
            let check = (every / 4).max(Duration::from_secs(1)).min(every);
            let mut tick = tokio::time::interval(check);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let metrics = crate::metrics::global();
                match jobs
                    .tick(job, every, OffsetDateTime::now_utc(), work())
                    .await
                {
                    Ok(Tick::Ran | Tick::AlreadyDone) => metrics.task_succeeded(job.name()),
                    Ok(Tick::Busy) => {}
                    Ok(Tick::Failed(error)) => {
                        tracing::warn!(job = job.name(), %error, "background job failed; it runs again on the next tick")
                    }
                    Err(error) => {
                        tracing::warn!(job = job.name(), %error, "could not take the background job's turn")
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn periods_are_clock_aligned_on_every_replica() {
        let hour = Duration::from_secs(3600);
        assert_eq!(
            period_start(datetime!(2026-11-30 20:59:59.999 UTC), hour),
            datetime!(2026-11-30 20:00 UTC)
        );
        assert_eq!(
            period_start(datetime!(2026-11-30 21:00 UTC), hour),
            datetime!(2026-11-30 21:00 UTC)
        );
        assert_eq!(
            period_start(datetime!(2026-11-30 21:00:03.5 UTC), Duration::from_secs(2)),
            datetime!(2026-11-30 21:00:02 UTC)
        );
    }
}
