//! Each interval of a node is counted once: the same time re-sent under a new batch_id (a
//! restored spool, a second agent on the node, a clock that went back) is refused with
//! `overlapping_interval` naming what is stored, and the totals do not move; back-to-back
//! intervals, other sources and other nodes are accepted; of overlapping batches sent at once,
//! exactly one is stored.

use canopy_protocol::EnergySource;
use reqwest::StatusCode;
use serde_json::Value;
use time::{format_description::well_known::Rfc3339, Duration, OffsetDateTime};

use crate::{hour_start, known_batch, pod, sample, support::TestApp, CHECKOUT};

/// Joules of checkout in the rollups (pending increments included: the hourly view).
async fn checkout_joules(app: &TestApp) -> f64 {
    sqlx::query_scalar(
        "SELECT coalesce(sum(energy_joules), 0) FROM energy_rollup_hourly \
         WHERE service = 'checkout'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

#[tokio::test]
async fn the_same_interval_under_a_new_batch_id_is_refused_and_not_counted_again() {
    let app = TestApp::spawn().await;
    let (_, token) = app.create_node_token("node-a").await;
    let start = hour_start(OffsetDateTime::now_utc()) - Duration::hours(1);
    let first = known_batch("node-a", start);
    let (status, body) = app.post_batch(&token, &first).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let joules = checkout_joules(&app).await;
    assert_eq!(joules, 2_160_000.0);

    // The very same samples, a new batch_id (IngestBatch::new draws one).
    let again = known_batch("node-a", start);
    assert_ne!(again.batch_id, first.batch_id);
    let (status, body) = app.post_batch(&token, &again).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "overlapping_interval", "{body}");
    assert_eq!(body["field"], "samples[0]", "{body}");
    assert_eq!(body["node"], "node-a", "{body}");
    assert_eq!(body["cluster"], "test", "{body}");
    let stored = &body["stored"];
    assert_eq!(stored["batch_id"], first.batch_id.to_string(), "{body}");
    assert_eq!(stored["source"], "measured", "{body}");
    assert_eq!(stored["start"], rfc3339(start), "{body}");
    assert_eq!(
        stored["end"],
        rfc3339(start + Duration::seconds(60)),
        "{body}"
    );
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("counted twice"), "{message}");

    // A partial overlap (30 s into the stored minute) is refused the same way.
    let mut shifted = known_batch("node-a", start + Duration::seconds(30));
    shifted.samples.truncate(1);
    let (status, body) = app.post_batch(&token, &shifted).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "overlapping_interval", "{body}");

    // Nothing of the refused batches was written.
    assert_eq!(checkout_joules(&app).await, joules);
    assert_eq!(app.count("energy_batches").await, 1);
    assert_eq!(app.count("energy_node_samples").await, 2);
    assert_eq!(app.count("energy_pod_samples").await, 3);
    let stats = app.admin_get("/api/v1/energy/ingest-stats").await;
    assert_eq!(stats["overlapping_batches"], 2, "{stats}");

    // The first batch re-sent with its own id is still a duplicate (delivered), not an overlap.
    let (status, body) = app.post_batch(&token, &first).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"], "duplicate_batch", "{body}");
    app.stop().await;
}

#[tokio::test]
async fn back_to_back_intervals_other_sources_and_other_nodes_are_accepted() {
    let app = TestApp::spawn().await;
    let (_, token_a) = app.create_node_token("node-a").await;
    let (_, token_b) = app.create_node_token("node-b").await;
    let start = hour_start(OffsetDateTime::now_utc()) - Duration::hours(1);
    // known_batch: measured [start, +60 s), estimated [+60 s, +120 s).
    let (status, body) = app
        .post_batch(&token_a, &known_batch("node-a", start))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Measured [+60 s, +120 s): starts where the stored measured minute ends.
    let next = canopy_protocol::IngestBatch::new(
        "node-a",
        vec![sample(
            start + Duration::seconds(60),
            EnergySource::Measured,
            10.0,
            0.0,
            vec![pod("payments-prod", "checkout-1", CHECKOUT, 100.0)],
        )],
    );
    let (status, body) = app.post_batch(&token_a, &next).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Estimated [start, +60 s): the same minute as the measured one, another source.
    let estimated = canopy_protocol::IngestBatch::new(
        "node-a",
        vec![sample(
            start,
            EnergySource::Estimated,
            10.0,
            0.0,
            vec![pod("payments-prod", "checkout-1", CHECKOUT, 200.0)],
        )],
    );
    let (status, body) = app.post_batch(&token_a, &estimated).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // The same minutes on another node.
    let (status, body) = app
        .post_batch(&token_b, &known_batch("node-b", start))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    assert_eq!(app.count("energy_batches").await, 4);
    assert_eq!(
        checkout_joules(&app).await,
        2.0 * 2_160_000.0 + 100.0 + 200.0
    );
    app.stop().await;
}

#[tokio::test]
async fn of_overlapping_batches_sent_at_once_exactly_one_is_counted() {
    let app = TestApp::spawn().await;
    let (_, token) = app.create_node_token("node-a").await;
    let start = hour_start(OffsetDateTime::now_utc()) - Duration::hours(1);
    // Eight batches, eight batch ids, the same two minutes (two agents on one node, and more).
    let batches: Vec<_> = (0..8).map(|_| known_batch("node-a", start)).collect();
    let answers =
        futures::future::join_all(batches.iter().map(|b| app.post_batch(&token, b))).await;
    let created = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    let overlapping: Vec<&Value> = answers
        .iter()
        .filter(|(s, b)| *s == StatusCode::CONFLICT && b["error"] == "overlapping_interval")
        .map(|(_, b)| b)
        .collect();
    assert_eq!((created, overlapping.len()), (1, 7), "{answers:?}");
    let winner = answers
        .iter()
        .zip(&batches)
        .find(|((s, _), _)| *s == StatusCode::CREATED)
        .map(|(_, b)| b.batch_id.to_string())
        .unwrap();
    for body in overlapping {
        assert_eq!(body["stored"]["batch_id"], winner.as_str(), "{body}");
    }
    assert_eq!(app.count("energy_batches").await, 1);
    assert_eq!(app.count("energy_pod_samples").await, 3);
    assert_eq!(checkout_joules(&app).await, 2_160_000.0);
    app.stop().await;
}

#[tokio::test]
async fn samples_overlapping_each_other_in_one_batch_are_refused() {
    let app = TestApp::spawn().await;
    let (_, token) = app.create_node_token("node-a").await;
    let start = hour_start(OffsetDateTime::now_utc()) - Duration::hours(1);
    let mut batch = known_batch("node-a", start);
    let mut twice = batch.samples[0].clone();
    twice.start += Duration::seconds(59);
    twice.end += Duration::seconds(59);
    batch.samples.push(twice);
    let (status, body) = app.post_batch(&token, &batch).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "overlapping_samples", "{body}");
    assert_eq!(body["field"], "samples[2]", "{body}");
    assert_eq!(app.count("energy_batches").await, 0);
    assert_eq!(checkout_joules(&app).await, 0.0);
    app.stop().await;
}
