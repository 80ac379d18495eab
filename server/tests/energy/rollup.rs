//! The daily rollup derived from the hourly one: exact figures before and after the background
//! job rolls a day, and late batches for rolled days.

use canopy_server::energy::rollup;
use reqwest::StatusCode;
use time::{format_description::well_known::Rfc3339, Duration, OffsetDateTime};

use crate::{assert_figure, hour_start, known_batch, support::TestApp};

async fn sum(app: &TestApp, sql: &str) -> f64 {
    sqlx::query_scalar::<_, Option<f64>>(sql)
        .fetch_one(&app.pool)
        .await
        .unwrap()
        .unwrap_or(0.0)
}

/// Now and today's midnight, with the watermark at today's midnight: today is not rolled (the
/// server's own job never rolls past yesterday, so it cannot race with a test), and a test
/// rolls it by running the job as if two days had passed.
async fn watermark_at_today(app: &TestApp) -> (OffsetDateTime, OffsetDateTime) {
    let now = OffsetDateTime::now_utc();
    let today = now.date().midnight().assume_utc();
    sqlx::query("UPDATE energy_daily_watermark SET rolled_through = $1")
        .bind(today)
        .execute(&app.pool)
        .await
        .unwrap();
    (now, today)
}

#[tokio::test]
async fn daily_figures_are_exact_before_and_after_the_job_rolls_a_day() {
    let app = TestApp::spawn().await;
    let (_, token) = app.create_node_token("node-a").await;
    let (now, today) = watermark_at_today(&app).await;
    let old = hour_start(now);
    let batch = known_batch("node-a", old);
    assert_eq!(app.post_batch(&token, &batch).await.0, StatusCode::CREATED);
    let checkout_daily =
        "SELECT sum(energy_joules) FROM energy_rollup_daily WHERE service = 'checkout'";
    let rolled = "SELECT sum(energy_joules) FROM energy_rollup_daily_rolled";
    // Ingest wrote the hourly rollup only; the daily view already has the exact figure.
    assert_eq!(sum(&app, rolled).await, 0.0);
    assert_eq!(sum(&app, checkout_daily).await, 2_160_000.0);
    // Its hourly increments were appended to the pending table; compaction (a background task
    // every 2 s, run here directly) moves them into the hourly table: the hourly view is the
    // same before and after, and one row per key.
    let checkout_hourly =
        "SELECT sum(energy_joules) FROM energy_rollup_hourly WHERE service = 'checkout'";
    assert_eq!(sum(&app, checkout_hourly).await, 2_160_000.0);
    rollup::compact_pending(&app.pool).await.unwrap();
    assert_eq!(app.count("energy_rollup_pending").await, 0);
    assert_eq!(sum(&app, checkout_hourly).await, 2_160_000.0);
    assert_eq!(
        sum(&app, "SELECT sum(energy_joules) FROM energy_rollup_hourly_compacted WHERE service = 'checkout'").await,
        2_160_000.0
    );
    assert_eq!(app.count("energy_rollup_hourly").await, 7);

    let later = now + Duration::days(2);
    let report = rollup::roll_daily(&app.pool, later).await.unwrap();
    assert_eq!(report.to, Some(today + Duration::days(1)));
    assert!(report.rows > 0, "{report:?}");
    // Checkout, idle and system (measured and estimated, idle and system 0 J estimated) and
    // coredns (measured): one daily row each.
    assert_eq!(app.count("energy_rollup_daily_rolled").await, 7);
    assert_eq!(
        sum(&app, rolled).await,
        sum(&app, "SELECT sum(energy_joules) FROM energy_rollup_hourly").await
    );
    assert_eq!(sum(&app, checkout_daily).await, 2_160_000.0);
    // A second run has nothing to do.
    assert_eq!(rollup::roll_daily(&app.pool, later).await.unwrap().rows, 0);

    // A late batch for the rolled day (the next two minutes: the same ones again would be
    // refused as overlapping) updates both rollups in its one statement.
    let late = known_batch("node-a", old + Duration::minutes(2));
    assert_eq!(app.post_batch(&token, &late).await.0, StatusCode::CREATED);
    assert_eq!(sum(&app, checkout_daily).await, 2.0 * 2_160_000.0);
    assert_eq!(app.count("energy_rollup_daily_rolled").await, 7);

    // And the API's daily series gives the hand-computed figures: 2 × 0.5 kWh measured.
    let day = today;
    let from = day.format(&Rfc3339).unwrap();
    let to = (day + Duration::days(1)).format(&Rfc3339).unwrap();
    let series = app
        .admin_get(&format!(
            "/api/v1/energy/series?team=payments&service=checkout&from={from}&to={to}&step=1d"
        ))
        .await;
    assert_eq!(series["series"]["resolution"], "daily");
    assert_figure(
        &series["series"]["points"][0]["figures"]["measured"],
        1.0,
        "checkout measured, rolled day",
    );
    assert_figure(
        &series["series"]["points"][0]["figures"]["estimated"],
        0.2,
        "checkout estimated, rolled day",
    );
    app.stop().await;
}

