//! GitHub-linked delivery against the GitHub double (`canopy-github-double`, strict about auth
//! like GitHub): linking checks the App's installation, the deploy button reads `canopy.yaml`,
//! webhooks are verified before anything is parsed and recorded once, and badges are served.
//! (Deploys against the control plane: server/tests/deploy/github.rs.)

use app::api::auth::Role;
use canopy_github_double::{GithubDouble, PullRequestEvent, RepoOptions, WebhookDelivery};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{github_settings, TestApp};

const SHA: &str = "3f786850e387550fdab836ed7e6dc881de23001b";
const OTHER_SHA: &str = "9a1b2c3d4e5f60718293a4b5c6d7e8f901234567";

const CANOPY_YAML: &str = "# Deploy with Canopy\nname: checkout\nimage: ghcr.io/acme/checkout:1.4.2\nport: 8080\nsize: S\nenv:\n  LOG_LEVEL: info\nsecrets: [DATABASE_PASSWORD]\n";

/// A double with `acme/checkout` (public, App installed, `canopy.yaml` on main) and
/// `acme/secret-app` (private, App not installed).
async fn github() -> GithubDouble {
    let github = GithubDouble::start().await.expect("double");
    github
        .add_repo("acme", "checkout", RepoOptions::default())
        .expect("repo");
    github
        .put_file("acme", "checkout", "main", "canopy.yaml", CANOPY_YAML)
        .expect("file");
    github
        .add_repo(
            "acme",
            "secret-app",
            RepoOptions {
                private: true,
                installed: false,
                ..RepoOptions::default()
            },
        )
        .expect("repo");
    github
}

async fn link(app: &TestApp, body: Value) -> reqwest::Response {
    app.client
        .put(app.url("/api/v1/services/payments/checkout/dev/github"))
        .json(&body)
        .send()
        .await
        .expect("PUT link")
}

async fn register(app: &TestApp) {
    let response = app
        .client
        .post(app.url("/api/fn/register_service"))
        .form(&[("team", "payments"), ("name", "checkout")])
        .send()
        .await
        .expect("register");
    assert!(response.status().is_success(), "{}", response.status());
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(&app.pool)
        .await
        .expect("count")
}

#[tokio::test]
async fn linking_checks_the_app_installation_and_says_what_to_do() {
    let github = github().await;
    let app = TestApp::spawn_with_github(github_settings(&github)).await;
    register(&app).await;

    let refused = link(
        &app,
        json!({ "repo": "acme/secret-app", "branch": "main", "image_template": "ghcr.io/acme/secret-app:{sha}" }),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let body: Value = refused.json().await.expect("json");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("not installed on acme/secret-app"),
        "{body}"
    );
    assert!(message.contains("install it"), "{body}");

    let bad = link(&app, json!({ "repo": "acme/checkout", "branch": "main", "image_template": "ghcr.io/acme/checkout:latest" })).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = bad.json().await.expect("json");
    assert_eq!(body["field"], "image_template", "{body}");

    let linked = link(&app, json!({ "repo": "acme/checkout", "branch": "main", "image_template": "ghcr.io/acme/checkout:{sha}" })).await;
    assert_eq!(linked.status(), StatusCode::OK);
    let body: Value = linked.json().await.expect("json");
    assert_eq!(body["repo"], "acme/checkout");
    let installation = github.installation_id("acme").expect("installation");
    assert_eq!(body["installation_id"], installation);

    // The App authenticated with its JWT for the installation lookup, as GitHub requires.
    let lookups: Vec<_> = github
        .requests()
        .into_iter()
        .filter(|r| r.path == "/repos/acme/checkout/installation")
        .collect();
    assert!(!lookups.is_empty());
    assert!(lookups.iter().all(|r| r.status == 200 || r.status == 404));

    // A viewer may not link.
    let viewer = app.person("vera", &[("payments", Role::Viewer)]).await;
    let response = viewer
        .put(app.url("/api/v1/services/payments/checkout/dev/github"))
        .json(&json!({ "repo": "acme/checkout", "branch": "main", "image_template": "x:{sha}" }))
        .send()
        .await
        .expect("PUT");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}

async fn deploy_button(app: &TestApp, client: &reqwest::Client, query: &[(&str, &str)]) -> Value {
    let response = client
        .post(app.url("/api/fn/load_deploy_button"))
        .form(query)
        .send()
        .await
        .expect("load_deploy_button");
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.expect("json")
}

