//! The REST API's contract (docs/openapi.json, served at /api/v1/openapi.json): every `/api/v1`
//! route of the router's own table is in it and nothing else is; the committed file is what the
//! code generates (`CANOPY_UPDATE_OPENAPI=1` rewrites it); and real answers of the running
//! server validate against the schema the document gives for their route and status, with no
//! property the document does not name.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{
    openapi::{document, mismatches},
    TestApp, TEST_API_TOKEN,
};

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");

#[test]
fn every_api_route_is_in_the_document_and_nothing_else() {
    let routes: BTreeSet<(String, String)> = canopy_server::http::handler_routes()
        .into_iter()
        .filter(|entry| entry.path.starts_with("/api/v1/"))
        .map(|entry| (entry.method.as_str().to_lowercase(), entry.path))
        .collect();
    assert!(
        routes.len() >= 40,
        "the route table was read ({} /api/v1 routes)",
        routes.len()
    );
    let document = document();
    let mut described = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if ["get", "put", "post", "delete", "patch", "head", "options"]
                .contains(&method.as_str())
            {
                described.insert((method.clone(), path.clone()));
            }
        }
    }
    let missing: Vec<_> = routes.difference(&described).collect();
    let extra: Vec<_> = described.difference(&routes).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "routes the document does not describe (annotate the handler with #[utoipa::path] and \
         list it in its module's Doc): {missing:#?}\ndescribed routes that do not exist: {extra:#?}"
    );
}

