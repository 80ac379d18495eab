//! Energy integration tests: the real server and Postgres; ingest → rollups → API and page
//! figures against hand-computed kWh and gCO2e, idempotency, refusals, retention, tokens.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod agent_identity;
mod grid;
mod idempotency;
mod overlap;
mod pages;
mod pods;
mod retention_and_tokens;
mod rollup;
mod sci;
mod weekly_email;
// The same harness as the main integration tests (real server, a database per test).
#[path = "../it/support/mod.rs"]
mod support;

use std::collections::BTreeMap;

use canopy_protocol::{EnergySource, IngestBatch, IntervalSample, PodEnergy};
use canopy_server::energy::partitions;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{TestApp, TEST_API_TOKEN};
use time::{format_description::well_known::Rfc3339, Duration, OffsetDateTime};

/// World average (Ember 2023) and the default PUE: what the test server uses.
const GRID_G_PER_KWH: f64 = 481.0;
const PUE: f64 = 1.2;

fn hour_start(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_minute(0)
        .unwrap()
        .replace_second(0)
        .unwrap()
        .replace_nanosecond(0)
        .unwrap()
}

fn pod(namespace: &str, name: &str, labels: &[(&str, &str)], energy_joules: f64) -> PodEnergy {
    PodEnergy {
        pod_uid: format!("uid-{name}"),
        namespace: Some(namespace.to_owned()),
        pod: Some(name.to_owned()),
        container: Some("main".to_owned()),
        container_id: None,
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
        energy_joules,
    }
}

const CHECKOUT: &[(&str, &str)] = &[
    ("canopy.dev/team", "payments"),
    ("canopy.dev/service", "checkout"),
];

/// One 60 s interval starting at `start`; host = idle + system + pods.
fn sample(
    start: OffsetDateTime,
    source: EnergySource,
    idle: f64,
    system: f64,
    pods: Vec<PodEnergy>,
) -> IntervalSample {
    let host = idle + system + pods.iter().map(|p| p.energy_joules).sum::<f64>();
    IntervalSample {
        start,
        end: start + Duration::seconds(60),
        source,
        host_energy_joules: host,
        idle_energy_joules: idle,
        system_energy_joules: system,
        zones: vec![],
        pods,
    }
}

/// The known batch: measured 0.5 kWh checkout + 0.1 kWh coredns + 0.2 kWh idle + 1/30 kWh
/// system, then estimated 0.1 kWh checkout.
fn known_batch(node: &str, start: OffsetDateTime) -> IngestBatch {
    IngestBatch::new(
        node,
        vec![
            sample(
                start,
                EnergySource::Measured,
                720_000.0,
                120_000.0,
                vec![
                    pod("payments-prod", "checkout-1", CHECKOUT, 1_800_000.0),
                    pod("kube-system", "coredns-1", &[("app", "coredns")], 360_000.0),
                ],
            ),
            sample(
                start + Duration::seconds(60),
                EnergySource::Estimated,
                0.0,
                0.0,
                vec![pod("payments-prod", "checkout-1", CHECKOUT, 360_000.0)],
            ),
        ],
    )
}

