//! Spool delivery against a real HTTP server on loopback: server down, batches accumulate;
//! server back, every batch delivered exactly once and in order; past the bound, drops counted;
//! batches refused for good (401, 403, 413, 422) dead-lettered without blocking the next.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use canopy_agent::metrics::Metrics;
use canopy_agent::push::outbox::Outbox;
use canopy_agent::push::spool::{Spool, SpoolOptions};
use canopy_agent::push::{flush, Pusher, Refusal};
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
    /// Answer these statuses, one per request, before anything else.
    answer_next: VecDeque<StatusCode>,
    dropped_seen: Vec<u64>,
}

type Shared = Arc<Mutex<Received>>;

async fn ingest(
    State(state): State<Shared>,
    headers: HeaderMap,
    Json(batch): Json<IngestBatch>,
) -> (StatusCode, String) {
    let scripted = state.lock().unwrap().answer_next.pop_front();
    if let Some(status) = scripted {
        return (
            status,
            r#"{"error":"scripted","message":"scripted"}"#.into(),
        );
    }
    answer(&state, &headers, &batch)
}

/// As the server answers: 401 for a wrong token, 422 for an invalid batch, 409
/// `duplicate_batch` for a batch id already stored.
fn answer(state: &Shared, headers: &HeaderMap, batch: &IngestBatch) -> (StatusCode, String) {
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {TOKEN}"))
    {
        return (
            StatusCode::UNAUTHORIZED,
            r#"{"error":"unauthorized","message":"the node token is not valid or was revoked"}"#
                .into(),
        );
    }
    if batch.validate().is_err() {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            r#"{"error":"invalid_input"}"#.into(),
        );
    }
    let mut received = state.lock().unwrap();
    if received.fail_next > 0 {
        received.fail_next -= 1;
        return (StatusCode::SERVICE_UNAVAILABLE, String::new());
    }
    if received.batch_ids.contains(&batch.batch_id) {
        return (
            StatusCode::CONFLICT,
            format!(
                r#"{{"error":"duplicate_batch","batch_id":"{}"}}"#,
                batch.batch_id
            ),
        );
    }
    received.batch_ids.push(batch.batch_id);
    received.dropped_seen.push(batch.dropped_batches_total);
    (StatusCode::ACCEPTED, String::new())
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

fn max_batches(max_batches: usize) -> SpoolOptions {
    SpoolOptions {
        max_batches,
        ..SpoolOptions::default()
    }
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
    let mut spool = Spool::open(dir.path(), max_batches(100)).unwrap();
    let pusher = Pusher::new(&format!("http://{addr}"), SecretString::from(TOKEN)).unwrap();
    let mut expected = Vec::new();
    // Server down: every flush stops at the first batch; nothing is lost.
    for i in 0..12 {
        let b = batch(i, spool.dropped_total());
        expected.push(b.batch_id);
        spool.push(&serde_json::to_vec(&b).unwrap()).unwrap();
        let outcome = flush(&mut spool, &pusher, 100).await.unwrap();
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
        delivered += flush(&mut spool, &pusher, 100).await.unwrap().delivered;
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
    assert_eq!(flush(&mut spool, &pusher, 100).await.unwrap().delivered, 1);
    assert_eq!(state.lock().unwrap().batch_ids.len(), 12);
    server.abort();
}

#[tokio::test]
async fn past_the_bound_oldest_are_dropped_and_counted() {
    let addr = free_addr().await;
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), max_batches(5)).unwrap();
    let pusher = Pusher::new(&format!("http://{addr}"), SecretString::from(TOKEN)).unwrap();
    let mut ids = Vec::new();
    for i in 0..8 {
        let b = batch(i, spool.dropped_total());
        ids.push(b.batch_id);
        spool.push(&serde_json::to_vec(&b).unwrap()).unwrap();
        flush(&mut spool, &pusher, 100).await.unwrap();
    }
    assert_eq!(spool.dropped_total(), 3);
    let state = Shared::default();
    let server = start_server(addr, state.clone()).await;
    assert_eq!(flush(&mut spool, &pusher, 100).await.unwrap().delivered, 5);
    let received = state.lock().unwrap();
    assert_eq!(received.batch_ids, ids[3..].to_vec());
    // The batches written after the drops tell the server how many were lost.
    assert_eq!(received.dropped_seen, vec![0, 0, 0, 1, 2]);
    server.abort();
}

