//! The same batch posted many times at once (an agent retrying after timeouts) is stored once.

use reqwest::StatusCode;
use time::OffsetDateTime;

use crate::{hour_start, known_batch, support::TestApp};

#[tokio::test]
async fn concurrent_resends_of_one_batch_are_stored_once() {
    let app = TestApp::spawn().await;
    let (_, token) = app.create_node_token("node-a").await;
    let batch = known_batch("node-a", hour_start(OffsetDateTime::now_utc()));
    let answers = futures::future::join_all((0..8).map(|_| app.post_batch(&token, &batch))).await;
    let created = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    let conflicts = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (1, 7), "{answers:?}");
    assert_eq!(app.count("energy_batches").await, 1);
    assert_eq!(app.count("energy_pod_samples").await, 3);
    let joules: f64 = sqlx::query_scalar(
        "SELECT sum(energy_joules) FROM energy_rollup_daily WHERE service = 'checkout'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(joules, 2_160_000.0);
    app.stop().await;
}
