//! Run mode: sample every interval, update metrics, spool batches and push them to the server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use canopy_protocol::IngestBatch;
use secrecy::SecretString;
use tokio::time::MissedTickBehavior;

use crate::directory::PodDirectory;
use crate::metrics::Metrics;
use crate::push::spool::{Spool, SpoolError};
use crate::push::{flush, PushError, Pusher};
use crate::report::IntervalReport;
use crate::sampler::{Sampler, SamplerError};
use crate::settings::RunSettings;

/// Errors that stop the agent.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Sampler(#[from] SamplerError),
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error(transparent)]
    Push(#[from] PushError),
    #[error("reading the node token file {path}: {source}")]
    TokenFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("CANOPY_SERVER_URL is set but neither CANOPY_NODE_TOKEN nor CANOPY_NODE_TOKEN_FILE")]
    MissingToken,
    #[error("interval must be a positive number of seconds, got {0}")]
    BadInterval(f64),
    #[error("serving metrics: {0}")]
    Serve(std::io::Error),
}

/// The push half: spool plus client, with retry backoff.
struct Outbox {
    spool: Spool,
    pusher: Pusher,
    next_attempt: Instant,
    backoff: Duration,
}

const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Batches sent per tick at most, so a backlog drains over a few ticks without delaying samples.
const MAX_BATCHES_PER_FLUSH: usize = 200;

impl Outbox {
    fn open(settings: &RunSettings, server_url: &str, node: &str) -> Result<Self, DaemonError> {
        let token = match (&settings.node_token, &settings.node_token_file) {
            (Some(token), _) => token.clone(),
            // A directory (a Secret with one key per node) holds this node's token as `<node>`.
            (None, Some(path)) if path.is_dir() => read_token(&path.join(node))?,
            (None, Some(path)) => read_token(path)?,
            (None, None) => return Err(DaemonError::MissingToken),
        };
        Ok(Self {
            spool: Spool::open(&settings.spool_dir, settings.spool_max_batches)?,
            pusher: Pusher::new(server_url, token)?,
            next_attempt: Instant::now(),
            backoff: Duration::from_secs(1),
        })
    }

    fn enqueue(&mut self, node: &str, report: &IntervalReport, metrics: &Metrics) {
        let mut batch = IngestBatch::new(node, vec![report.to_sample()]);
        batch.dropped_batches_total = self.spool.dropped_total();
        if let Err(e) = batch.validate() {
            metrics.error("invalid_sample");
            tracing::error!(error = %e, "not spooling an invalid sample");
            return;
        }
        let pushed = serde_json::to_vec(&batch)
            .map_err(|e| e.to_string())
            .and_then(|body| self.spool.push(&body).map_err(|e| e.to_string()));
        match pushed {
            Ok(0) => {}
            Ok(dropped) => {
                metrics.spool_dropped.inc_by(dropped);
                tracing::warn!(
                    dropped,
                    total = self.spool.dropped_total(),
                    "spool full: dropped oldest batches"
                );
            }
            Err(e) => {
                metrics.error("spool");
                tracing::error!(error = %e, "spooling a batch");
            }
        }
    }

    async fn deliver(&mut self, metrics: &Metrics) {
        if Instant::now() < self.next_attempt {
            return;
        }
        match flush(&self.spool, &self.pusher, MAX_BATCHES_PER_FLUSH).await {
            Ok(outcome) => {
                metrics.batches_delivered.inc_by(outcome.delivered);
                for reason in &outcome.rejected {
                    metrics.batches_rejected.inc();
                    tracing::error!(%reason, "server refused a batch; dropped it");
                }
                match outcome.retry_reason {
                    Some(reason) => {
                        metrics.error("push");
                        tracing::warn!(%reason, retry_in_secs = self.backoff.as_secs(), "push failed; batches stay spooled");
                        self.next_attempt = Instant::now() + self.backoff;
                        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                    }
                    None => self.backoff = Duration::from_secs(1),
                }
            }
            Err(e) => {
                metrics.error("spool");
                tracing::error!(error = %e, "reading the spool");
            }
        }
        if let Ok(len) = self.spool.len() {
            metrics
                .spool_batches
                .set(i64::try_from(len).unwrap_or(i64::MAX));
        }
    }
}

