//! SCI per request: request counts supplied through the API (validated, idempotent), and gCO2e
//! per request and per 1,000 requests computed from the hours they cover.

use reqwest::StatusCode;
use serde_json::{json, Value};
use time::{format_description::well_known::Rfc3339, Duration, OffsetDateTime};

use crate::{grams, hour_start, known_batch, support::TestApp, TEST_API_TOKEN};

impl TestApp {
    async fn post_request_count(&self, body: Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url("/api/v1/energy/request-counts"))
            .bearer_auth(TEST_API_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn register_checkout(&self) {
        sqlx::query(
            "WITH t AS (INSERT INTO teams (name) VALUES ('payments') RETURNING id)
             INSERT INTO services (team_id, name) SELECT id, 'checkout' FROM t",
        )
        .execute(&self.pool)
        .await
        .unwrap();
    }
}

fn rfc(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

#[tokio::test]
async fn sci_per_request_divides_the_covered_hours_co2e_by_the_requests() {
    let app = TestApp::spawn().await;
    app.register_checkout().await;
    let (_, token) = app.create_node_token("node-a").await;
    let start = hour_start(OffsetDateTime::now_utc()) - Duration::hours(3);
    // Checkout: 0.5 kWh measured + 0.1 kWh estimated in the hour starting at `start`, and the
    // same again two hours later (an hour the request counts do not cover).
    for at in [start, start + Duration::hours(2)] {
        let (status, body) = app.post_batch(&token, &known_batch("node-a", at)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let count = json!({
        "team": "payments", "service": "checkout",
        "from": rfc(start), "to": rfc(start + Duration::hours(1)), "requests": 2000,
    });
    let (status, body) = app.post_request_count(count.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["recorded"], "created");
    // Re-sending the interval (a retry, or a corrected count) replaces it: stored once.
    let mut corrected = count.clone();
    corrected["requests"] = json!(4000);
    let (status, body) = app.post_request_count(corrected).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["recorded"], "replaced");
    assert_eq!(app.count("energy_request_counts").await, 1);

    let sci = app
        .admin_get("/api/v1/energy/sci?team=payments&service=checkout&period=24h")
        .await;
    let per_request = &sci["per_request"];
    assert_eq!(per_request["requests"], 4000);
    assert_eq!(per_request["covered_secs"], 3600);
    // Covered hour: 0.5 kWh measured → 288.6 g; 0.1 kWh estimated → 57.72 g. Per 1,000 of
    // 4,000 requests: 72.15 g measured, 14.43 g estimated; per request 0.07215 g, 0.01443 g.
    let g = |v: &Value| v["grams_co2e"].as_f64().unwrap();
    let close = |got: f64, want: f64, what: &str| {
        assert!((got - want).abs() < 1e-9, "{what}: {got}, expected {want}")
    };
    close(
        g(&per_request["covered"]["measured"]),
        grams(0.5),
        "covered measured",
    );
    close(
        g(&per_request["per_thousand_requests"]["measured"]),
        grams(0.5) / 4.0,
        "per 1,000 requests, measured",
    );
    close(
        g(&per_request["per_thousand_requests"]["estimated"]),
        grams(0.1) / 4.0,
        "per 1,000 requests, estimated",
    );
    close(
        g(&per_request["per_request"]["measured"]),
        grams(0.5) / 4000.0,
        "per request, measured",
    );
    assert_eq!((grams(0.5) / 4.0 * 100.0).round() / 100.0, 72.15);
    assert!(sci["embodied"].as_str().unwrap().contains("not included"));

    // The service page shows the same figure per 1,000 requests, labelled by source.
    let (status, html) = app
        .get_html("/services/payments/checkout/energy?env=dev&period=24h")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("SCI per 1,000 requests (4000 requests in 1 h): "),
        "{html}"
    );
    assert!(
        html.contains("72.2 g CO2e") && html.contains("14.4 g CO2e"),
        "{html}"
    );
    // The period's operational total covers both hours: 1 kWh measured.
    close(
        sci["operational"]["measured"]["kwh"].as_f64().unwrap(),
        1.0,
        "operational measured kWh",
    );
    assert_eq!(sci["per_deploy"]["deploys"], 0);
    assert!(sci["per_deploy"]["figures"].is_null());
    app.stop().await;
}

#[tokio::test]
async fn bad_request_counts_name_the_field_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    app.register_checkout().await;
    let hour = hour_start(OffsetDateTime::now_utc()) - Duration::hours(4);
    let count = |from: OffsetDateTime, to: OffsetDateTime, requests: Value, service: &str| {
        json!({ "team": "payments", "service": service, "from": rfc(from), "to": rfc(to),
                "requests": requests })
    };
    let one_hour = hour + Duration::hours(1);
    let cases = [
        (
            count(hour, one_hour, json!(-1), "checkout"),
            "requests",
            "0 or more",
        ),
        (
            count(hour, one_hour, json!(10), "refunds"),
            "service",
            "no service \"refunds\"",
        ),
        (
            count(one_hour, hour, json!(10), "checkout"),
            "to",
            "after `from`",
        ),
        (
            count(hour + Duration::minutes(5), one_hour, json!(10), "checkout"),
            "from",
            "whole UTC hour",
        ),
        (
            count(hour, hour + Duration::hours(8), json!(10), "checkout"),
            "to",
            "current hour",
        ),
        (
            count(hour - Duration::days(40), hour, json!(10), "checkout"),
            "to",
            "31 days",
        ),
        (
            count(hour, one_hour, json!("many"), "checkout"),
            "body",
            "requests",
        ),
    ];
    for (body, field, message) in &cases {
        let (status, answer) = app.post_request_count(body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["field"], *field, "{answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(message),
            "{field}: {answer}"
        );
    }
    assert_eq!(app.count("energy_request_counts").await, 0);

    // An interval overlapping a stored one (but not the same) would count requests twice.
    let (status, _) = app
        .post_request_count(count(
            hour,
            hour + Duration::hours(2),
            json!(10),
            "checkout",
        ))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, answer) = app
        .post_request_count(count(
            one_hour,
            one_hour + Duration::hours(2),
            json!(10),
            "checkout",
        ))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("overlaps"),
        "{answer}"
    );
    assert_eq!(app.count("energy_request_counts").await, 1);

    // Signing in is required.
    let response = app
        .anonymous()
        .post(app.url("/api/v1/energy/request-counts"))
        .json(&count(hour, one_hour, json!(1), "checkout"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}
