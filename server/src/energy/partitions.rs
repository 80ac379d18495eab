//! Day partitions of the raw sample tables: created ahead by a background job and on demand by
//! ingest; expired ones dropped whole (retention), rollups untouched.

use std::{collections::HashSet, sync::Mutex, time::Duration};

use sqlx::PgPool;
use time::{Date, OffsetDateTime};

use super::EnergyError;
use crate::replicas::jobs::{Job, Jobs};

/// The raw tables partitioned by day.
const PARENTS: [&str; 2] = ["energy_node_samples", "energy_pod_samples"];

/// Remembers which day partitions exist so ingest asks Postgres once per day and process.
#[derive(Default)]
pub struct PartitionCache {
    known: Mutex<HashSet<Date>>,
}

impl PartitionCache {
    /// Makes sure the partitions for every day in `days` exist.
    pub async fn ensure(
        &self,
        pool: &PgPool,
        days: impl IntoIterator<Item = Date>,
    ) -> Result<(), EnergyError> {
        let missing: Vec<Date> = {
            let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
            days.into_iter().filter(|d| !known.contains(d)).collect()
        };
        for day in missing {
            ensure_day(pool, day).await?;
            self.known
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(day);
        }
        Ok(())
    }

    /// Forgets dropped days (so a late sample would recreate them rather than fail).
    fn forget_before(&self, day: Date) {
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|d| *d >= day);
    }
}

pub async fn ensure_day(pool: &PgPool, day: Date) -> Result<(), EnergyError> {
    sqlx::query!("SELECT energy_ensure_partition($1)", day)
        .execute(pool)
        .await?;
    Ok(())
}

/// What a retention run did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RetentionReport {
    pub dropped_partitions: Vec<String>,
    pub deleted_batches: u64,
    pub deleted_intervals: u64,
}

/// Drops raw partitions whose whole day ended more than `retention_days` days before `now`,
/// and the batch records received and node intervals ended before that. Rollups are kept.
pub async fn drop_expired(
    pool: &PgPool,
    now: OffsetDateTime,
    retention_days: u32,
) -> Result<RetentionReport, EnergyError> {
    let oldest_kept = now.date() - time::Duration::days(i64::from(retention_days));
    let mut report = RetentionReport::default();
    for parent in PARENTS {
        let children = sqlx::query_scalar!(
            r#"SELECT c.relname::text AS "name!"
               FROM pg_inherits i
               JOIN pg_class c ON c.oid = i.inhrelid
               JOIN pg_class p ON p.oid = i.inhparent
               WHERE p.relname = $1 ORDER BY 1"#,
            parent
        )
        .fetch_all(pool)
        .await?;
        for child in children {
            let Some(day) = partition_day(parent, &child) else {
                continue;
            };
            if day < oldest_kept {
                // The name comes from pg_class and matched `<parent>_pYYYYMMDD`: safe to quote.
                sqlx::query(&format!("DROP TABLE IF EXISTS \"{child}\""))
                    .execute(pool)
                    .await?;
                tracing::info!(partition = %child, "dropped expired raw energy partition");
                report.dropped_partitions.push(child);
            }
        }
    }
    let cutoff = oldest_kept.midnight().assume_utc();
    report.deleted_batches =
        sqlx::query!("DELETE FROM energy_batches WHERE received_at < $1", cutoff)
            .execute(pool)
            .await?
            .rows_affected();
    // The intervals that ended before the oldest kept day (the time ingest no longer takes).
    report.deleted_intervals = sqlx::query!(
        "DELETE FROM energy_node_intervals WHERE during << tstzrange($1, NULL)",
        cutoff
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(report)
}

/// The day of a partition named `<parent>_pYYYYMMDD`.
fn partition_day(parent: &str, child: &str) -> Option<Date> {
    let digits = child.strip_prefix(parent)?.strip_prefix("_p")?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = digits[0..4].parse().ok()?;
    let month: u8 = digits[4..6].parse().ok()?;
    let day: u8 = digits[6..8].parse().ok()?;
    Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()
}

/// One maintenance pass: partitions for yesterday to two days ahead, then retention.
pub async fn maintain(
    pool: &PgPool,
    cache: &PartitionCache,
    now: OffsetDateTime,
    retention_days: u32,
) -> Result<RetentionReport, EnergyError> {
    let today = now.date();
    let days = (-1..=2).map(|offset| today + time::Duration::days(offset));
    cache.ensure(pool, days).await?;
    let report = drop_expired(pool, now, retention_days).await?;
    cache.forget_before(today - time::Duration::days(i64::from(retention_days)));
    Ok(report)
}

/// Runs [`maintain`] and the daily rollup ([`super::rollup::roll_daily`]) once an hour across
/// replicas (`replicas/jobs.rs`), the first time at start if this hour has not run; starts the
/// compaction of pending hourly increments.
pub fn spawn_maintenance(
    jobs: &Jobs,
    pool: PgPool,
    cache: std::sync::Arc<PartitionCache>,
    retention_days: u32,
) {
    super::rollup::spawn_compaction(jobs, pool.clone());
    let hour = Duration::from_secs(3600);
    let maintenance_pool = pool.clone();
    jobs.spawn(Job::EnergyPartitions, hour, move || {
        let (pool, cache) = (maintenance_pool.clone(), cache.clone());
        async move {
            let report = maintain(&pool, &cache, OffsetDateTime::now_utc(), retention_days).await?;
            if !report.dropped_partitions.is_empty() {
                tracing::info!(?report, "energy retention ran");
            }
            Ok::<_, EnergyError>(())
        }
    });
    jobs.spawn(Job::EnergyDailyRollup, hour, move || {
        let pool = pool.clone();
        async move {
            let report = super::rollup::roll_daily(&pool, OffsetDateTime::now_utc()).await?;
            if report.rows > 0 {
                tracing::info!(?report, "energy daily rollup advanced");
            }
            Ok::<_, EnergyError>(())
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn partition_names_give_their_day() {
        assert_eq!(
            partition_day("energy_pod_samples", "energy_pod_samples_p20261129"),
            Some(date!(2026 - 11 - 29))
        );
        assert_eq!(
            partition_day("energy_pod_samples", "energy_pod_samples_pX"),
            None
        );
        assert_eq!(
            partition_day("energy_pod_samples", "energy_node_samples_p20261129"),
            None
        );
    }
}
