//! A per-replica cache of one value computed from many rows, kept for a short time: fresh
//! values are shared; once stale, the value is recomputed in the background (one task) while
//! every caller keeps getting the stale one, so no visitor waits for it; when there is none
//! yet, callers wait for the one computation in flight (never 32 at once).

use std::{
    future::Future,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use time::OffsetDateTime;

/// A value, when it was computed (for age) and at which moment (for the page).
struct Entry<T> {
    computed: Instant,
    at: OffsetDateTime,
    value: Arc<T>,
}

pub struct Cached<T> {
    ttl: Duration,
    entry: RwLock<Option<Entry<T>>>,
    /// Held by the one task computing a new value.
    computing: Arc<tokio::sync::Mutex<()>>,
}

impl<T: Send + Sync + 'static> Cached<T> {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entry: RwLock::new(None),
            computing: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// The value and the moment it was computed; `fresh` only if it is within the TTL.
    fn current(&self, fresh: bool) -> Option<(Arc<T>, OffsetDateTime)> {
        let entry = self.entry.read().ok()?;
        entry
            .as_ref()
            .filter(|e| !fresh || e.computed.elapsed() < self.ttl)
            .map(|e| (e.value.clone(), e.at))
    }

    fn store(&self, value: T) -> (Arc<T>, OffsetDateTime) {
        let value = Arc::new(value);
        let at = OffsetDateTime::now_utc();
        if let Ok(mut entry) = self.entry.write() {
            *entry = Some(Entry {
                computed: Instant::now(),
                at,
                value: value.clone(),
            });
        }
        (value, at)
    }

    /// The cached value, computing it with `compute` when it is missing or stale (see the
    /// module's docs). A failed background recomputation keeps the stale value (and is logged);
    /// with no value at all, the error is the caller's.
    pub async fn get<E, F, Fut>(
        self: &Arc<Self>,
        what: &'static str,
        compute: F,
    ) -> Result<(Arc<T>, OffsetDateTime), E>
    where
        E: std::fmt::Display + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        if let Some(fresh) = self.current(true) {
            return Ok(fresh);
        }
        if let Some(stale) = self.current(false) {
            if let Ok(computing) = self.computing.clone().try_lock_owned() {
                let this = self.clone();
                tokio::spawn(async move {
                    let _computing = computing;
                    if this.current(true).is_some() {
                        return;
                    }
                    match compute().await {
                        Ok(value) => {
                            this.store(value);
                        }
                        Err(error) => {
                            tracing::warn!(%error, what, "could not refresh; the previous figures stay")
                        }
                    }
                });
            }
            return Ok(stale);
        }
        let _computing = self.computing.lock().await;
        if let Some(fresh) = self.current(true) {
            return Ok(fresh);
        }
        Ok(self.store(compute().await?))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_callers_share_one_computation() {
        let cache = Arc::new(Cached::<usize>::new(Duration::from_secs(60)));
        let computed = Arc::new(AtomicUsize::new(0));
        let callers = (0..32).map(|_| {
            let (cache, computed) = (cache.clone(), computed.clone());
            tokio::spawn(async move {
                cache
                    .get("test", || async move {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok::<_, std::io::Error>(computed.fetch_add(1, Ordering::SeqCst) + 1)
                    })
                    .await
                    .map(|(value, _)| *value)
            })
        });
        for caller in callers.collect::<Vec<_>>() {
            assert_eq!(caller.await.unwrap().unwrap(), 1);
        }
        assert_eq!(computed.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_stale_value_is_served_while_it_is_recomputed_and_kept_when_that_fails() {
        let cache = Arc::new(Cached::<u32>::new(Duration::from_millis(10)));
        let first = cache
            .get("test", || async { Ok::<_, std::io::Error>(1) })
            .await
            .unwrap();
        assert_eq!(*first.0, 1);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let failed = cache
            .get("test", || async { Err(std::io::Error::other("down")) })
            .await
            .unwrap();
        assert_eq!(*failed.0, 1, "the stale value while recomputing");
        tokio::time::sleep(Duration::from_millis(20)).await;
        let stale = cache
            .get("test", || async { Ok::<_, std::io::Error>(2) })
            .await
            .unwrap();
        assert_eq!(
            *stale.0, 1,
            "the failed recomputation kept it; this call recomputes"
        );
        // The background task stores 2 (polled: it runs on its own schedule).
        for _ in 0..200 {
            if cache.current(false).is_some_and(|(value, _)| *value == 2) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let fresh = cache.current(false).unwrap();
        assert_eq!(*fresh.0, 2, "recomputed in the background");
    }
}