/// `SELECT <time>, <keys>, sum(energy_joules) FROM <rows>` per time and keys, zeros left out,
/// in order.
fn sums_sql(time: &str, keys: &str, rows: &str) -> String {
    let group = (1..=keys.split(',').count() + 1)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT {time}, {keys}, sum(energy_joules) FROM {rows}
         GROUP BY {group} HAVING sum(energy_joules) <> 0 ORDER BY {group}"
    )
}

/// A precomputed table's rows plus the pending increments (as readers add them), `time` being
/// the table's time column and `bucket` the pending rows' time expression.
fn with_pending(table: &str, time: &str, bucket: &str, keys: &str) -> String {
    format!(
        "(SELECT {time} AS t, {keys}, energy_joules FROM {table}
          UNION ALL
          SELECT {bucket}, {keys}, energy_joules FROM energy_rollup_pending) p"
    )
}

/// The precomputed totals (plus the pending increments) against the rollup views, summed the
/// same way: per day and owner, per hour and owner, and per hour and node.
async fn assert_totals_match_the_views(app: &TestApp, when: &str) {
    type Row = (
        OffsetDateTime,
        String,
        String,
        String,
        String,
        String,
        String,
        f64,
    );
    type NodeRow = (OffsetDateTime, String, String, String, String, f64);
    let owner = "cluster, kind, source, namespace, team, service";
    let node = "cluster, node, kind, source";
    let rows = |sql: String| async move {
        sqlx::query_as::<_, Row>(&sql)
            .fetch_all(&app.pool)
            .await
            .unwrap()
    };
    let daily = "date_trunc('day', bucket, 'UTC')";
    let views = rows(sums_sql("bucket", owner, "energy_rollup_daily")).await;
    assert!(!views.is_empty(), "{when}: no figures at all");
    let precomputed = rows(sums_sql(
        "t",
        owner,
        &with_pending("energy_service_daily", "day", daily, owner),
    ))
    .await;
    assert_eq!(precomputed, views, "{when}: daily totals per owner");
    let views = rows(sums_sql("bucket", owner, "energy_rollup_hourly")).await;
    let precomputed = rows(sums_sql(
        "t",
        owner,
        &with_pending("energy_service_hourly", "hour", "bucket", owner),
    ))
    .await;
    assert_eq!(precomputed, views, "{when}: hourly totals per owner");
    let node_rows = |sql: String| async move {
        sqlx::query_as::<_, NodeRow>(&sql)
            .fetch_all(&app.pool)
            .await
            .unwrap()
    };
    let views = node_rows(sums_sql("bucket", node, "energy_rollup_hourly")).await;
    let precomputed = node_rows(sums_sql(
        "t",
        node,
        &with_pending("energy_node_hourly", "hour", "bucket", node),
    ))
    .await;
    assert_eq!(precomputed, views, "{when}: hourly totals per node");
}

