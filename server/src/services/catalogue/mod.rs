//! The services catalogue (`/services`): a per-replica, in-memory snapshot of every service
//! with its computed fields (deploy states, pods ready, power now, energy this week, drift,
//! last deploy), refreshed by a background task every few seconds
//! (`CANOPY_CATALOGUE_REFRESH_SECS`, default 5) and, on this replica, after a register or a
//! deploy (rollback, restart, scale) before that request answers. Requests filter, sort and page the snapshot in memory (`view.rs`); no request
//! reads the database for it. The first refresh runs at startup, before serving.

mod load;
pub mod pods;
mod view;

use std::{
    sync::{
        atomic::{AtomicU64, Ordering as AtomicOrdering},
        Arc,
    },
    time::Duration,
};

use app::api::{
    catalogue::{CataloguePage, CatalogueQuery, DeployState, PerSource, PodsReady},
    AppError, ServiceName, TeamName,
};
use arc_swap::ArcSwapOption;
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

pub use pods::DeploymentWatch;
pub use view::Snapshot;

/// The setting that names the refresh period in seconds.
pub const REFRESH_ENV: &str = "CANOPY_CATALOGUE_REFRESH_SECS";
/// How long a change (register, deploy) waits for the catalogue to show it.
pub const CHANGE_WAIT: Duration = Duration::from_secs(5);
/// The refresh period when the setting is not given.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(5);

/// One service as the catalogue holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub team: TeamName,
    pub service: ServiceName,
    /// dev, staging, prod.
    pub states: [DeployState; 3],
    /// `None`: no cluster to read pods from.
    pub pods: Option<PodsReady>,
    pub power_watts: PerSource,
    pub energy_week_kwh: PerSource,
    pub drift_outdated: Option<i32>,
    pub last_deploy: Option<OffsetDateTime>,
}

/// The refresh period from `CANOPY_CATALOGUE_REFRESH_SECS` (whole seconds, 1 to 3600).
pub fn refresh_period(raw: Option<&str>) -> Result<Duration, crate::config::ConfigError> {
    let Some(raw) = raw.map(str::trim).filter(|raw| !raw.is_empty()) else {
        return Ok(DEFAULT_REFRESH);
    };
    raw.parse::<u64>()
        .ok()
        .filter(|secs| (1..=3600).contains(secs))
        .map(Duration::from_secs)
        .ok_or_else(|| crate::config::ConfigError::Invalid {
            var: REFRESH_ENV,
            value: raw.to_owned(),
            reason: "a whole number of seconds from 1 to 3600 is expected".to_owned(),
        })
}

struct Inner {
    pool: PgPool,
    snapshot: ArcSwapOption<Snapshot>,
    /// The last refresh's failure, answered while there is no snapshot yet.
    last_error: std::sync::Mutex<Option<AppError>>,
    pods: Option<DeploymentWatch>,
    /// Changes asked to be reflected (a counter), and the last one a refresh covered.
    requested: AtomicU64,
    covered: AtomicU64,
    /// One refresh at a time on this replica.
    running: tokio::sync::Mutex<()>,
}

/// This replica's catalogue (cheap to clone).
#[derive(Clone)]
pub struct Catalogue {
    inner: Arc<Inner>,
}

impl Catalogue {
    /// A catalogue with no snapshot yet; `pods` is the cluster's Deployment watch, if Canopy
    /// has a cluster (else pods ready shows "—").
    pub fn new(pool: PgPool, pods: Option<DeploymentWatch>) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                snapshot: ArcSwapOption::empty(),
                last_error: std::sync::Mutex::new(None),
                pods,
                requested: AtomicU64::new(0),
                covered: AtomicU64::new(0),
                running: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Reads everything again and swaps the snapshot in.
    pub async fn refresh(&self) -> Result<(), AppError> {
        let _one = self.inner.running.lock().await;
        let upto = self.inner.requested.load(AtomicOrdering::SeqCst);
        self.read_and_swap().await?;
        self.inner.covered.fetch_max(upto, AtomicOrdering::SeqCst);
        Ok(())
    }

