//! The REST API without a cluster: authentication, validation errors and the no-cluster answer.

use serde_json::json;

use crate::support::{TestApp, TEST_API_TOKEN};

fn spec() -> serde_json::Value {
    json!({
        "team": "payments",
        "name": "checkout",
        "environment": "dev",
        "image": "ghcr.io/acme/checkout:1.4.2",
        "port": 8080
    })
}

#[tokio::test]
async fn the_api_needs_the_bearer_token() {
    let app = TestApp::spawn().await;
    let missing = app
        .anonymous()
        .post(app.url("/api/v1/deploys"))
        .json(&json!({ "spec": spec() }))
        .send()
        .await
        .expect("POST");
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    let wrong = app
        .anonymous()
        .post(app.url("/api/v1/deploys"))
        .bearer_auth("not-the-token-at-all")
        .json(&json!({ "spec": spec() }))
        .send()
        .await
        .expect("POST");
    assert_eq!(wrong.status(), 401);
    let body: serde_json::Value = wrong.json().await.expect("json");
    assert_eq!(
        body["message"],
        "the bearer token is not valid (unknown, revoked or expired)"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_invalid_spec_lists_every_bad_field_and_records_nothing() {
    let app = TestApp::spawn().await;
    let mut bad = spec();
    bad["port"] = json!(0);
    bad["image"] = json!("nginx");
    bad["replicaz"] = json!(2);
    let response = app
        .client
        .post(app.url("/api/v1/deploys"))
        .bearer_auth(TEST_API_TOKEN)
        .json(&json!({ "spec": bad }))
        .send()
        .await
        .expect("POST");
    // Unknown fields are refused by the JSON body parser before validation.
    assert_eq!(response.status(), 422);
    let body: serde_json::Value = response.json().await.expect("json error");
    assert_eq!(body["error"], "invalid_body");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("unknown field `replicaz`"),
        "{body}"
    );

    bad.as_object_mut().map(|m| m.remove("replicaz"));
    let response = app
        .client
        .post(app.url("/api/v1/deploys"))
        .bearer_auth(TEST_API_TOKEN)
        .json(&json!({ "spec": bad }))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 422);
    let body: serde_json::Value = response.json().await.expect("json");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, vec!["image", "port"]);

    let deploys: i64 = sqlx::query_scalar("SELECT count(*) FROM deploys")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(deploys, 0);
    app.stop().await;
}

#[tokio::test]
async fn canopy_yaml_errors_name_the_unknown_field() {
    let app = TestApp::spawn().await;
    let yaml = "team: payments\nname: web\nenvironment: dev\nimage: nginx:1.27\nport: 80\nsize: M\nreplica: 2\n";
    let response = app
        .client
        .post(app.url("/api/v1/deploys"))
        .bearer_auth(TEST_API_TOKEN)
        .json(&json!({ "canopy_yaml": yaml }))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 422);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["errors"][0]["field"], "replica");
    app.stop().await;
}

#[tokio::test]
async fn without_a_cluster_deploys_answer_503_and_say_why() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/api/v1/deploys"))
        .bearer_auth(TEST_API_TOKEN)
        .json(&json!({ "spec": spec() }))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["kind"], "no_cluster");
    assert!(body["message"]
        .as_str()
        .unwrap_or_default()
        .contains("not connected to a Kubernetes cluster"));
    app.stop().await;
}

#[tokio::test]
async fn unknown_deploys_are_404() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/api/v1/deploys/424242"))
        .bearer_auth(TEST_API_TOKEN)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn a_query_string_that_does_not_fit_is_refused_in_json_on_the_energy_api_too() {
    let app = TestApp::spawn().await;
    for path in [
        "/api/v1/energy/series?team=a&team=b",
        "/api/v1/energy/overview?period=7d&period=24h",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(
            response.status(),
            reqwest::StatusCode::UNPROCESSABLE_ENTITY,
            "{path}"
        );
        assert_eq!(
            response.headers()["content-type"],
            "application/json",
            "{path}"
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_query", "{path}: {body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("duplicate field"),
            "{path}: {body}"
        );
    }
}
