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

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use sqlx::PgPool;

use crate::energy::EnergyError;

/// At most this many entries per cache (periods × teams); past it, the cache starts over.
const MAX_ENTRIES: usize = 512;

/// The current version of the energy figures (a sum over the version's shards, read in one
/// snapshot).
pub async fn figures_version(pool: &PgPool) -> Result<i64, EnergyError> {
    Ok(sqlx::query_scalar::<_, Option<i64>>(
        "SELECT sum(version)::bigint FROM energy_figures_version",
    )
    .fetch_one(pool)
    .await?
    .unwrap_or(0))
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