#[tokio::test]
async fn wrong_token_dead_letters_and_a_moved_back_dead_letter_is_resent() {
    let addr = free_addr().await;
    let state = Shared::default();
    let server = start_server(addr, state.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), max_batches(10)).unwrap();
    let wrong = Pusher::new(&format!("http://{addr}"), SecretString::from("nope")).unwrap();
    let first = batch(0, 0);
    spool.push(&serde_json::to_vec(&first).unwrap()).unwrap();
    let outcome = flush(&mut spool, &wrong, 100).await.unwrap();
    assert_eq!(outcome.retry_reason, None);
    assert_eq!(outcome.dead_lettered.len(), 1);
    assert_eq!(outcome.dead_lettered[0].refusal, Refusal::Unauthorized);
    assert!(outcome.dead_lettered[0].answer.contains("401"));
    assert!(outcome.dead_lettered[0].answer.contains("revoked"));
    assert!(spool.is_empty().unwrap());
    assert_eq!(spool.dead_letters().len().unwrap(), 1);

    // The token fixed, the operator moves the dead letter back into the spool as it is.
    let right = Pusher::new(&format!("http://{addr}/"), SecretString::from(TOKEN)).unwrap();
    let letter = spool.dead_letters().entries().unwrap()[0].clone();
    let name = letter.path.file_name().unwrap();
    assert_eq!(name, "00000000000000000000.unauthorized.json");
    std::fs::rename(&letter.path, spool.dir().join(name)).unwrap();
    let mut bad = batch(1, 0);
    bad.samples[0].idle_energy_joules = -1.0;
    spool.push(&serde_json::to_vec(&bad).unwrap()).unwrap();
    let good = batch(2, 0);
    spool.push(&serde_json::to_vec(&good).unwrap()).unwrap();
    let outcome = flush(&mut spool, &right, 100).await.unwrap();
    assert_eq!(outcome.delivered, 2);
    assert_eq!(outcome.dead_lettered.len(), 1);
    assert_eq!(outcome.dead_lettered[0].refusal, Refusal::Invalid);
    assert!(outcome.dead_lettered[0].answer.contains("422"));
    assert!(spool.is_empty().unwrap());
    assert_eq!(
        state.lock().unwrap().batch_ids,
        vec![first.batch_id, good.batch_id]
    );
    let letters = spool.dead_letters().entries().unwrap();
    assert_eq!(letters.len(), 1);
    assert!(letters[0]
        .path
        .ends_with("00000000000000000001.invalid.json"));
    server.abort();
}

#[tokio::test]
async fn a_bounded_flush_sends_the_oldest_first_and_leaves_the_rest() {
    let addr = free_addr().await;
    let state = Shared::default();
    let server = start_server(addr, state.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), max_batches(100)).unwrap();
    let pusher = Pusher::new(&format!("http://{addr}"), SecretString::from(TOKEN)).unwrap();
    let batches: Vec<IngestBatch> = (0..5).map(|i| batch(i, 0)).collect();
    for b in &batches {
        spool.push(&serde_json::to_vec(b).unwrap()).unwrap();
    }
    assert_eq!(flush(&mut spool, &pusher, 2).await.unwrap().delivered, 2);
    assert_eq!(spool.len().unwrap(), 3);
    assert_eq!(flush(&mut spool, &pusher, 2).await.unwrap().delivered, 2);
    assert_eq!(flush(&mut spool, &pusher, 2).await.unwrap().delivered, 1);
    let ids: Vec<Uuid> = batches.iter().map(|b| b.batch_id).collect();
    assert_eq!(state.lock().unwrap().batch_ids, ids);
    server.abort();
}

/// An outbox on `addr` with the right token, the spool in `dir`.
fn outbox(addr: SocketAddr, dir: &Path, options: SpoolOptions) -> Outbox {
    let spool = Spool::open(dir, options).unwrap();
    let pusher = Pusher::new(&format!("http://{addr}"), SecretString::from(TOKEN)).unwrap();
    Outbox::new(spool, pusher, "node-a", "CANOPY_NODE_TOKEN")
}

/// The batch ids in the files of `entries`.
fn ids_in(entries: &[canopy_agent::push::spool::SpoolEntry]) -> Vec<Uuid> {
    entries
        .iter()
        .map(|e| {
            let batch: IngestBatch =
                serde_json::from_slice(&std::fs::read(&e.path).unwrap()).unwrap();
            batch.batch_id
        })
        .collect()
}