#[tokio::test]
async fn precomputed_totals_equal_the_rollup_views_through_compaction_a_daily_roll_and_a_late_batch(
) {
    let app = TestApp::spawn().await;
    let (_, token) = app.create_node_token("node-a").await;
    let (_, token_b) = app.create_node_token("node-b").await;
    let (now, today) = watermark_at_today(&app).await;
    let hour = hour_start(now);
    for (token, node) in [(&token, "node-a"), (&token_b, "node-b")] {
        let batch = known_batch(node, hour);
        assert_eq!(app.post_batch(token, &batch).await.0, StatusCode::CREATED);
    }
    // After ingest (the server's own compaction may have run or not: equal either way).
    assert_totals_match_the_views(&app, "after ingest").await;

    rollup::compact_pending(&app.pool).await.unwrap();
    assert_eq!(app.count("energy_rollup_pending").await, 0);
    assert!(app.count("energy_service_daily").await > 0);
    // Checkout's day, over both nodes, in one row per source.
    assert_eq!(
        sum(
            &app,
            "SELECT sum(energy_joules) FROM energy_service_daily WHERE service = 'checkout'"
        )
        .await,
        2.0 * 2_160_000.0
    );
    assert_totals_match_the_views(&app, "after compaction").await;

    // A second batch pending while the day is rolled.
    let more = known_batch("node-a", hour + Duration::minutes(2));
    assert_eq!(app.post_batch(&token, &more).await.0, StatusCode::CREATED);
    let report = rollup::roll_daily(&app.pool, now + Duration::days(2))
        .await
        .unwrap();
    assert!(report.rows > 0, "{report:?}");
    assert_totals_match_the_views(&app, "after the daily roll, one batch pending").await;
    rollup::compact_pending(&app.pool).await.unwrap();
    assert_totals_match_the_views(&app, "after the daily roll and compaction").await;

    // A late batch for the rolled day: daily increments in the rolled table, hourly ones
    // pending, then compacted into the totals.
    let late = known_batch("node-b", hour + Duration::minutes(4));
    assert_eq!(app.post_batch(&token_b, &late).await.0, StatusCode::CREATED);
    assert_totals_match_the_views(&app, "after a late batch").await;
    rollup::compact_pending(&app.pool).await.unwrap();
    assert_totals_match_the_views(&app, "after a late batch, compacted").await;
    assert_eq!(
        sum(
            &app,
            "SELECT sum(energy_joules) FROM energy_service_daily WHERE service = 'checkout'"
        )
        .await,
        4.0 * 2_160_000.0
    );

    // The overview's day reads these totals: checkout is 4 × 0.5 kWh measured.
    let day = today.date().to_string();
    let overview = app.admin_get("/api/v1/energy/overview?period=30d").await;
    let checkout = overview["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["service"] == "checkout")
        .unwrap_or_else(|| panic!("no checkout in {overview} ({day})"));
    assert_figure(
        &checkout["figures"]["measured"],
        2.0,
        "checkout measured, 30 days",
    );
    assert_eq!(overview["services_count"], 1);

    // The overview keeps what it computed until a batch changes it: one three hours late (the
    // hours before the current one are kept apart) and one of the current hour.
    let checkout_24h = |overview: serde_json::Value| {
        overview["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["service"] == "checkout")
            .unwrap()["figures"]["measured"]
            .clone()
    };
    let day_view = app.admin_get("/api/v1/energy/overview?period=24h").await;
    assert_figure(&checkout_24h(day_view), 2.0, "checkout, 24 h");
    let late = known_batch("node-a", hour - Duration::hours(3));
    assert_eq!(app.post_batch(&token, &late).await.0, StatusCode::CREATED);
    let day_view = app.admin_get("/api/v1/energy/overview?period=24h").await;
    assert_figure(
        &checkout_24h(day_view),
        2.5,
        "checkout, 24 h, after a late batch",
    );
    let current = known_batch("node-a", hour + Duration::minutes(6));
    assert_eq!(
        app.post_batch(&token, &current).await.0,
        StatusCode::CREATED
    );
    let day_view = app.admin_get("/api/v1/energy/overview?period=24h").await;
    assert_figure(
        &checkout_24h(day_view),
        3.0,
        "checkout, 24 h, after this hour's batch",
    );
    app.stop().await;
}
