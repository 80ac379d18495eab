//! Figures computed once per version of the energy data (docs/ENERGY.md, "Precomputed totals
//! and the page cache").
//!
//! Every statement that can change what the overview or a team page shows bumps
//! `energy_figures_version` (triggers, migration `20261201000030`): ingest, late daily
//! increments, the watermark, live grid intensity, registered services and teams. A page reads
//! the version BEFORE it computes and files what it computed under that version: what it read
//! afterwards is at least as new as the version, so a later request that reads the same version
//! gets figures that include everything committed up to then. Any new batch changes the version
//! and the next request computes again: the figures stay exact at every moment, as without the
//! cache. Each replica has its own cache; the version is shared through PostgreSQL.
//!
//! A second version, `history`, changes only with the figures of hours before the current one:
//! the overview keeps the totals of its period up to the hour before the current one under it
//! (`overview.rs`), so under continuous ingest a request reads only the last two hours' totals
//! again, not the whole period.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use sqlx::PgPool;

use crate::energy::EnergyError;

/// At most this many entries per cache (periods × teams); past it, the cache starts over.
const MAX_ENTRIES: usize = 512;

/// The versions of the energy figures (sums over the shards, read in one snapshot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    /// Changes with any figure.
    pub all: i64,
    /// Changes with the figures of hours before the database's current hour (late batches,
    /// rolled days, the watermark, live intensity, services and teams), not with increments of
    /// the current hour.
    pub history: i64,
}

pub async fn figures_versions(pool: &PgPool) -> Result<Versions, EnergyError> {
    let (all, history) = sqlx::query_as::<_, (Option<i64>, Option<i64>)>(
        "SELECT sum(version)::bigint, sum(history)::bigint FROM energy_figures_version",
    )
    .fetch_one(pool)
    .await?;
    Ok(Versions {
        all: all.unwrap_or(0),
        history: history.unwrap_or(0),
    })
}

/// Values by key, each filed under the version it was computed at.
pub struct VersionedCache<T> {
    entries: Mutex<HashMap<String, (i64, Arc<T>)>>,
}

impl<T> Default for VersionedCache<T> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<T> VersionedCache<T> {
    /// The value computed for `key` at `version`, if any.
    pub fn get(&self, key: &str, version: i64) -> Option<Arc<T>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(v, _)| *v == version)
            .map(|(_, value)| Arc::clone(value))
    }

    /// Files `value` for `key` at `version` (a newer version replaces an older one; an older
    /// one never replaces a newer one).
    pub fn put(&self, key: String, version: i64, value: Arc<T>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.get(&key).is_some_and(|(v, _)| *v > version) {
            return;
        }
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
            entries.clear();
        }
        entries.insert(key, (version, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_found_only_at_its_version_and_never_replaced_by_an_older_one() {
        let cache = VersionedCache::default();
        cache.put("24h".to_owned(), 3, Arc::new("three"));
        assert_eq!(cache.get("24h", 3).as_deref(), Some(&"three"));
        assert!(cache.get("24h", 4).is_none());
        assert!(cache.get("7d", 3).is_none());
        cache.put("24h".to_owned(), 2, Arc::new("two"));
        assert_eq!(cache.get("24h", 3).as_deref(), Some(&"three"));
        cache.put("24h".to_owned(), 4, Arc::new("four"));
        assert_eq!(cache.get("24h", 4).as_deref(), Some(&"four"));
    }
}