    /// After a change on this replica (a service registered, a deploy recorded): returns once
    /// a refresh that started after the change is done, so the person who made it sees it on
    /// their next page. Concurrent changes share one refresh.
    /// Waits at most [`CHANGE_WAIT`]: the change itself is done; the periodic refresh shows
    /// it if this one could not.
    pub async fn refresh_after_change(&self) {
        let mine = self.inner.requested.fetch_add(1, AtomicOrdering::SeqCst) + 1;
        let refresh = async {
            let _one = self.inner.running.lock().await;
            if self.inner.covered.load(AtomicOrdering::SeqCst) >= mine {
                return Ok(());
            }
            let upto = self.inner.requested.load(AtomicOrdering::SeqCst);
            self.read_and_swap().await?;
            self.inner.covered.fetch_max(upto, AtomicOrdering::SeqCst);
            Ok::<(), AppError>(())
        };
        match tokio::time::timeout(CHANGE_WAIT, refresh).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::warn!(%error, "could not refresh the services catalogue after a change; the next refresh will");
            }
            Err(_) => {
                tracing::warn!("the services catalogue's refresh after a change is slow; the next refresh will show it");
            }
        }
    }

    async fn read_and_swap(&self) -> Result<(), AppError> {
        let started = std::time::Instant::now();
        let counts = self.inner.pods.as_ref().map(DeploymentWatch::counts);
        let result =
            load::snapshot(&self.inner.pool, counts.as_ref(), OffsetDateTime::now_utc()).await;
        if let Ok(snapshot) = &result {
            tracing::debug!(
                services = snapshot.len(),
                elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                "services catalogue refreshed"
            );
        }
        let mut last_error = self
            .inner
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match result {
            Ok(snapshot) => {
                self.inner.snapshot.store(Some(Arc::new(snapshot)));
                *last_error = None;
                Ok(())
            }
            Err(error) => {
                *last_error = Some(error.clone());
                Err(error)
            }
        }
    }

    /// Refreshes every `period` until `shutdown`.
    pub fn spawn(&self, period: Duration, shutdown: CancellationToken) {
        let catalogue = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(period) => {}
                }
                if let Err(error) = catalogue.refresh().await {
                    tracing::warn!(%error, "could not refresh the services catalogue; keeping the last one");
                }
            }
        });
    }

    /// One page of the catalogue. Without a snapshot yet (the first refresh failed), the
    /// refresh's failure (busy, unavailable), which answers 503 with `Retry-After`.
    pub fn query(&self, query: CatalogueQuery) -> Result<CataloguePage, AppError> {
        let Some(snapshot) = self.inner.snapshot.load_full() else {
            let last = self
                .inner
                .last_error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            return Err(last.unwrap_or(AppError::Busy));
        };
        Ok(snapshot.page(query, OffsetDateTime::now_utc()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn without_a_snapshot_the_answer_is_503_saying_why() {
        // Nothing listens on port 1: every refresh fails.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(Duration::from_secs(1))
            .connect_lazy("postgres://canopy@127.0.0.1:1/canopy")
            .expect("lazy pool");
        let catalogue = Catalogue::new(pool, None);
        let before = catalogue
            .query(CatalogueQuery::default())
            .expect_err("no snapshot");
        assert_eq!(before, AppError::Busy, "not read yet");
        let failed = catalogue.refresh().await.expect_err("unreachable");
        assert!(
            matches!(failed, AppError::Unavailable | AppError::Busy),
            "{failed:?}"
        );
        let after = catalogue
            .query(CatalogueQuery::default())
            .expect_err("still none");
        assert_eq!(after, failed, "the refresh's own failure");
    }

    #[test]
    fn refresh_period_reads_whole_seconds() {
        assert_eq!(refresh_period(None).ok(), Some(DEFAULT_REFRESH));
        assert_eq!(refresh_period(Some(" ")).ok(), Some(DEFAULT_REFRESH));
        assert_eq!(refresh_period(Some("2")).ok(), Some(Duration::from_secs(2)));
        for bad in ["0", "-1", "1.5", "3601", "five"] {
            let error = refresh_period(Some(bad)).expect_err(bad).to_string();
            assert!(error.contains(REFRESH_ENV), "{error}");
        }
    }
}
