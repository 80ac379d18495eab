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

#[tokio::test]
async fn daily_figures_are_exact_before_and_after_the_job_rolls_a_day() {
    let app = TestApp::spawn().await;
    let (_, token) = app.create_node_token("node-a").await;
    let now = OffsetDateTime::now_utc();
    let today = now.date().midnight().assume_utc();
    // Today is not rolled (the server's own job never rolls past yesterday, so it cannot race
    // with this test); the test rolls it by running the job as if two days had passed.
    sqlx::query("UPDATE energy_daily_watermark SET rolled_through = $1")
        .bind(today)
        .execute(&app.pool)
        .await
        .unwrap();
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
