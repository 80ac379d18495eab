//! The kubelet's log endpoint for the simulated nodes. The API server answers
//! `GET /api/v1/namespaces/{ns}/pods/{pod}/log` by asking the node's kubelet at
//! `https://<InternalIP>:<daemonEndpoints.kubeletEndpoint.Port>/containerLogs/{ns}/{pod}/{container}`;
//! serving that on 127.0.0.1 from the [`LogStore`] makes `kubectl logs` (with `--previous`,
//! `--tail`, `--follow`) and kube-rs `Api::logs`/`log_stream` work for simulated pods.
//! The API server checks a kubelet's certificate only when given a CA (the sandbox gives none),
//! so a self-signed certificate made at start is enough.

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    body::{Body, Bytes},
    extract::{Path, Query, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use hyper_util::{rt::TokioIo, service::TowerToHyperService};
use serde::Deserialize;
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_rustls::{
    rustls::{
        crypto::ring::default_provider,
        pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer},
        ServerConfig,
    },
    TlsAcceptor,
};
use tracing::{debug, info};

use crate::{
    logs::{LogKey, LogStore},
    nodes::NODE_ADDRESS,
    Error, Result,
};

/// How often a follower looks for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(500);

/// Starts serving on a free port of [`NODE_ADDRESS`]; returns the port and the accept task.
pub(crate) async fn serve(logs: LogStore) -> Result<(u16, JoinHandle<()>)> {
    let certified =
        rcgen::generate_simple_self_signed(vec![NODE_ADDRESS.to_owned(), "localhost".to_owned()])?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let tls = ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)?;
    let acceptor = TlsAcceptor::from(Arc::new(tls));
    let addr = format!("{NODE_ADDRESS}:0");
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|source| Error::Serve {
            addr: addr.clone(),
            source,
        })?;
    let port = listener
        .local_addr()
        .map_err(|source| Error::Serve { addr, source })?
        .port();
    info!(port, "simulated kubelet serving container logs");
    let app = router(logs);
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = TowerToHyperService::new(app);
                if let Err(err) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await
                {
                    debug!(error = %err, "kubelet connection ended");
                }
            });
        }
    });
    Ok((port, task))
}

/// The kubelet's `containerLogs` route over a log store.
pub fn router(logs: LogStore) -> Router {
    Router::new()
        .route(
            "/containerLogs/{namespace}/{pod}/{container}",
            get(container_logs),
        )
        .with_state(logs)
}

/// The options the API server passes on from `PodLogOptions`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogParams {
    #[serde(default)]
    previous: bool,
    #[serde(default)]
    follow: bool,
    #[serde(default)]
    timestamps: bool,
    tail_lines: Option<usize>,
    limit_bytes: Option<usize>,
}

async fn container_logs(
    State(logs): State<LogStore>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    Query(params): Query<LogParams>,
) -> Response {
    let key = LogKey::new(&namespace, &pod, &container);
    let (lines, snapshot) = if params.previous {
        (logs.lines(&key, true), None)
    } else {
        let snapshot = logs.snapshot(&key);
        (snapshot.as_ref().map(|s| s.lines.clone()), snapshot)
    };
    let Some(lines) = lines else {
        let message = if params.previous {
            format!("previous terminated container \"{container}\" in pod \"{pod}\" not found")
        } else {
            format!(
                "container \"{container}\" in pod \"{pod}\" is waiting to start: no simulated logs"
            )
        };
        return (StatusCode::BAD_REQUEST, message).into_response();
    };
    let start = params
        .tail_lines
        .map_or(0, |tail| lines.len().saturating_sub(tail));
    let mut text = render(&lines[start..], params.timestamps);
    if let Some(limit) = params.limit_bytes {
        text.truncate(floor_char_boundary(&text, limit));
    }
    let body = match snapshot {
        Some(snapshot) if params.follow && params.limit_bytes.is_none() => follow(
            logs,
            key,
            snapshot.instance,
            snapshot.written,
            text,
            params.timestamps,
        ),
        _ => Body::from(text),
    };
    ([(header::CONTENT_TYPE, "text/plain")], body).into_response()
}

/// The first chunk, then new lines of the same instance as they come; ends when the instance
/// does (the container restarted) or the pod is gone, as a kubelet's follow does.
fn follow(
    logs: LogStore,
    key: LogKey,
    instance: u32,
    written: u64,
    first: String,
    timestamps: bool,
) -> Body {
    let state = (logs, key, written, Some(first));
    let stream = futures::stream::unfold(state, move |(logs, key, mut sent, first)| async move {
        if let Some(first) = first {
            return Some((
                Ok::<_, Infallible>(Bytes::from(first)),
                (logs, key, sent, None),
            ));
        }
        loop {
            tokio::time::sleep(FOLLOW_POLL).await;
            let snapshot = logs.snapshot(&key).filter(|s| s.instance == instance)?;
            if snapshot.written > sent {
                let new = usize::try_from(snapshot.written - sent)
                    .unwrap_or(usize::MAX)
                    .min(snapshot.lines.len());
                let chunk = render(&snapshot.lines[snapshot.lines.len() - new..], timestamps);
                sent = snapshot.written;
                return Some((Ok(Bytes::from(chunk)), (logs, key, sent, None)));
            }
        }
    });
    Body::from_stream(stream)
}

/// Lines as the kubelet sends them; with `timestamps`, each line starts with its time (the
/// simulated lines already begin with one, which is repeated as the kubelet's prefix).
fn render(lines: &[String], timestamps: bool) -> String {
    lines
        .iter()
        .map(|line| match (timestamps, line.split_once(' ')) {
            (true, Some((time, _))) => format!("{time} {line}\n"),
            _ => format!("{line}\n"),
        })
        .collect()
}

fn floor_char_boundary(text: &str, limit: usize) -> usize {
    (0..=limit.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn timestamps_repeat_the_line_time_as_prefix() {
        let lines = vec!["2026-01-01T00:00:00.000Z INFO  up".to_owned()];
        assert_eq!(render(&lines, false), "2026-01-01T00:00:00.000Z INFO  up\n");
        assert_eq!(
            render(&lines, true),
            "2026-01-01T00:00:00.000Z 2026-01-01T00:00:00.000Z INFO  up\n"
        );
    }

    #[test]
    fn byte_limits_never_split_a_character() {
        assert_eq!(floor_char_boundary("aé", 2), 1);
        assert_eq!(floor_char_boundary("ab", 10), 2);
    }
}
