//! The daily rollup, derived from the hourly one. Ingest upserts hourly rows only (one row per
//! pod and batch instead of two: docs/ENERGY.md, benchmarks); this job folds whole past days of
//! hourly rows into `energy_rollup_daily_rolled` and moves the watermark. Readers use the view
//! `energy_rollup_daily` (rolled days from the table, later days from hourly rows), so figures
//! are exact at every moment, before and after the job runs.

use sqlx::PgPool;
use time::{Duration, OffsetDateTime};

use super::{ingest::buckets, EnergyError};

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
/// daily table, in one transaction. `SHARE ROW EXCLUSIVE` on the hourly rollup waits for
/// in-flight ingest statements and holds new ones (which would otherwise decide, from the old
/// watermark, not to write daily rows) until the new watermark is committed; readers are not
/// blocked. Safe to run from several processes (the lock serialises them).
pub async fn roll_daily(
    pool: &PgPool,
    now: OffsetDateTime,
) -> Result<DailyRollReport, EnergyError> {
    let target = roll_target(now);
    let mut tx = pool.begin().await?;
    sqlx::query!("LOCK TABLE energy_rollup_hourly IN SHARE ROW EXCLUSIVE MODE")
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
