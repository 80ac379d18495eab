//! Run mode: sample every interval, update metrics, spool batches and push them to the server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use canopy_protocol::IngestBatch;
use secrecy::SecretString;
use tokio::time::MissedTickBehavior;

use crate::directory::PodDirectory;
use crate::metrics::Metrics;
use crate::push::outbox::Outbox;
use crate::push::spool::{Spool, SpoolError};
use crate::push::{PushError, Pusher};
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
    #[error("CANOPY_SERVER_URL is set but none of CANOPY_NODE_TOKEN, CANOPY_NODE_TOKEN_FILE and CANOPY_IDENTITY_TOKEN_FILE")]
    MissingToken,
    #[error("interval must be a positive number of seconds, got {0}")]
    BadInterval(f64),
    #[error("serving metrics: {0}")]
    Serve(std::io::Error),
}

/// Opens the spool and the client. The credential, first given wins: CANOPY_NODE_TOKEN; the
/// node token file (a directory, as a mounted Secret with one key per node, holds this node's
/// token as `<node>`); the projected ServiceAccount token file, re-read for every batch.
fn open_outbox(
    settings: &RunSettings,
    server_url: &str,
    node: &str,
) -> Result<Outbox, DaemonError> {
    let (pusher, origin) = match (
        &settings.node_token,
        &settings.node_token_file,
        &settings.identity_token_file,
    ) {
        (Some(token), _, _) => (
            Pusher::new(server_url, token.clone())?,
            "CANOPY_NODE_TOKEN".to_string(),
        ),
        (None, Some(path), _) => {
            let file = if path.is_dir() {
                path.join(node)
            } else {
                path.clone()
            };
            (
                Pusher::new(server_url, read_token(&file)?)?,
                format!("the token file {}", file.display()),
            )
        }
        (None, None, Some(path)) => (
            Pusher::with_token_file(server_url, path)?,
            format!(
                "the ServiceAccount token {} (the portal's CANOPY_AGENT_SERVICE_ACCOUNT must name this pod's ServiceAccount)",
                path.display()
            ),
        ),
        (None, None, None) => return Err(DaemonError::MissingToken),
    };
    tracing::info!(credential = %origin, "pushing batches to {}", pusher.url());
    let spool = Spool::open(&settings.spool_dir, settings.spool_options())?;
    Ok(Outbox::new(spool, pusher, node, &origin))
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
        Some(url) => Some(open_outbox(&settings, url, &config.node)?),
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
                    outbox.enqueue(
                        IngestBatch::new(&config.node, vec![report.to_sample()]),
                        &metrics,
                    );
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
