//! Spool delivery against a real HTTP server on loopback: server down, batches accumulate;
//! server back, every batch delivered exactly once and in order; past the bound, drops counted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use canopy_agent::push::spool::Spool;
use canopy_agent::push::{flush, Pusher};
use canopy_protocol::{EnergySource, IngestBatch, IntervalSample};
use secrecy::SecretString;
use time::macros::datetime;
use uuid::Uuid;

const TOKEN: &str = "node-token-123";

#[derive(Default)]
struct Received {
    /// Every accepted batch id, in arrival order (duplicates included, so they would show).
    batch_ids: Vec<Uuid>,
    /// Answer 503 to this many requests before accepting.
    fail_next: usize,
    dropped_seen: Vec<u64>,
}

type Shared = Arc<Mutex<Received>>;

async fn ingest(
    State(state): State<Shared>,
    headers: HeaderMap,
    Json(batch): Json<IngestBatch>,
) -> StatusCode {
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {TOKEN}"))
    {
        return StatusCode::UNAUTHORIZED;
    }
    if batch.validate().is_err() {
        return StatusCode::UNPROCESSABLE_ENTITY;
    }
    let mut received = state.lock().unwrap();
    if received.fail_next > 0 {
        received.fail_next -= 1;
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    if received.batch_ids.contains(&batch.batch_id) {
        return StatusCode::CONFLICT;
    }
    received.batch_ids.push(batch.batch_id);
    received.dropped_seen.push(batch.dropped_batches_total);
    StatusCode::ACCEPTED
}

async fn start_server(addr: SocketAddr, state: Shared) -> tokio::task::JoinHandle<()> {
    let app = Router::new()
        .route("/api/v1/ingest", post(ingest))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    })
}

/// A loopback address nothing listens on (yet).
async fn free_addr() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

fn batch(i: i64, dropped_batches_total: u64) -> IngestBatch {
    let start = datetime!(2026-01-01 00:00:00 UTC) + time::Duration::seconds(10 * i);
    let mut batch = IngestBatch::new(
        "node-a",
        vec![IntervalSample {
            start,
            end: start + time::Duration::seconds(10),
            source: EnergySource::Measured,
            host_energy_joules: 100.0,
            idle_energy_joules: 60.0,
            system_energy_joules: 40.0,
            zones: vec![],
            pods: vec![],
        }],
    );
    batch.dropped_batches_total = dropped_batches_total;
    batch
}

#[tokio::test]
async fn down_then_up_delivers_everything_once_in_order() {
    let addr = free_addr().await;
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), 100).unwrap();
    let pusher = Pusher::new(&format!("http://{addr}"), SecretString::from(TOKEN)).unwrap();
    let mut expected = Vec::new();
    // Server down: every flush stops at the first batch; nothing is lost.
    for i in 0..12 {
        let b = batch(i, spool.dropped_total());
        expected.push(b.batch_id);
        spool.push(&serde_json::to_vec(&b).unwrap()).unwrap();
        let outcome = flush(&spool, &pusher, 100).await.unwrap();
        assert_eq!(outcome.delivered, 0);
        assert!(outcome.retry_reason.is_some());
    }
    assert_eq!(spool.len().unwrap(), 12);

    // Server back, but overloaded for its first three answers.
    let state = Shared::default();
    state.lock().unwrap().fail_next = 3;
    let server = start_server(addr, state.clone()).await;
    let mut delivered = 0;
    let mut attempts = 0;
    while !spool.is_empty().unwrap() {
        attempts += 1;
        assert!(attempts < 20, "spool never drained");
        delivered += flush(&spool, &pusher, 100).await.unwrap().delivered;
    }
    assert_eq!(delivered, 12);
    assert_eq!(
        state.lock().unwrap().batch_ids,
        expected,
        "exactly once, in order"
    );
    // Re-sending a delivered batch (e.g. the agent crashed before deleting it) is harmless.
    let again = batch(0, 0);
    let mut resent = again.clone();
    resent.batch_id = expected[0];
    spool.push(&serde_json::to_vec(&resent).unwrap()).unwrap();
    assert_eq!(flush(&spool, &pusher, 100).await.unwrap().delivered, 1);
    assert_eq!(state.lock().unwrap().batch_ids.len(), 12);
    server.abort();
}

