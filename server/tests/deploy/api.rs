//! The REST API's pods, events and logs endpoints: the real server (its own database, as in
//! `server/tests/it/`) connected to the real control plane with simulated pods. Needs
//! `DATABASE_URL` as well as `CANOPY_TEST_KUBECONFIG`.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use canopy_server::{
    config::{ClusterSettings, DatabaseSettings, Settings},
    startup::Application,
};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use crate::{
    app_support::{fresh_database, init_logs, openapi, TEST_API_TOKEN},
    support::{kubeconfig_path, simulator_logs, with_team, TestTeam, WAIT},
};

/// Canopy on port 0 with its own database, deploying to the test control plane.
struct ClusterApp {
    base: String,
    client: reqwest::Client,
    shutdown: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
}

impl ClusterApp {
    async fn spawn() -> Self {
        init_logs();
        simulator_logs();
        let (db_name, _) = fresh_database().await;
        let mut url = url::Url::parse(&std::env::var("DATABASE_URL").unwrap()).unwrap();
        url.set_path(&db_name);
        let settings = Settings {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            database: DatabaseSettings::External {
                url: SecretString::from(url.to_string()),
            },
            site_root: PathBuf::from("/nonexistent-canopy-site"),
            db_max_connections: 5,
            api_token: Some(SecretString::from(TEST_API_TOKEN.to_owned())),
        };
        let application = Application::build_with_cluster(
            settings,
            ClusterSettings::Kubeconfig(kubeconfig_path()),
        )
        .await
        .unwrap();
        let addr = application.local_addr().unwrap();
        let (shutdown, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = application
                .run_until(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Self {
            base: format!("http://{addr}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            shutdown,
            server,
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(TEST_API_TOKEN)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Shuts Canopy down and fails the test unless it stops (within the drain deadline).
    async fn stop(self) {
        let _ = self.shutdown.send(());
        let limit = canopy_server::startup::DRAIN_DEADLINE + Duration::from_secs(5);
        tokio::time::timeout(limit, self.server)
            .await
            .unwrap_or_else(|_| panic!("Canopy did not shut down within {limit:?}"))
            .unwrap();
    }
}

/// Polls the pods endpoint until every pod of the service is healthy.
async fn wait_for_running_pods(app: &ClusterApp, path: &str, count: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (status, body) = app.get(path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let pods = body["pods"].as_array().cloned().unwrap_or_default();
        if pods.len() == count && pods.iter().all(|p| p["status"] == "Running") {
            return pods;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "pods not running after {WAIT:?}: {body:#}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Fails the test unless `answer` validates against the REST API's document (docs/openapi.json)
/// for `GET pattern` answering `status`.
fn assert_documented(method: reqwest::Method, pattern: &str, status: StatusCode, answer: &Value) {
    let problems = openapi::mismatches(&openapi::document(), &method, pattern, status, answer);
    assert!(
        problems.is_empty(),
        "{method} {pattern} {status} disagrees with docs/openapi.json: {problems:#?}\n{answer:#}"
    );
}

/// Deploys `web` and checks the 202 record against the document.
async fn deploy_web(app: &ClusterApp, team: &TestTeam) -> Value {
    let response = app
        .client
        .post(format!("{}/api/v1/deploys", app.base))
        .bearer_auth(TEST_API_TOKEN)
        .json(&json!({ "spec": {
            "team": team.team, "name": "web", "environment": "dev",
            "image": "ghcr.io/acme/web:1.0.0", "port": 8080, "replicas": 1
        }}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let record: Value = response.json().await.unwrap();
    assert_documented(
        reqwest::Method::POST,
        "/api/v1/deploys",
        StatusCode::ACCEPTED,
        &record,
    );
    record
}

#[tokio::test]
async fn pods_events_and_logs_through_the_rest_api() {
    with_team("api-pods", |team| async move {
        let app = ClusterApp::spawn().await;
        let service = format!("/api/v1/services/{}/web/dev", team.team);

        let anonymous = app
            .client
            .get(format!("{}{service}/pods", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
        let (status, body) = app.get(&format!("{service}/pods")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "not deployed yet: {body}");
        assert_eq!(body["message"], "A deploy of web in dev was not found");

        assert_documented(
            reqwest::Method::GET,
            "/api/v1/services/{team}/{service}/{environment}/pods",
            status,
            &body,
        );

        let record = deploy_web(&app, &team).await;
        let pods = wait_for_running_pods(&app, &format!("{service}/pods"), 1).await;
        // The answers a CI job reads, as the document says: the deploy's record (polled until
        // it ends), the service's status and history, its pods.
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let (status, record) = app.get(&format!("/api/v1/deploys/{}", record["id"])).await;
            assert_documented(
                reqwest::Method::GET,
                "/api/v1/deploys/{id}",
                status,
                &record,
            );
            if record["status"] == "succeeded" {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{record:#}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let (status, overview) = app.get(&service).await;
        assert_documented(
            reqwest::Method::GET,
            "/api/v1/services/{team}/{service}/{environment}",
            status,
            &overview,
        );
        assert_eq!(
            overview["history"][0]["status"], "succeeded",
            "{overview:#}"
        );
        let (status, listed) = app.get(&format!("{service}/pods")).await;
        assert_documented(
            reqwest::Method::GET,
            "/api/v1/services/{team}/{service}/{environment}/pods",
            status,
            &listed,
        );
        let pod = pods[0]["name"].as_str().unwrap().to_owned();
        assert_eq!(pods[0]["phase"], "Running");
        assert_eq!(pods[0]["containers_ready"], 1);
        assert_eq!(pods[0]["revision"], 1);
        assert!(pods[0]["problem"].is_null());

        let (status, events) = app.get(&format!("{service}/events")).await;
        assert_eq!(status, StatusCode::OK);
        assert_documented(
            reqwest::Method::GET,
            "/api/v1/services/{team}/{service}/{environment}/events",
            status,
            &events,
        );
        let events = events["events"].as_array().unwrap();
        assert!(
            events
                .iter()
                .any(|e| e["reason"] == "Scheduled" && e["object"] == format!("Pod/{pod}")),
            "{events:#?}"
        );

        let logs = format!("{service}/pods/{pod}/logs");
        // Another test process's node simulator may answer for the node for a moment (as the
        // deploy tests' own log helper allows): ask again while it says it has no logs.
        let mut tries = 0;
        let (status, log) = loop {
            let (status, log) = app.get(&format!("{logs}?tail=100")).await;
            tries += 1;
            if status == StatusCode::NOT_FOUND
                && log.to_string().contains("no simulated logs")
                && tries < 20
            {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            break (status, log);
        };
        assert_eq!(status, StatusCode::OK, "{log}");
        assert_eq!(log["container"], "web");
        assert_documented(
            reqwest::Method::GET,
            "/api/v1/services/{team}/{service}/{environment}/pods/{pod}/logs",
            status,
            &log,
        );
        assert!(
            log["lines"][0]
                .as_str()
                .unwrap()
                .contains("starting web (image ghcr.io/acme/web:1.0.0)"),
            "{log:#}"
        );

        let (status, body) = app.get(&format!("{logs}?previous=true")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("it has not restarted"),
            "{body}"
        );
        let (status, body) = app.get(&format!("{logs}?tail=0")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["errors"][0]["field"], "tail");
        let (status, body) = app.get(&format!("{logs}?lines=3")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"], "invalid_query");
        let (status, _) = app
            .get(&format!("/api/v1/services/{}/web/qa/pods", team.team))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // A pod of another service in the same namespace is refused.
        let other = team.spec("api", |raw| raw.replicas = Some(1));
        team.apply(&team.render(&other, 1).await).await;
        let theirs = loop {
            let listed = team
                .api::<k8s_openapi::api::core::v1::Pod>()
                .list(&kube::api::ListParams::default().labels("canopy.dev/service=api"))
                .await
                .unwrap();
            if let Some(name) = listed.items.into_iter().find_map(|p| p.metadata.name) {
                break name;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let (status, body) = app.get(&format!("{service}/pods/{theirs}/logs")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(
            body["message"],
            format!("Pod {theirs} of service web was not found")
        );

        // Follow: the last line, then lines as they are written (one a second in tests). A
        // stream can end early when the simulator serving the node's log port belonged to a
        // test process that just ended (each test is a process with its own simulator for the
        // same nodes): then follow again, as the page does. One stream must deliver 3 lines.
        let mut text = String::new();
        for _attempt in 0..3 {
            let mut response = app
                .client
                .get(format!("{}{logs}?follow=true&tail=1", app.base))
                .bearer_auth(TEST_API_TOKEN)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            assert!(response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain"));
            text.clear();
            let read = tokio::time::timeout(WAIT, async {
                while text.lines().count() < 3 {
                    match response.chunk().await.unwrap() {
                        Some(chunk) => text.push_str(&String::from_utf8_lossy(&chunk)),
                        None => break,
                    }
                }
            })
            .await;
            assert!(read.is_ok(), "follow did not stream: {text:?}");
            if text.lines().count() >= 3 {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        assert!(text.lines().count() >= 3, "{text:?}");
        assert!(text.contains("GET /healthz 200 OK"), "{text:?}");

        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_preview_never_sends_secret_values_back_to_the_browser() {
    with_team("preview", |team| async move {
        let app = ClusterApp::spawn().await;
        let secret = "s3cret-value-not-to-be-echoed";
        let secrets = format!("API_KEY={secret}");
        let form = [
            ("form[team]", team.team.as_str()),
            ("form[name]", "web"),
            ("form[environment]", "dev"),
            ("form[image]", "ghcr.io/acme/web:1.0.0"),
            ("form[port]", "8080"),
            ("form[size]", "S"),
            ("form[scaling]", "fixed"),
            ("form[replicas]", "1"),
            ("form[min]", ""),
            ("form[max]", ""),
            ("form[target_cpu_percent]", ""),
            ("form[env]", ""),
            ("form[secrets]", secrets.as_str()),
            ("form[route_host]", ""),
            ("form[route_path]", ""),
            ("form[health_check]", ""),
        ];
        let response = app
            .client
            .post(format!("{}/api/fn/preview_deploy", app.base))
            .bearer_auth(TEST_API_TOKEN)
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        // The preview names the Secret object, and never the value.
        assert!(body.contains("Secret"), "{body}");
        assert!(!body.contains(secret), "the secret value came back: {body}");
        app.stop().await;
    })
    .await;
}

/// The services catalogue reads pods ready from its watch of Canopy's Deployments (no request
/// to the API server per row) and the deploy state from the deploy's record.
#[tokio::test]
async fn the_catalogue_shows_pods_ready_from_its_deployment_watch() {
    with_team("catalogue-pods", |team| async move {
        let app = ClusterApp::spawn().await;
        deploy_web(&app, &team).await;
        wait_for_running_pods(
            &app,
            &format!("/api/v1/services/{}/web/dev/pods", team.team),
            1,
        )
        .await;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let response = app
                .client
                .post(format!("{}/api/fn/load_catalogue", app.base))
                .bearer_auth(TEST_API_TOKEN)
                .form(&[("raw[team]", team.team.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let page: Value = response.json().await.unwrap();
            let row = &page["rows"][0];
            if row["pods"] == json!({ "ready": 1, "desired": 1 })
                && row["states"] == json!(["running", "not_deployed", "not_deployed"])
            {
                assert_eq!(row["service"], "web");
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the catalogue never showed 1/1 running: {page:#}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        app.stop().await;
    })
    .await;
}