fn read_token(path: &std::path::Path) -> Result<SecretString, DaemonError> {
    std::fs::read_to_string(path)
        .map(|t| SecretString::from(t.trim().to_string()))
        .map_err(|source| DaemonError::TokenFile {
            path: path.to_path_buf(),
            source,
        })
}

/// Runs until SIGINT or SIGTERM.
pub async fn run(settings: RunSettings) -> Result<(), DaemonError> {
    if !(settings.interval_secs > 0.0 && settings.interval_secs.is_finite()) {
        return Err(DaemonError::BadInterval(settings.interval_secs));
    }
    let config = settings.sensors.sampler_config();
    let metrics = Arc::new(Metrics::new());
    let directory = PodDirectory::new();
    let (mut sampler, notice) = Sampler::new(&config, directory.clone())?;
    if let Some(notice) = notice {
        metrics.error("powercap_unavailable");
        tracing::warn!("{notice}");
    }
    tracing::info!(node = %config.node, source = %sampler.source(), interval_secs = settings.interval_secs, "canopy-agent starting");
    start_pod_watch(&settings, &config.node, directory.clone()).await;
    let mut outbox = match &settings.server_url {
        Some(url) => Some(Outbox::open(&settings, url, &config.node)?),
        None => {
            tracing::info!("CANOPY_SERVER_URL unset: metrics only, nothing pushed");
            None
        }
    };
    let listener = tokio::net::TcpListener::bind(settings.metrics_addr)
        .await
        .map_err(DaemonError::Serve)?;
    let app = crate::exporter::router(metrics.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    tracing::info!(addr = %settings.metrics_addr, "serving /metrics");

    let mut ticker = tokio::time::interval(Duration::from_secs_f64(settings.interval_secs));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = &mut shutdown => break,
        }
        let started = Instant::now();
        match sampler.sample() {
            Ok(Some(report)) => {
                if report.spans_intervals > 1 {
                    tracing::info!(
                        spans_intervals = report.spans_intervals,
                        interval_secs = report.interval_secs,
                        "interval reported together with the previous one(s), whose reading failed"
                    );
                }
                metrics.record(&report);
                if let Some(outbox) = outbox.as_mut() {
                    outbox.enqueue(&config.node, &report, &metrics);
                }
            }
            Ok(None) => {}
            Err(e) if e.carried_over() => {
                metrics.error(e.kind());
                tracing::warn!(error = %e, "reading failed; this interval is reported with the next");
            }
            Err(e) => {
                metrics.error(e.kind());
                tracing::warn!(error = %e, "sampling failed; interval skipped");
            }
        }
        metrics.observe_cycle_secs(started.elapsed().as_secs_f64());
        metrics
            .pods_known
            .set(i64::try_from(directory.len()).unwrap_or(i64::MAX));
        if let Some(outbox) = outbox.as_mut() {
            outbox.deliver(&metrics).await;
        }
    }
    tracing::info!("shutting down");
    server.abort();
    Ok(())
}

#[cfg(feature = "kube")]
async fn start_pod_watch(settings: &RunSettings, node: &str, directory: PodDirectory) {
    if !settings.kube {
        return;
    }
    match crate::kube_watch::client().await {
        Ok(client) => {
            let node = node.to_string();
            tokio::spawn(
                async move { crate::kube_watch::watch_pods(client, node, directory).await },
            );
        }
        Err(e) => tracing::warn!(error = %e, "no Kubernetes API: pods are reported by UID only"),
    }
}

#[cfg(not(feature = "kube"))]
async fn start_pod_watch(settings: &RunSettings, _node: &str, _directory: PodDirectory) {
    if settings.kube {
        tracing::warn!("built without the `kube` feature: pods are reported by UID only");
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