/// The server refuses the first batch with `status`: it lands in the dead-letter directory, the
/// next batch is delivered, and the metric counts 1 for `reason`.
async fn refused_batch_is_dead_lettered_and_the_next_delivered(status: StatusCode, reason: &str) {
    let addr = free_addr().await;
    let state = Shared::default();
    state.lock().unwrap().answer_next.push_back(status);
    let server = start_server(addr, state.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let metrics = Metrics::new();
    let mut outbox = outbox(addr, dir.path(), SpoolOptions::default());
    let (refused, next) = (batch(0, 0), batch(1, 0));
    outbox.enqueue(refused.clone(), &metrics);
    outbox.enqueue(next.clone(), &metrics);

    let outcome = outbox.deliver_now(&metrics).await.unwrap();
    assert_eq!(
        outcome.delivered, 1,
        "{status}: the next batch went through"
    );
    assert_eq!(outcome.retry_reason, None);
    assert_eq!(state.lock().unwrap().batch_ids, vec![next.batch_id]);
    assert!(outbox.spool().is_empty().unwrap());
    let letters = outbox.spool().dead_letters().entries().unwrap();
    assert_eq!(ids_in(&letters), vec![refused.batch_id]);
    assert_eq!(
        letters[0].path.parent().unwrap(),
        dir.path().join("dead-letter")
    );
    assert!(letters[0]
        .path
        .ends_with(format!("00000000000000000000.{reason}.json")));
    assert_eq!(metrics.dead_lettered_total(reason), 1);
    let text = metrics.encode().unwrap();
    for needle in [
        format!("canopy_agent_batches_dead_lettered_total{{reason=\"{reason}\"}} 1"),
        "canopy_agent_batches_delivered_total 1".to_string(),
        "canopy_agent_dead_letter_batches 1".to_string(),
        "canopy_agent_spool_batches 0".to_string(),
    ] {
        assert!(text.contains(&needle), "missing {needle} in\n{text}");
    }
    server.abort();
}

#[tokio::test]
async fn unauthorized_batch_is_dead_lettered_and_the_next_delivered() {
    refused_batch_is_dead_lettered_and_the_next_delivered(StatusCode::UNAUTHORIZED, "unauthorized")
        .await;
}

#[tokio::test]
async fn forbidden_batch_is_dead_lettered_and_the_next_delivered() {
    refused_batch_is_dead_lettered_and_the_next_delivered(StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn too_large_batch_is_dead_lettered_and_the_next_delivered() {
    refused_batch_is_dead_lettered_and_the_next_delivered(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
    )
    .await;
}

#[tokio::test]
async fn bad_request_batch_is_dead_lettered_and_the_next_delivered() {
    refused_batch_is_dead_lettered_and_the_next_delivered(StatusCode::BAD_REQUEST, "invalid").await;
}

#[tokio::test]
async fn transient_answers_are_retried_in_order_and_nothing_is_dead_lettered() {
    let addr = free_addr().await;
    let state = Shared::default();
    for status in [
        StatusCode::SERVICE_UNAVAILABLE,
        StatusCode::TOO_MANY_REQUESTS,
        StatusCode::REQUEST_TIMEOUT,
        StatusCode::NOT_FOUND,
    ] {
        state.lock().unwrap().answer_next.push_back(status);
    }
    let server = start_server(addr, state.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let metrics = Metrics::new();
    let mut outbox = outbox(addr, dir.path(), SpoolOptions::default());
    let batches: Vec<IngestBatch> = (0..2).map(|i| batch(i, 0)).collect();
    for b in &batches {
        outbox.enqueue(b.clone(), &metrics);
    }
    for answer in ["503", "429", "408", "404"] {
        let outcome = outbox.deliver_now(&metrics).await.unwrap();
        assert_eq!(outcome.delivered, 0);
        assert!(outcome.dead_lettered.is_empty(), "{answer}");
        assert!(
            outcome
                .retry_reason
                .as_deref()
                .unwrap_or("")
                .contains(answer),
            "{outcome:?}"
        );
        assert_eq!(outbox.spool().len().unwrap(), 2, "kept after {answer}");
    }
    let outcome = outbox.deliver_now(&metrics).await.unwrap();
    assert_eq!(outcome.delivered, 2);
    let ids: Vec<Uuid> = batches.iter().map(|b| b.batch_id).collect();
    assert_eq!(state.lock().unwrap().batch_ids, ids);
    assert!(outbox.spool().dead_letters().is_empty().unwrap());
    assert!(!dir.path().join("dead-letter").exists());
    let text = metrics.encode().unwrap();
    assert!(
        !text.contains("canopy_agent_batches_dead_lettered_total{"),
        "{text}"
    );
    assert!(
        text.contains("canopy_agent_errors_total{kind=\"push\"} 4"),
        "{text}"
    );
    server.abort();
}

#[tokio::test]
async fn the_spool_byte_bound_drops_the_oldest_and_counts_them() {
    let addr = free_addr().await; // nothing listens: every batch stays spooled
    let dir = tempfile::tempdir().unwrap();
    let one = serde_json::to_vec(&batch(0, 0)).unwrap().len() as u64;
    // Room for three batches, not four (drop counts stay one digit, so sizes stay equal).
    let max_bytes = 3 * one + one / 2;
    let options = SpoolOptions {
        max_bytes,
        ..SpoolOptions::default()
    };
    let metrics = Metrics::new();
    let mut outbox = outbox(addr, dir.path(), options);
    let batches: Vec<IngestBatch> = (0..7).map(|i| batch(i, 0)).collect();
    for b in &batches {
        outbox.enqueue(b.clone(), &metrics);
        assert!(outbox.spool().bytes().unwrap() <= max_bytes);
    }
    let ids: Vec<Uuid> = batches.iter().map(|b| b.batch_id).collect();
    assert_eq!(
        ids_in(&outbox.spool().entries().unwrap()),
        ids[4..].to_vec()
    );
    let seqs: Vec<u64> = outbox
        .spool()
        .entries()
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, vec![4, 5, 6], "the oldest were dropped first");
    assert_eq!(outbox.spool().dropped_total(), 4);
    let text = metrics.encode().unwrap();
    assert!(
        text.contains("canopy_agent_spool_dropped_batches_total 4"),
        "{text}"
    );
    assert!(text.contains("canopy_agent_spool_batches 3"), "{text}");
    assert!(
        text.contains("canopy_agent_spool_dropped_bytes_total "),
        "{text}"
    );
}

#[tokio::test]
async fn the_dead_letter_byte_bound_drops_the_oldest_and_counts_them() {
    let addr = free_addr().await;
    let state = Shared::default();
    let server = start_server(addr, state.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let one = serde_json::to_vec(&batch(0, 0)).unwrap().len() as u64;
    let dead_letter_dir = dir.path().join("elsewhere");
    let options = SpoolOptions {
        dead_letter_dir: Some(dead_letter_dir.clone()),
        dead_letter_max_bytes: 2 * one + one / 2,
        ..SpoolOptions::default()
    };
    let metrics = Metrics::new();
    let mut outbox = outbox(addr, &dir.path().join("spool"), options);
    let batches: Vec<IngestBatch> = (0..5).map(|i| batch(i, 0)).collect();
    for b in &batches {
        state
            .lock()
            .unwrap()
            .answer_next
            .push_back(StatusCode::UNAUTHORIZED);
        outbox.enqueue(b.clone(), &metrics);
        let outcome = outbox.deliver_now(&metrics).await.unwrap();
        assert_eq!(outcome.dead_lettered.len(), 1);
        assert!(outbox.spool().dead_letters().bytes().unwrap() <= 2 * one + one / 2);
    }
    let letters = outbox.spool().dead_letters().entries().unwrap();
    assert!(letters
        .iter()
        .all(|l| l.path.parent() == Some(dead_letter_dir.as_path())));
    let ids: Vec<Uuid> = batches.iter().map(|b| b.batch_id).collect();
    assert_eq!(
        ids_in(&letters),
        ids[3..].to_vec(),
        "the oldest were dropped first"
    );
    assert_eq!(outbox.spool().dead_letters().dropped_total(), 3);
    assert_eq!(metrics.dead_lettered_total("unauthorized"), 5);
    let text = metrics.encode().unwrap();
    assert!(
        text.contains("canopy_agent_dead_letter_dropped_batches_total 3"),
        "{text}"
    );
    assert!(
        text.contains("canopy_agent_dead_letter_batches 2"),
        "{text}"
    );
    server.abort();
}

#[tokio::test]
async fn an_identity_token_file_is_read_again_for_every_batch() {
    let addr = free_addr().await;
    let state = Shared::default();
    let server = start_server(addr, state.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    let mut spool = Spool::open(dir.path().join("spool"), max_batches(10)).unwrap();
    let pusher = Pusher::with_token_file(&format!("http://{addr}"), &token_file).unwrap();

    // No token file yet (the kubelet has not written it): retried, the batch stays.
    spool
        .push(&serde_json::to_vec(&batch(0, 0)).unwrap())
        .unwrap();
    let outcome = flush(&mut spool, &pusher, 100).await.unwrap();
    assert!(
        outcome
            .retry_reason
            .as_deref()
            .unwrap()
            .contains("identity token file"),
        "{outcome:?}"
    );
    assert_eq!(spool.len().unwrap(), 1);

    // A stale token: refused. The kubelet rotates it: the next batch carries the new one.
    std::fs::write(&token_file, "nope\n").unwrap();
    let outcome = flush(&mut spool, &pusher, 100).await.unwrap();
    assert_eq!(outcome.dead_lettered.len(), 1);
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let next = batch(1, 0);
    spool.push(&serde_json::to_vec(&next).unwrap()).unwrap();
    let outcome = flush(&mut spool, &pusher, 100).await.unwrap();
    assert_eq!(outcome.delivered, 1, "{outcome:?}");
    assert_eq!(state.lock().unwrap().batch_ids, vec![next.batch_id]);
    server.abort();
}
