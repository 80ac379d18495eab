//! Raw retention (old day partitions dropped, rollups kept) and node tokens (missing, bad,
//! revoked and another node's tokens refused).

use super::*;

#[tokio::test]
async fn retention_drops_old_raw_partitions_and_keeps_rollups() {
    let app = TestApp::spawn().await;
    let (_, token) = app.create_node_token("node-a").await;
    let now = OffsetDateTime::now_utc();
    let old_start = hour_start(now) - Duration::days(6);
    assert_eq!(
        app.post_batch(&token, &known_batch("node-a", old_start))
            .await
            .0,
        StatusCode::CREATED
    );
    assert_eq!(
        app.post_batch(&token, &known_batch("node-a", hour_start(now)))
            .await
            .0,
        StatusCode::CREATED
    );
    assert_eq!(app.count("energy_pod_samples").await, 6);
    let rollup_rows = app.count("energy_rollup_hourly").await;

    // Three days later with 7 days' retention, the day 6 days ago (now 9 days old) expires.
    let report = partitions::drop_expired(&app.pool, now + Duration::days(3), 7)
        .await
        .unwrap();
    let old_day = old_start.date();
    let suffix = format!(
        "{:04}{:02}{:02}",
        old_day.year(),
        u8::from(old_day.month()),
        old_day.day()
    );
    assert!(
        report
            .dropped_partitions
            .contains(&format!("energy_pod_samples_p{suffix}")),
        "{report:?}"
    );
    assert_eq!(app.count("energy_pod_samples").await, 3);
    assert_eq!(app.count("energy_node_samples").await, 2);
    assert_eq!(app.count("energy_rollup_hourly").await, rollup_rows);
    let kept: f64 = sqlx::query_scalar(
        "SELECT sum(energy_joules) FROM energy_rollup_daily WHERE service = 'checkout'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(kept, 2.0 * 2_160_000.0, "rollups keep both days");
    // The expired day's intervals go too; today's still refuse a second copy.
    assert_eq!(report.deleted_intervals, 2, "{report:?}");
    assert_eq!(app.count("energy_node_intervals").await, 2);
    app.stop().await;
}

#[tokio::test]
async fn missing_bad_revoked_and_foreign_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let (id, token) = app.create_node_token("node-a").await;
    let batch = known_batch("node-a", hour_start(OffsetDateTime::now_utc()));
    let body = serde_json::to_string(&batch).unwrap();

    let response = app
        .client
        .post(app.url("/api/v1/ingest"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.post_raw("cnt_not-a-real-token", body.clone()).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post_raw(TEST_API_TOKEN, body.clone()).await.0,
        StatusCode::UNAUTHORIZED,
        "the admin token is not a node token"
    );

    // A token belongs to its node.
    let (_, other) = app.create_node_token("node-b").await;
    let (status, answer) = app.post_raw(&other, body.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(answer["field"], "node");

    // Only the digest is stored.
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT token_sha256 FROM energy_node_tokens WHERE id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(stored, canopy_server::energy::tokens::digest(&token));

    // Revoked: refused at once.
    let response = app
        .client
        .delete(app.url(&format!("/api/v1/energy/node-tokens/{id}")))
        .bearer_auth(TEST_API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, answer) = app.post_raw(&token, body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("revoked"));

    // Admin endpoints need an organisation admin: anonymous is 401, a team member 403.
    let response = app
        .anonymous()
        .post(app.url("/api/v1/energy/node-tokens"))
        .json(&json!({ "node": "node-c" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let member = app
        .person("ana", &[("payments", app::api::auth::Role::Admin)])
        .await;
    let response = member
        .post(app.url("/api/v1/energy/node-tokens"))
        .json(&json!({ "node": "node-c" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count("energy_batches").await, 0);
    app.stop().await;
}