#[tokio::test]
async fn the_deploy_button_prefills_the_form_or_says_exactly_what_is_wrong() {
    let github = github().await;
    github
        .put_file(
            "acme",
            "checkout",
            "broken",
            "canopy.yaml",
            "name: checkout\nimage: ghcr.io/acme/checkout:1.0.0\nport: 99999\n",
        )
        .expect("file");
    let app = TestApp::spawn_with_github(github_settings(&github)).await;
    let deployer = app
        .person(
            "dana",
            &[("payments", Role::Deployer), ("search", Role::Viewer)],
        )
        .await;

    let button = deploy_button(&app, &deployer, &[("repo", "acme/checkout")]).await;
    assert_eq!(button["problem"], Value::Null, "{button}");
    assert_eq!(button["git_ref"], "main");
    assert_eq!(button["teams"], json!(["payments"]));
    assert_eq!(button["form"]["name"], "checkout");
    assert_eq!(button["form"]["team"], "payments");
    assert_eq!(button["form"]["image"], "ghcr.io/acme/checkout:1.4.2");
    assert_eq!(button["form"]["env"], "LOG_LEVEL=info");
    assert_eq!(button["form"]["secrets"], "DATABASE_PASSWORD=");

    let broken = deploy_button(
        &app,
        &deployer,
        &[("repo", "acme/checkout"), ("git_ref", "broken")],
    )
    .await;
    assert_eq!(broken["problem"], Value::Null);
    let problems = broken["file_problems"].as_array().expect("problems");
    assert!(
        problems
            .iter()
            .any(|p| p["field"] == "port" && p["line"] == 3),
        "{broken}"
    );

    for (query, expected) in [
        (
            vec![("repo", "acme/nothing-here")],
            "acme/nothing-here does not exist on GitHub, or it is private",
        ),
        (
            vec![("repo", "acme/secret-app")],
            "private and the Canopy GitHub App is not installed on it",
        ),
        (
            vec![("repo", "acme/checkout"), ("path", "deploy/canopy.yaml")],
            "acme/checkout has no deploy/canopy.yaml at main",
        ),
    ] {
        let button = deploy_button(&app, &deployer, &query).await;
        let problem = button["problem"].as_str().unwrap_or_default();
        assert!(problem.contains(expected), "{query:?}: {button}");
        assert_eq!(button["form"], Value::Null);
    }

    let bad_name = deployer
        .post(app.url("/api/fn/load_deploy_button"))
        .form(&[("repo", "not a repo")])
        .send()
        .await
        .expect("POST");
    assert_eq!(bad_name.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = bad_name.json().await.expect("json");
    assert_eq!(body["field"], "repo");

    // A viewer sees the file but is told they may not deploy anywhere (the page says so).
    let viewer = app.person("vera", &[("payments", Role::Viewer)]).await;
    let button = deploy_button(&app, &viewer, &[("repo", "acme/checkout")]).await;
    assert_eq!(button["teams"], json!([]));

    // The installation token was minted once and reused.
    let installation = github.installation_id("acme").expect("installation");
    assert_eq!(github.tokens_issued(installation), 1);
    app.stop().await;
}

struct Hook<'a> {
    app: &'a TestApp,
}

impl Hook<'_> {
    fn url(&self) -> String {
        self.app.url("/webhooks/github")
    }

    async fn raw(&self, headers: &[(&str, String)], body: Vec<u8>) -> (StatusCode, Value) {
        let mut request = reqwest::Client::new()
            .post(self.url())
            .header("content-type", "application/json")
            .header("user-agent", "GitHub-Hookshot/abc1234");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.body(body).send().await.expect("POST");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn deliveries(&self) -> i64 {
        count(self.app, "SELECT count(*) FROM github_deliveries").await
    }
}