#[tokio::test]
async fn past_the_bound_oldest_are_dropped_and_counted() {
    let addr = free_addr().await;
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), 5).unwrap();
    let pusher = Pusher::new(&format!("http://{addr}"), SecretString::from(TOKEN)).unwrap();
    let mut ids = Vec::new();
    for i in 0..8 {
        let b = batch(i, spool.dropped_total());
        ids.push(b.batch_id);
        spool.push(&serde_json::to_vec(&b).unwrap()).unwrap();
        flush(&spool, &pusher, 100).await.unwrap();
    }
    assert_eq!(spool.dropped_total(), 3);
    let state = Shared::default();
    let server = start_server(addr, state.clone()).await;
    assert_eq!(flush(&spool, &pusher, 100).await.unwrap().delivered, 5);
    let received = state.lock().unwrap();
    assert_eq!(received.batch_ids, ids[3..].to_vec());
    // The batches written after the drops tell the server how many were lost.
    assert_eq!(received.dropped_seen, vec![0, 0, 0, 1, 2]);
    server.abort();
}

#[tokio::test]
async fn wrong_token_keeps_batches_and_invalid_batches_do_not_block() {
    let addr = free_addr().await;
    let state = Shared::default();
    let server = start_server(addr, state.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), 10).unwrap();
    let wrong = Pusher::new(&format!("http://{addr}"), SecretString::from("nope")).unwrap();
    spool
        .push(&serde_json::to_vec(&batch(0, 0)).unwrap())
        .unwrap();
    let outcome = flush(&spool, &wrong, 100).await.unwrap();
    assert!(outcome.retry_reason.unwrap().contains("401"));
    assert_eq!(spool.len().unwrap(), 1, "kept for when the token is fixed");

    let right = Pusher::new(&format!("http://{addr}/"), SecretString::from(TOKEN)).unwrap();
    let mut bad = batch(1, 0);
    bad.samples[0].idle_energy_joules = -1.0;
    spool.push(&serde_json::to_vec(&bad).unwrap()).unwrap();
    let good = batch(2, 0);
    spool.push(&serde_json::to_vec(&good).unwrap()).unwrap();
    let outcome = flush(&spool, &right, 100).await.unwrap();
    assert_eq!(outcome.delivered, 2);
    assert_eq!(outcome.rejected.len(), 1);
    assert!(
        outcome.rejected[0].contains("422"),
        "{:?}",
        outcome.rejected
    );
    assert!(spool.is_empty().unwrap());
    assert_eq!(state.lock().unwrap().batch_ids.last(), Some(&good.batch_id));
    server.abort();
}

#[tokio::test]
async fn a_bounded_flush_sends_the_oldest_first_and_leaves_the_rest() {
    let addr = free_addr().await;
    let state = Shared::default();
    let server = start_server(addr, state.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), 100).unwrap();
    let pusher = Pusher::new(&format!("http://{addr}"), SecretString::from(TOKEN)).unwrap();
    let batches: Vec<IngestBatch> = (0..5).map(|i| batch(i, 0)).collect();
    for b in &batches {
        spool.push(&serde_json::to_vec(b).unwrap()).unwrap();
    }
    assert_eq!(flush(&spool, &pusher, 2).await.unwrap().delivered, 2);
    assert_eq!(spool.len().unwrap(), 3);
    assert_eq!(flush(&spool, &pusher, 2).await.unwrap().delivered, 2);
    assert_eq!(flush(&spool, &pusher, 2).await.unwrap().delivered, 1);
    let ids: Vec<Uuid> = batches.iter().map(|b| b.batch_id).collect();
    assert_eq!(state.lock().unwrap().batch_ids, ids);
    server.abort();
}
