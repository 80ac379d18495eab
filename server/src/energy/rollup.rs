//! How the rollups are kept up to date off the ingest path (docs/ENERGY.md, "Rollups"):
//!
//! - ingest appends each batch's hourly increments to `energy_rollup_pending` (no index, no
//!   upsert); [`compact_pending`] moves them into `energy_rollup_hourly_compacted` every
//!   [`COMPACT_EVERY`], in one statement; the view `energy_rollup_hourly` adds both per key;
//! - [`roll_daily`] folds whole past days of hourly rows into `energy_rollup_daily_rolled` and
//!   moves the watermark; the view `energy_rollup_daily` reads rolled days from the table and
//!   later days from the hourly view.
//!
//! Every move is one transaction, so figures are exact at every moment.

use sqlx::PgPool;
use time::{Duration, OffsetDateTime};

use super::{buckets::buckets, EnergyError};
use crate::replicas::jobs::{Job, Jobs};

/// How often pending hourly increments are folded into the hourly table.
pub const COMPACT_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Moves every pending increment into the hourly table: `DELETE ... RETURNING` feeds one upsert
/// per key (keys sorted: a stable lock order), in one statement. Increments committed after the
/// statement's snapshot stay pending for the next run; two runs at once cannot move a row twice
/// (the second waits on the first's deleted rows and skips them). Returns the keys upserted.
pub async fn compact_pending(pool: &PgPool) -> Result<u64, EnergyError> {
    Ok(sqlx::query!(
        r#"WITH moved AS (DELETE FROM energy_rollup_pending RETURNING *)
           INSERT INTO energy_rollup_hourly_compacted AS r (bucket, cluster, node, namespace,
               team, service, kind, source, energy_joules, sample_secs)
           SELECT bucket, cluster, node, namespace, team, service, kind, source,
                  sum(energy_joules), sum(sample_secs)
           FROM moved GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8
           ON CONFLICT (bucket, cluster, node, namespace, team, service, kind, source)
           DO UPDATE SET energy_joules = r.energy_joules + EXCLUDED.energy_joules,
                         sample_secs = r.sample_secs + EXCLUDED.sample_secs"#
    )
    .execute(pool)
    .await?
    .rows_affected())
}

/// Runs [`compact_pending`] once every [`COMPACT_EVERY`] across replicas until the process
/// ends (increments stay pending when a run fails, and the next one folds them).
pub fn spawn_compaction(jobs: &Jobs, pool: PgPool) -> tokio::task::JoinHandle<()> {
    jobs.spawn(Job::EnergyRollupCompaction, COMPACT_EVERY, move || {
        let pool = pool.clone();
        async move { compact_pending(&pool).await.map(|_| ()) }
    })
}

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DailyRollReport {
    /// The watermark before and after (days before it are in the daily table).
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
    /// Daily rows written.
    pub rows: u64,
}

/// The day boundary the job rolls up to: the start of yesterday (UTC). Yesterday and today stay
/// in the hourly rollup, so batches that arrive up to a day late still take the fast path.
pub fn roll_target(now: OffsetDateTime) -> OffsetDateTime {
    buckets(now).1 - Duration::days(1)
}

/// Folds the hourly rows of every whole day from the watermark up to [`roll_target`] into the
/// daily table, in one transaction. `SHARE ROW EXCLUSIVE` on `energy_rollup_pending` (which
/// every ingest statement writes) waits for in-flight ingest statements and holds new ones (which would otherwise decide, from the old
/// watermark, not to write daily rows) until the new watermark is committed; readers are not
/// blocked. Safe to run from several processes (the lock serialises them).
pub async fn roll_daily(
    pool: &PgPool,
    now: OffsetDateTime,
) -> Result<DailyRollReport, EnergyError> {
    let target = roll_target(now);
    let mut tx = pool.begin().await?;
    sqlx::query!("LOCK TABLE energy_rollup_pending IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    let watermark =
        sqlx::query_scalar!("SELECT rolled_through FROM energy_daily_watermark FOR UPDATE")
            .fetch_one(&mut *tx)
            .await?;
    if watermark >= target {
        tx.commit().await?;
        return Ok(DailyRollReport::default());
    }
    let rows = sqlx::query!(
        r#"INSERT INTO energy_rollup_daily_rolled (bucket, cluster, node, namespace, team,
               service, kind, source, energy_joules, sample_secs)
           SELECT date_trunc('day', bucket, 'UTC'), cluster, node, namespace, team, service,
                  kind, source, sum(energy_joules), sum(sample_secs)
           FROM energy_rollup_hourly
           WHERE bucket >= $1 AND bucket < $2
           GROUP BY 1, 2, 3, 4, 5, 6, 7, 8"#,
        watermark,
        target
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query!(
        "UPDATE energy_daily_watermark SET rolled_through = $1",
        target
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(DailyRollReport {
        from: Some(watermark),
        to: Some(target),
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_job_rolls_up_to_the_start_of_yesterday() {
        assert_eq!(
            roll_target(datetime!(2026-11-29 16:40 UTC)),
            datetime!(2026-11-28 00:00 UTC)
        );
        assert_eq!(
            roll_target(datetime!(2026-11-29 00:00 UTC)),
            datetime!(2026-11-28 00:00 UTC)
        );
    }
}