#[tokio::test]
async fn webhooks_are_verified_before_anything_is_parsed_and_recorded_once() {
    let github = github().await;
    let app = TestApp::spawn_with_github(github_settings(&github)).await;
    register(&app).await;
    let linked = link(&app, json!({ "repo": "acme/checkout", "branch": "main", "image_template": "ghcr.io/acme/checkout:{sha}" })).await;
    assert_eq!(linked.status(), StatusCode::OK);
    let hook = Hook { app: &app };
    let push = github
        .push_event("acme", "checkout", "feature/login", SHA)
        .expect("push payload");
    let body = serde_json::to_vec(&push).expect("body");
    let headers = |signature: String, delivery: &str| {
        vec![
            ("x-github-event", "push".to_owned()),
            ("x-github-delivery", delivery.to_owned()),
            ("x-hub-signature-256", signature),
        ]
    };

    // Missing, wrong, and over another body: 401, nothing stored.
    let (status, _) = hook
        .raw(
            &[
                ("x-github-event", "push".into()),
                ("x-github-delivery", "d-1".into()),
            ],
            body.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, answer) = hook
        .raw(
            &headers(format!("sha256={}", "0".repeat(64)), "d-1"),
            body.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        answer["result"]
            .as_str()
            .unwrap_or_default()
            .contains("does not match"),
        "{answer}"
    );
    let other_body = br#"{"zen":"Keep it logically awesome."}"#.to_vec();
    let (status, _) = hook
        .raw(&headers(github.sign(&other_body), "d-1"), body.clone())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Not even JSON: still refused on the signature, before any parsing.
    let (status, _) = hook
        .raw(&headers("sha256=00".into(), "d-1"), b"{not json".to_vec())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(hook.deliveries().await, 0);

    // Oversized: refused by size.
    let huge = vec![b' '; canopy_server::http::github::WEBHOOK_BODY_LIMIT + 1];
    let (status, _) = hook.raw(&headers(github.sign(&huge), "d-big"), huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(hook.deliveries().await, 0);

    // An event Canopy does not act on: answered, nothing stored.
    let issues = serde_json::to_vec(
        &json!({ "action": "opened", "repository": { "full_name": "acme/checkout" } }),
    )
    .expect("body");
    let (status, answer) = hook
        .raw(
            &[
                ("x-github-event", "issues".into()),
                ("x-github-delivery", "d-issues".into()),
                ("x-hub-signature-256", github.sign(&issues)),
            ],
            issues,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        answer["result"]
            .as_str()
            .unwrap_or_default()
            .starts_with("ignored"),
        "{answer}"
    );
    assert_eq!(hook.deliveries().await, 0);

    // A valid push to another branch: recorded, processed, nothing deployed.
    let (status, _) = hook
        .raw(&headers(github.sign(&body), "d-1"), body.clone())
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // GitHub redelivers the same delivery: nothing changes.
    let (status, answer) = hook
        .raw(&headers(github.sign(&body), "d-1"), body.clone())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(answer["result"]
        .as_str()
        .unwrap_or_default()
        .contains("already received"));
    assert_eq!(hook.deliveries().await, 1);
    let outcome = wait_for_outcome(&app, "d-1").await;
    assert_eq!(outcome.0, "ignored");
    assert!(
        outcome
            .1
            .contains("push to feature/login; checkout dev follows main"),
        "{outcome:?}"
    );
    assert_eq!(count(&app, "SELECT count(*) FROM deploys").await, 0);

    // A pull request from a fork is refused with a visible reason; nothing is deployed.
    let fork = github
        .pull_request_event(&PullRequestEvent {
            action: "opened",
            owner: "acme",
            repo: "checkout",
            number: 7,
            head_sha: OTHER_SHA,
            head_ref: "patch-1",
            from_fork: true,
        })
        .expect("pr payload");
    let response = github
        .deliver_webhook(WebhookDelivery {
            target_url: hook.url(),
            event: "pull_request".to_owned(),
            payload: fork,
            secret: None,
            delivery: Some("d-fork".to_owned()),
        })
        .await
        .expect("deliver");
    assert_eq!(response.status, 202, "{}", response.body);
    let outcome = wait_for_outcome(&app, "d-fork").await;
    assert_eq!(outcome.0, "ignored");
    assert!(outcome.1.contains("from a fork"), "{outcome:?}");
    assert_eq!(count(&app, "SELECT count(*) FROM deploys").await, 0);

    // The deliveries page lists them with what Canopy did.
    let (status, html) = app
        .get_html("/services/payments/checkout/github?env=dev")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("checkout dev follows main"), "{html}");
    assert!(html.contains("Process again"));
    app.stop().await;
}

/// Waits until the delivery worker finished `delivery`; its state and outcome.
pub async fn wait_for_outcome(app: &TestApp, delivery: &str) -> (String, String) {
    for _ in 0..100 {
        let row: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT state, outcome FROM github_deliveries WHERE delivery_id = $1")
                .bind(delivery)
                .fetch_optional(&app.pool)
                .await
                .expect("delivery");
        if let Some((state, outcome)) = row {
            if !matches!(state.as_str(), "pending" | "processing") {
                return (state, outcome.unwrap_or_default());
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("delivery {delivery} was not processed in 10 s");
}

#[tokio::test]
async fn badges_are_public_svg() {
    let github = github().await;
    let app = TestApp::spawn_with_github(github_settings(&github)).await;
    register(&app).await;
    let anonymous = app.anonymous();
    let response = anonymous
        .get(app.url("/badge/deploy.svg"))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "image/svg+xml; charset=utf-8"
    );
    assert!(response
        .text()
        .await
        .expect("svg")
        .contains("Deploy to: Canopy"));
    let response = anonymous
        .get(app.url("/badge/payments/checkout/prod.svg"))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response
        .text()
        .await
        .expect("svg")
        .contains("canopy prod: not deployed"));
    let response = anonymous
        .get(app.url("/badge/payments/nothing/prod.svg"))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}