#[test]
fn every_operation_says_what_it_answers_and_refusals_are_the_one_error_shape() {
    let document = document();
    assert_eq!(document["openapi"], "3.1.0");
    let error_ref = "#/components/schemas/ApiError";
    let mut wrong = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let responses = operation["responses"].as_object().expect("responses");
            if !responses.keys().any(|status| status.starts_with('2')) {
                wrong.push(format!("{method} {path}: no success answer"));
            }
            if operation["tags"].as_array().is_none_or(Vec::is_empty) {
                wrong.push(format!("{method} {path}: no tag"));
            }
            for (status, response) in responses {
                let json = &response["content"]["application/json"]["schema"]["$ref"];
                if status.starts_with('4') || status.starts_with('5') {
                    let text_only = response["content"].get("text/plain").is_some()
                        && response["content"].get("application/json").is_none();
                    if json != error_ref && !text_only {
                        wrong.push(format!("{method} {path} {status}: not an ApiError"));
                    }
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn the_committed_document_is_the_generated_one() {
    let generated = canopy_server::http::openapi::document_json();
    if std::env::var("CANOPY_UPDATE_OPENAPI").as_deref() == Ok("1") {
        std::fs::write(COMMITTED, &generated).expect("write docs/openapi.json");
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is stale: regenerate it with \
         `CANOPY_UPDATE_OPENAPI=1 cargo nextest run -p canopy-server --test it openapi` and commit it"
    );
}

/// One real request: its answer must have the expected status and validate.
struct Check<'a> {
    app: &'a TestApp,
    document: Value,
    checked: Vec<String>,
    wrong: Vec<String>,
}

impl Check<'_> {
    /// Sends the request with `client` and checks the answer against `pattern`'s description.
    async fn answer(
        &mut self,
        client: &reqwest::Client,
        method: Method,
        pattern: &str,
        path: &str,
        body: Option<Value>,
        expected: StatusCode,
    ) -> Value {
        let mut request = client.request(method.clone(), self.app.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status != expected {
            self.wrong.push(format!(
                "{method} {path}: expected {expected}, got {status}: {text}"
            ));
            return answer;
        }
        let errors = mismatches(&self.document, &method, pattern, status, &answer);
        if errors.is_empty() {
            self.checked.push(format!("{method} {pattern} {status}"));
        } else {
            self.wrong.push(format!(
                "{method} {path} {status} does not match the document: {errors:#?}\n{answer:#}"
            ));
        }
        answer
    }
}

#[tokio::test]
async fn the_served_document_is_the_committed_one_and_public() {
    let app = TestApp::spawn().await;
    let response = app
        .anonymous()
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let served = response.text().await.expect("body");
    assert_eq!(served, canopy_server::http::openapi::document_json());
    let served: Value = serde_json::from_str(&served).expect("JSON");
    assert_eq!(served["openapi"], "3.1.0");
    assert_eq!(
        served["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    app.stop().await;
}

#[tokio::test]
async fn real_answers_validate_against_the_document() {
    let app = TestApp::spawn().await;
    let admin = app.client.clone();
    let bootstrap = reqwest::Client::builder()
        .default_headers(
            [(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {TEST_API_TOKEN}").parse().expect("header"),
            )]
            .into_iter()
            .collect(),
        )
        .build()
        .expect("client");
    let mut check = Check {
        app: &app,
        document: document(),
        checked: Vec::new(),
        wrong: Vec::new(),
    };
    let ok = StatusCode::OK;

    // Identity: a team token for CI (as docs/API.md shows), listed, then revoked.
    check
        .answer(
            &admin,
            Method::PUT,
            "/api/v1/teams/{team}/members/{username}",
            &format!(
                "/api/v1/teams/payments/members/{}",
                crate::support::TEST_ADMIN
            ),
            Some(json!({ "role": "admin" })),
            ok,
        )
        .await;
    let created = check
        .answer(
            &admin,
            Method::POST,
            "/api/v1/tokens",
            "/api/v1/tokens",
            Some(json!({ "name": "ci", "scope": "deploy", "team": "payments", "expires_in_days": 30 })),
            StatusCode::CREATED,
        )
        .await;
    check
        .answer(
            &admin,
            Method::GET,
            "/api/v1/tokens",
            "/api/v1/tokens?team=payments",
            None,
            ok,
        )
        .await;
    let id = created["id"].as_i64().unwrap_or_default();
    check
        .answer(
            &admin,
            Method::DELETE,
            "/api/v1/tokens/{id}",
            &format!("/api/v1/tokens/{id}"),
            None,
            ok,
        )
        .await;
    check
        .answer(
            &admin,
            Method::POST,
            "/api/v1/invites",
            "/api/v1/invites",
            Some(json!({ "team": "payments", "role": "viewer" })),
            StatusCode::CREATED,
        )
        .await;
    check
        .answer(
            &admin,
            Method::GET,
            "/api/v1/audit",
            "/api/v1/audit",
            None,
            ok,
        )
        .await;

    // Deploys without a cluster: the refusals are the one error shape, with their fields.
    let spec = json!({ "team": "payments", "name": "checkout", "environment": "dev",
                       "image": "ghcr.io/acme/checkout:1.4.2", "port": 8080 });
    check
        .answer(
            &bootstrap,
            Method::POST,
            "/api/v1/deploys",
            "/api/v1/deploys",
            Some(json!({ "spec": spec })),
            StatusCode::SERVICE_UNAVAILABLE,
        )
        .await;
    let mut bad = spec.clone();
    bad["port"] = json!(0);
    bad["name"] = json!("Checkout");
    let refused = check
        .answer(
            &bootstrap,
            Method::POST,
            "/api/v1/deploys",
            "/api/v1/deploys",
            Some(json!({ "spec": bad })),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(refused["error"], "invalid_spec", "{refused}");
    assert_eq!(
        refused["errors"].as_array().map(Vec::len),
        Some(2),
        "{refused}"
    );
    check
        .answer(
            &app.anonymous(),
            Method::POST,
            "/api/v1/deploys",
            "/api/v1/deploys",
            Some(json!({ "spec": spec })),
            StatusCode::UNAUTHORIZED,
        )
        .await;
    check
        .answer(
            &bootstrap,
            Method::GET,
            "/api/v1/services/{team}/{service}/{environment}",
            "/api/v1/services/payments/checkout/qa",
            None,
            StatusCode::NOT_FOUND,
        )
        .await;

    // Quotas, drift, energy.
    check
        .answer(
            &bootstrap,
            Method::GET,
            "/api/v1/teams/{team}/quota",
            "/api/v1/teams/payments/quota",
            None,
            ok,
        )
        .await;
    check
        .answer(
            &bootstrap,
            Method::GET,
            "/api/v1/dependencies",
            "/api/v1/dependencies",
            None,
            ok,
        )
        .await;
    check
        .answer(
            &bootstrap,
            Method::POST,
            "/api/v1/energy/node-tokens",
            "/api/v1/energy/node-tokens",
            Some(json!({ "cluster": "lab", "node": "node-a" })),
            StatusCode::CREATED,
        )
        .await;
    check
        .answer(
            &bootstrap,
            Method::GET,
            "/api/v1/energy/node-tokens",
            "/api/v1/energy/node-tokens",
            None,
            ok,
        )
        .await;
    check
        .answer(
            &bootstrap,
            Method::GET,
            "/api/v1/energy/ingest-stats",
            "/api/v1/energy/ingest-stats",
            None,
            ok,
        )
        .await;
    for (pattern, path) in [
        (
            "/api/v1/energy/overview",
            "/api/v1/energy/overview?period=7d",
        ),
        (
            "/api/v1/energy/series",
            "/api/v1/energy/series?team=payments",
        ),
        (
            "/api/v1/energy/sci",
            "/api/v1/energy/sci?team=payments&service=checkout",
        ),
        (
            "/api/v1/energy/pods",
            "/api/v1/energy/pods?team=payments&service=checkout",
        ),
    ] {
        check
            .answer(&bootstrap, Method::GET, pattern, path, None, ok)
            .await;
    }
    check
        .answer(
            &bootstrap,
            Method::GET,
            "/api/v1/energy/series",
            "/api/v1/energy/series?step=1w",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;

    let Check { checked, wrong, .. } = check;
    assert!(
        wrong.is_empty(),
        "{} answers disagree with docs/openapi.json:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert!(checked.len() >= 20, "{checked:#?}");
    app.stop().await;
}
