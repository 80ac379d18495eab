//! Team quotas over the REST API without a cluster: defaults, validation, storage, reset.

use serde_json::{json, Value};

use crate::support::{TestApp, TEST_API_TOKEN};

async fn call(app: &TestApp, method: reqwest::Method, body: Option<Value>) -> (u16, Value) {
    let mut request = app
        .client
        .request(method, app.url("/api/v1/teams/payments/quota"))
        .bearer_auth(TEST_API_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

#[tokio::test]
async fn a_team_quota_is_validated_stored_and_reset() {
    let app = TestApp::spawn().await;
    let (status, body) = call(&app, reqwest::Method::GET, None).await;
    assert_eq!(status, 200);
    assert_eq!(body["source"], "default");
    assert_eq!(body["quota"]["requests_cpu"], "8");
    assert_eq!(body["quota"]["requests_memory"], "16Gi");
    assert_eq!(body["quota"]["pods"], 100);

    // Every bad field is named with what is allowed, and nothing is stored.
    let (status, body) = call(
        &app,
        reqwest::Method::PUT,
        Some(json!({ "requests_cpu": "four", "limits_memory": "1.5Gi", "pods": 0 })),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    assert_eq!(fields, ["requests_cpu", "limits_memory", "pods"], "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("millicores (500m)"),
        "{body}"
    );
    let (_, body) = call(&app, reqwest::Method::GET, None).await;
    assert_eq!(body["source"], "default");

    // Unknown fields are refused, not ignored.
    let (status, body) = call(&app, reqwest::Method::PUT, Some(json!({ "cpu": "4" }))).await;
    assert_eq!(status, 422);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `cpu`"),
        "{body}"
    );

    // Limits below requests are refused.
    let (status, body) = call(
        &app,
        reqwest::Method::PUT,
        Some(json!({ "requests_cpu": "40" })),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["field"], "limits_cpu", "{body}");

    let (status, body) = call(
        &app,
        reqwest::Method::PUT,
        Some(json!({ "requests_cpu": "1500m", "pods": 20 })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["source"], "team");
    assert_eq!(body["quota"]["requests_cpu"], "1500m");
    assert_eq!(body["quota"]["limits_cpu"], "32");
    assert!(body["applied_to"].as_array().unwrap().is_empty());
    assert!(
        body["warnings"][0]
            .as_str()
            .unwrap()
            .contains("not connected to a cluster"),
        "{body}"
    );
    let (_, body) = call(&app, reqwest::Method::GET, None).await;
    assert_eq!(body["source"], "team");
    assert_eq!(body["quota"]["pods"], 20);

    let (status, body) = call(&app, reqwest::Method::DELETE, None).await;
    assert_eq!(status, 200);
    assert_eq!(body["source"], "default");
    assert_eq!(body["quota"]["requests_cpu"], "8");

    // A bad team name is named too; the API needs its token.
    let response = app
        .client
        .get(app.url("/api/v1/teams/Bad_Team/quota"))
        .bearer_auth(TEST_API_TOKEN)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 422);
    let response = app
        .anonymous()
        .get(app.url("/api/v1/teams/payments/quota"))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 401);
    app.stop().await;
}
