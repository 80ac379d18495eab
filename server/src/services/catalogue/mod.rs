//! The services catalogue (`/services`): a per-replica, in-memory snapshot of every service
//! with its computed fields (deploy states, pods ready, power now, energy this week, drift,
//! last deploy), refreshed by a background task every few seconds
//! (`CANOPY_CATALOGUE_REFRESH_SECS`, default 5) and at once after a register or deploy on this
//! replica. Requests filter, sort and page the snapshot in memory (`view.rs`); no request
//! reads the database for it. The first refresh runs at startup, before serving.

mod load;
pub mod pods;
mod view;

use std::{sync::Arc, time::Duration};

use app::api::{
    catalogue::{CataloguePage, CatalogueQuery, DeployState, PerSource, PodsReady},
    AppError, ServiceName, TeamName,
};
use arc_swap::ArcSwapOption;
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use pods::DeploymentWatch;
pub use view::Snapshot;

/// The setting that names the refresh period in seconds.
pub const REFRESH_ENV: &str = "CANOPY_CATALOGUE_REFRESH_SECS";
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
    wake: Notify,
    pods: Option<DeploymentWatch>,
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
                wake: Notify::new(),
                pods,
            }),
        }
    }

    /// Reads everything again and swaps the snapshot in.
    pub async fn refresh(&self) -> Result<(), AppError> {
        let counts = self.inner.pods.as_ref().map(DeploymentWatch::counts);
        let result = load::snapshot(&self.inner.pool, counts.as_ref(), OffsetDateTime::now_utc()).await;
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

    /// Asks the background task to refresh now (after a register or deploy on this replica).
    pub fn refresh_soon(&self) {
        self.inner.wake.notify_one();
    }

    /// Refreshes every `period` and whenever [`Catalogue::refresh_soon`] is called, until
    /// `shutdown`.
    pub fn spawn(&self, period: Duration, shutdown: CancellationToken) {
        let catalogue = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(period) => {}
                    () = catalogue.inner.wake.notified() => {}
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

    #[test]
    fn refresh_period_reads_whole_seconds() {
        assert_eq!(refresh_period(None).ok(), Some(DEFAULT_REFRESH));
        assert_eq!(refresh_period(Some(" ")).ok(), Some(DEFAULT_REFRESH));
        assert_eq!(
            refresh_period(Some("2")).ok(),
            Some(Duration::from_secs(2))
        );
        for bad in ["0", "-1", "1.5", "3601", "five"] {
            let error = refresh_period(Some(bad)).expect_err(bad).to_string();
            assert!(error.contains(REFRESH_ENV), "{error}");
        }
    }
}