impl TestApp {
    async fn create_node_token(&self, node: &str) -> (i64, String) {
        let response = self
            .client
            .post(self.url("/api/v1/energy/node-tokens"))
            .bearer_auth(TEST_API_TOKEN)
            .json(&json!({ "cluster": "test", "node": node }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        (
            body["id"].as_i64().unwrap(),
            body["token"].as_str().unwrap().to_owned(),
        )
    }

    async fn post_raw(&self, token: &str, body: String) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url("/api/v1/ingest"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn post_batch(&self, token: &str, batch: &IngestBatch) -> (StatusCode, Value) {
        self.post_raw(token, serde_json::to_string(batch).unwrap())
            .await
    }

    async fn admin_get(&self, path: &str) -> Value {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(TEST_API_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.json().await.unwrap()
    }

    async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

fn grams(kwh: f64) -> f64 {
    kwh * PUE * GRID_G_PER_KWH
}

/// Asserts a figure to the gram (and kWh to the micro-kWh).
fn assert_figure(figure: &Value, kwh: f64, what: &str) {
    let got_kwh = figure["kwh"].as_f64().unwrap();
    let got_g = figure["grams_co2e"].as_f64().unwrap();
    assert!(
        (got_kwh - kwh).abs() < 1e-6,
        "{what}: {got_kwh} kWh, expected {kwh}"
    );
    assert_eq!(
        got_g.round(),
        grams(kwh).round(),
        "{what}: {got_g} g, expected {}",
        grams(kwh)
    );
}

#[tokio::test]
async fn ingested_batches_give_hand_computed_kwh_and_grams_in_the_api() {
    let app = TestApp::spawn().await;
    let (_, token) = app.create_node_token("node-a").await;
    let start = hour_start(OffsetDateTime::now_utc()) - Duration::hours(2);
    let (status, body) = app.post_batch(&token, &known_batch("node-a", start)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["pod_samples"], 3);

    let from = start.format(&Rfc3339).unwrap();
    let to = (start + Duration::hours(3)).format(&Rfc3339).unwrap();
    let series = app
        .admin_get(&format!(
            "/api/v1/energy/series?team=payments&service=checkout&from={from}&to={to}&step=1h"
        ))
        .await;
    let series = &series["series"];
    assert_eq!(series["resolution"], "hourly");
    assert_eq!(series["points"].as_array().unwrap().len(), 3);
    // 1,800,000 J = 0.5 kWh measured -> 0.5 × 1.2 × 481 = 288.6 g; 360,000 J = 0.1 kWh estimated.
    assert_figure(
        &series["points"][0]["figures"]["measured"],
        0.5,
        "checkout measured",
    );
    assert_figure(
        &series["points"][0]["figures"]["estimated"],
        0.1,
        "checkout estimated",
    );
    assert_figure(
        &series["points"][1]["figures"]["measured"],
        0.0,
        "empty hour",
    );
    assert_figure(&series["total"]["simulated"], 0.0, "nothing simulated");

    // Whole-day range reads the daily rollup with the same figures.
    let day = start.date().midnight().assume_utc();
    let daily = app
        .admin_get(&format!(
            "/api/v1/energy/series?team=payments&service=checkout&from={}&to={}&step=1d",
            day.format(&Rfc3339).unwrap(),
            (day + Duration::days(1)).format(&Rfc3339).unwrap()
        ))
        .await;
    assert_eq!(daily["series"]["resolution"], "daily");
    assert_figure(
        &daily["series"]["total"]["measured"],
        0.5,
        "daily checkout measured",
    );

    // Overview: host total measured = 3,000,000 J = 5/6 kWh -> 481.0 g; idle 0.2 kWh; the
    // unlabelled coredns pod is kept under its namespace.
    // Two deploys of checkout in the period: SCI per deploy = 0.6 kWh × 1.2 × 481 / 2 = 173.16 g.
    sqlx::query(
        "WITH t AS (INSERT INTO teams (name) VALUES ('payments') RETURNING id),
              s AS (INSERT INTO services (team_id, name) SELECT id, 'checkout' FROM t RETURNING id)
         INSERT INTO deploys (service_id, environment, revision, spec, image, requested_by, status)
         SELECT s.id, 'prod', r, '{}'::jsonb, 'img', 'test', 'succeeded' FROM s, generate_series(1, 2) r",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let overview = app.admin_get("/api/v1/energy/overview?period=24h").await;
    assert_eq!(overview["services"][0]["deploys"], 2);
    assert_eq!(overview["has_any_data"], true);
    assert_figure(
        &overview["total"]["measured"],
        3_000_000.0 / 3.6e6,
        "total measured",
    );
    assert_figure(&overview["total"]["estimated"], 0.1, "total estimated");
    assert_figure(&overview["idle"]["measured"], 0.2, "idle");
    assert_figure(&overview["system"]["measured"], 120_000.0 / 3.6e6, "system");
    assert_eq!(overview["services"][0]["service"], "checkout");
    assert_eq!(overview["teams"][0]["team"], "payments");
    assert_eq!(overview["namespaces"][0]["namespace"], "kube-system");
    assert_figure(
        &overview["namespaces"][0]["figures"]["measured"],
        0.1,
        "kube-system",
    );

    // The Energy page shows the same figures, labelled by source.
    let (status, html) = app.get_html("/energy?period=24h").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("checkout"), "page lists the service");
    assert!(
        html.contains("500 Wh · 289 g CO2e"),
        "page shows checkout's measured figure"
    );
    assert!(html.contains("measured") && html.contains("estimated"));
    assert!(html.contains("<svg"), "server-rendered chart");
    assert!(
        html.contains("SCI per deploy: 173 g CO2e (2 deploys"),
        "per-deploy figure"
    );
    // Which grid intensity was used, and that the live feed is off, is said on the page.
    assert!(
        html.contains("Live feed: live intensity not configured (CANOPY_ELECTRICITY_MAPS_TOKEN)."),
        "grid intensity source"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_resent_batch_is_stored_once() {
    let app = TestApp::spawn().await;
    let (_, token) = app.create_node_token("node-a").await;
    let batch = known_batch("node-a", hour_start(OffsetDateTime::now_utc()));
    assert_eq!(app.post_batch(&token, &batch).await.0, StatusCode::CREATED);
    let (status, body) = app.post_batch(&token, &batch).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "duplicate_batch");
    assert_eq!(app.count("energy_batches").await, 1);
    assert_eq!(app.count("energy_pod_samples").await, 3);
    let joules: f64 = sqlx::query_scalar(
        "SELECT sum(energy_joules) FROM energy_rollup_hourly WHERE service = 'checkout'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(joules, 2_160_000.0);
    let stats = app.admin_get("/api/v1/energy/ingest-stats").await;
    assert_eq!(stats["duplicate_batches"], 1);
    app.stop().await;
}

#[tokio::test]
async fn each_kind_of_bad_batch_is_refused_with_its_field_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let (_, token) = app.create_node_token("node-a").await;
    let now = hour_start(OffsetDateTime::now_utc());
    let good = || known_batch("node-a", now);
    let mut cases: Vec<(&str, String, &str, &str)> = Vec::new();

    let mut b = good();
    b.samples[0].pods[0].energy_joules = -1.0;
    cases.push((
        "negative_energy",
        serde_json::to_string(&b).unwrap(),
        "samples[0].pods[0].energy_joules",
        "is negative",
    ));
    let mut b = good();
    b.samples[1].end = b.samples[1].start - Duration::seconds(1);
    cases.push((
        "end_before_start",
        serde_json::to_string(&b).unwrap(),
        "samples[1]",
        "interval end is before its start",
    ));
    let mut b = serde_json::to_value(good()).unwrap();
    b["schema_version"] = json!(2);
    cases.push((
        "unknown_version",
        b.to_string(),
        "schema_version",
        "unknown schema_version 2",
    ));
    let mut b = good();
    b.samples[0].host_energy_joules = 1e9;
    b.samples[0].idle_energy_joules = 1e9 - 2_280_000.0;
    cases.push((
        "absurd",
        serde_json::to_string(&b).unwrap(),
        "samples[0].host_energy_joules",
        "over the bound",
    ));
    let mut b = good();
    b.samples[0].idle_energy_joules += 5_000.0;
    cases.push((
        "not_conserved",
        serde_json::to_string(&b).unwrap(),
        "samples[0]",
        "but host =",
    ));
    let b = known_batch("node-a", now - Duration::days(8));
    cases.push((
        "outside_retention",
        serde_json::to_string(&b).unwrap(),
        "samples[0].start",
        "older than the raw retention",
    ));
    let b = known_batch("node-a", now + Duration::hours(3));
    cases.push((
        "absurd",
        serde_json::to_string(&b).unwrap(),
        "samples[0].end",
        "in the future",
    ));
    cases.push((
        "malformed",
        "{\"schema_version\":1,\"node\":".to_owned(),
        "body",
        "not a JSON batch",
    ));

    for (kind, body, field, message) in &cases {
        let (status, answer) = app.post_raw(&token, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{kind}: {answer}");
        assert_eq!(answer["error"], *kind, "{answer}");
        assert_eq!(answer["field"], *field, "{answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(message),
            "{kind}: {answer}"
        );
    }
    for table in [
        "energy_batches",
        "energy_node_samples",
        "energy_pod_samples",
        "energy_rollup_hourly",
        "energy_rollup_daily",
    ] {
        assert_eq!(app.count(table).await, 0, "{table} must stay empty");
    }
    let stats = app.admin_get("/api/v1/energy/ingest-stats").await;
    assert_eq!(stats["refused"]["absurd"], 2);
    assert_eq!(stats["refused"]["negative_energy"], 1);
    assert_eq!(stats["refused"]["malformed"], 1);
    assert_eq!(stats["stored_batches"], 0);
    app.stop().await;
}

#[tokio::test]
async fn the_energy_page_explains_how_to_install_the_agent_when_empty() {
    let app = TestApp::spawn().await;
    let (status, html) = app.get_html("/energy").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("deploy/agent"),
        "empty state links the DaemonSet manifest"
    );
    app.stop().await;
}

/// Node names are unique within a cluster only: a name in two clusters is refused without
/// `cluster=` (their figures would be merged), and each cluster's series is its own.
#[tokio::test]
async fn the_same_node_name_in_two_clusters_is_never_merged() {
    let app = TestApp::spawn().await;
    let mut tokens = Vec::new();
    for cluster in ["eu-west", "us-east"] {
        let response = app
            .client
            .post(app.url("/api/v1/energy/node-tokens"))
            .bearer_auth(TEST_API_TOKEN)
            .json(&json!({ "cluster": cluster, "node": "worker-1" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        tokens.push(body["token"].as_str().unwrap().to_owned());
    }
    let start = hour_start(OffsetDateTime::now_utc()) - Duration::hours(2);
    // 0.2 kWh of idle energy in eu-west, 0.4 kWh in us-east.
    for (token, idle) in tokens.iter().zip([720_000.0, 1_440_000.0]) {
        let batch = IngestBatch::new(
            "worker-1",
            vec![sample(start, EnergySource::Measured, idle, 0.0, vec![])],
        );
        let (status, body) = app.post_batch(token, &batch).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let range = format!(
        "from={}&to={}&step=1h",
        start.format(&Rfc3339).unwrap(),
        (start + Duration::hours(3)).format(&Rfc3339).unwrap()
    );
    let get = |query: String| {
        let app = &app;
        async move {
            let response = app
                .client
                .get(app.url(&format!("/api/v1/energy/series?{query}")))
                .bearer_auth(TEST_API_TOKEN)
                .send()
                .await
                .unwrap();
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, body) = get(format!("node=worker-1&{range}")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "cluster");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("eu-west, us-east"),
        "{body}"
    );
    for (cluster, kwh) in [("eu-west", 0.2), ("us-east", 0.4)] {
        let (status, body) = get(format!("node=worker-1&cluster={cluster}&{range}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let total: f64 = body["series"]["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["figures"]["measured"]["kwh"].as_f64().unwrap_or(0.0))
            .sum();
        assert!(
            (total - kwh).abs() < 1e-9,
            "{cluster}: {total} kWh, expected {kwh}: {body}"
        );
    }
    let (status, body) = get(format!("cluster=eu-west&{range}")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    app.stop().await;
}
