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
//!
//! Under continuous ingest the version changes between most requests, and thirty requests
//! computing the same page at once would each pay for it. [`VersionedCache::get_or_compute`]
//! computes one page per key at a time: a request that waited for a computation STARTED after
//! it arrived takes that computation's result, which includes everything committed before the
//! request (its queries ran later). So each computation serves every request that arrived while
//! the previous one ran, and the figures stay exact.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex},
    time::Instant,
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

/// A value, the version it was computed at and when its computation started.
struct Entry<T> {
    version: i64,
    started: Instant,
    value: Arc<T>,
}

/// Values by key, each filed under the version it was computed at.
pub struct VersionedCache<T> {
    entries: Mutex<HashMap<String, Entry<T>>>,
    /// One computation per key at a time.
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl<T> Default for VersionedCache<T> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            flights: Mutex::new(HashMap::new()),
        }
    }
}

impl<T> VersionedCache<T> {
    /// The value computed for `key` at `version`, if any.
    pub fn get(&self, key: &str, version: i64) -> Option<Arc<T>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|e| e.version == version)
            .map(|e| Arc::clone(&e.value))
    }

    /// The value for `key` whose computation started at or after `since`, if any.
    fn started_since(&self, key: &str, since: Instant) -> Option<Arc<T>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|e| e.started >= since)
            .map(|e| Arc::clone(&e.value))
    }

    /// Files `value` for `key` at `version` (a newer version replaces an older one; an older
    /// one never replaces a newer one).
    pub fn put(&self, key: String, version: i64, value: Arc<T>) {
        self.put_started(key, version, Instant::now(), value);
    }

    fn put_started(&self, key: String, version: i64, started: Instant, value: Arc<T>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.get(&key).is_some_and(|e| e.version > version) {
            return;
        }
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
            entries.clear();
        }
        entries.insert(
            key,
            Entry {
                version,
                started,
                value,
            },
        );
    }

    fn flight(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        if flights.len() >= MAX_ENTRIES && !flights.contains_key(key) {
            flights.clear();
        }
        Arc::clone(flights.entry(key.to_owned()).or_default())
    }

    /// The value for `key`: filed at `version` (read by the caller before calling), else the
    /// result of a computation that started after `arrived` (the caller's request), waiting for
    /// the one running if needed, else computed now by `compute` (its version read again first,
    /// so what it files is filed under the version it saw). One computation per key at a time.
    pub async fn get_or_compute<F, Fut, E>(
        &self,
        key: String,
        version: i64,
        arrived: Instant,
        compute: F,
    ) -> Result<Arc<T>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(i64, T), E>>,
    {
        if let Some(value) = self.get(&key, version) {
            return Ok(value);
        }
        let flight = self.flight(&key);
        let _turn = flight.lock().await;
        if let Some(value) = self.started_since(&key, arrived) {
            return Ok(value);
        }
        let started = Instant::now();
        let (version, value) = compute().await?;
        let value = Arc::new(value);
        self.put_started(key, version, started, Arc::clone(&value));
        Ok(value)
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

    #[tokio::test]
    async fn requests_waiting_for_a_computation_started_after_them_share_it() {
        let cache: Arc<VersionedCache<u32>> = Arc::default();
        let computed = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let before = Instant::now();
        // A first computation holds the key while eight requests arrive.
        let slow = {
            let (cache, computed) = (Arc::clone(&cache), Arc::clone(&computed));
            tokio::spawn(async move {
                cache
                    .get_or_compute("24h".to_owned(), 1, Instant::now(), || async move {
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        Ok::<_, ()>((
                            1,
                            computed.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1,
                        ))
                    })
                    .await
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let waiting: Vec<_> = (0..8)
            .map(|_| {
                let (cache, computed) = (Arc::clone(&cache), Arc::clone(&computed));
                let arrived = Instant::now();
                tokio::spawn(async move {
                    cache
                        .get_or_compute("24h".to_owned(), 2, arrived, || async move {
                            Ok::<_, ()>((
                                2,
                                computed.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1,
                            ))
                        })
                        .await
                })
            })
            .collect();
        assert_eq!(*slow.await.unwrap().unwrap(), 1);
        // The first computation started before they arrived: one more, shared by all eight.
        for request in waiting {
            assert_eq!(*request.await.unwrap().unwrap(), 2);
        }
        assert_eq!(computed.load(std::sync::atomic::Ordering::SeqCst), 2);
        // A request that arrived before the last computation started finds it at once.
        let found = cache
            .get_or_compute("24h".to_owned(), 9, before, || async {
                Ok::<_, ()>((9, 99))
            })
            .await
            .unwrap();
        assert_eq!(*found, 2);
    }
}
