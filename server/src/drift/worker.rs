//! The background side: the schedule (one round per interval across replicas, through the
//! `drift_schedule` row) and the worker that claims queued scans (`FOR UPDATE SKIP LOCKED`,
//! with a lease) and runs at most `max_concurrent_scans` of them at once on this replica.

use std::{path::PathBuf, sync::Arc, time::Duration};

use canopy_drift::{scan_directory, scan_files, summarise, ScanInput};
use tokio::sync::Semaphore;

use super::{
    store::{self, Claimed, Finished},
    Drift, DriftError,
};

/// How long a claimed scan belongs to this replica before another may take it over.
const LEASE: Duration = Duration::from_secs(15 * 60);
/// A scan taking longer than this fails (and says so).
const SCAN_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// How often the worker looks for queued scans when nobody wakes it.
const POLL: Duration = Duration::from_secs(5);
/// How often the schedule is checked.
const SCHEDULE_TICK: Duration = Duration::from_secs(60);

pub fn spawn(drift: Drift) {
    if let Some(every) = drift.inner.settings.scan_every {
        let scheduler = drift.clone();
        tokio::spawn(async move {
            loop {
                match store::queue_scheduled_round(&scheduler.inner.pool, every.as_secs_f64()).await
                {
                    Ok(Some(queued)) => {
                        tracing::info!(queued, "drift: scheduled scans queued");
                        scheduler.inner.wake.notify_one();
                    }
                    Ok(None) => {}
                    Err(error) => tracing::warn!(%error, "drift: schedule check failed"),
                }
                tokio::time::sleep(SCHEDULE_TICK).await;
            }
        });
    }
    tokio::spawn(async move { work(drift).await });
}

async fn work(drift: Drift) {
    let limit = Arc::new(Semaphore::new(drift.inner.settings.max_concurrent_scans));
    loop {
        let Ok(permit) = limit.clone().acquire_owned().await else {
            return;
        };
        match store::claim(&drift.inner.pool, LEASE.as_secs_f64()).await {
            Ok(Some(claimed)) => {
                let drift = drift.clone();
                tokio::spawn(async move {
                    run(&drift, claimed).await;
                    drop(permit);
                    // A slot is free: look for more at once.
                    drift.inner.wake.notify_one();
                });
            }
            Ok(None) => {
                drop(permit);
                let _ = tokio::time::timeout(POLL, drift.inner.wake.notified()).await;
            }
            Err(error) => {
                drop(permit);
                tracing::warn!(%error, "drift: could not claim a scan");
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

#[tracing::instrument(skip(drift), fields(scan = claimed.id, path = %claimed.source_path))]
async fn run(drift: &Drift, claimed: Claimed) {
    let started = std::time::Instant::now();
    let outcome = tokio::time::timeout(SCAN_TIMEOUT, scan(drift, &claimed.source_path)).await;
    let pool = &drift.inner.pool;
    let written = match outcome {
        Ok(Ok(finished)) => {
            tracing::info!(
                dependencies = finished.dependencies,
                outdated = finished.outdated,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "drift scan done"
            );
            store::finish_done(pool, claimed.id, finished).await
        }
        Ok(Err(error)) => {
            tracing::warn!(%error, "drift scan failed");
            store::finish_failed(pool, claimed.id, &error.to_string()).await
        }
        Err(_) => {
            let reason = format!(
                "the scan took longer than {} minutes and was stopped",
                SCAN_TIMEOUT.as_secs() / 60
            );
            store::finish_failed(pool, claimed.id, &reason).await
        }
    };
    if let Err(error) = written {
        tracing::error!(%error, "drift: could not record the scan's end");
    }
}

/// Reads the source, asks the registries, and adds up.
async fn scan(drift: &Drift, source_path: &str) -> Result<Finished, DriftError> {
    let input = match source_path.strip_prefix("github:") {
        Some(repository_at_branch) => read_github(drift, repository_at_branch).await?,
        None => read_directory(source_path).await?,
    };
    let reports = drift.inner.registries.lookup_all(&input.dependencies).await;
    let summary = summarise(&reports);
    Ok(Finished {
        dependencies: i32::try_from(summary.totals.dependencies).unwrap_or(i32::MAX),
        outdated: i32::try_from(summary.totals.outdated).unwrap_or(i32::MAX),
        libyears: summary.totals.libyears,
        majors_behind: i32::try_from(summary.totals.majors_behind).unwrap_or(i32::MAX),
        summary: serde_json::to_value(&summary)?,
        reports: serde_json::to_value(&reports)?,
        manifest_errors: serde_json::to_value(&input.errors)?,
    })
}

/// A local directory or checkout.
async fn read_directory(source_path: &str) -> Result<ScanInput, DriftError> {
    let root = PathBuf::from(source_path);
    if !tokio::fs::metadata(&root)
        .await
        .map(|m| m.is_dir())
        .unwrap_or(false)
    {
        return Err(DriftError::InvalidInput {
            field: "source_path",
            message: format!("{source_path} is not a readable directory on Canopy's host any more"),
        });
    }
    tokio::task::spawn_blocking(move || scan_directory(&root))
        .await
        .map_err(|e| DriftError::InvalidInput {
            field: "source_path",
            message: format!("reading {source_path} stopped: {e}"),
        })
}

/// The manifests of a linked GitHub repository at the head of its branch.
async fn read_github(drift: &Drift, repository_at_branch: &str) -> Result<ScanInput, DriftError> {
    let (repository, branch) = repository_at_branch
        .split_once('@')
        .unwrap_or((repository_at_branch, "main"));
    let Some(files) = drift.inner.repo_files.get() else {
        return Err(DriftError::NoSource(format!(
            "{repository} is on GitHub, and Canopy has no GitHub App configured to read it"
        )));
    };
    let (commit, files) = files
        .manifest_files(repository, branch)
        .await
        .map_err(|reason| DriftError::NoSource(format!("{repository}@{branch}: {reason}")))?;
    tracing::info!(
        repository,
        branch,
        commit,
        files = files.len(),
        "drift: read from GitHub"
    );
    tokio::task::spawn_blocking(move || scan_files(&files))
        .await
        .map_err(|e| DriftError::NoSource(format!("reading {repository} stopped: {e}")))
}
