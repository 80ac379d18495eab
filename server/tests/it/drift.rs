//! Dependency drift end to end: the real server, its own database, and a registry double
//! serving recorded answers. A service is pointed at the drift crate's `shop` fixture
//! checkout, scanned, and read back through the JSON API and the pages.

use std::time::Duration;

use app::api::{ServiceName, TeamName};
use canopy_server::services::ServiceRepository;
use serde_json::{json, Value};

use crate::support::{
    registry::{drift_settings, fixture_repo, RegistryDouble},
    TestApp,
};

const SERVICE: &str = "/api/v1/services/alpha/shop/dependencies";

async fn register(app: &TestApp, team: &str, service: &str) {
    ServiceRepository::new(app.pool.clone())
        .register(
            TeamName::parse(team).unwrap(),
            ServiceName::parse(service).unwrap(),
        )
        .await
        .unwrap();
}

async fn set_source(app: &TestApp, path: &str) -> (reqwest::StatusCode, Value) {
    let response = app
        .client
        .put(app.url(&format!("{SERVICE}/source")))
        .json(&json!({ "source_path": path }))
        .send()
        .await
        .unwrap();
    (
        response.status(),
        response.json().await.unwrap_or(Value::Null),
    )
}

/// Scan now, then wait until the scan is done (or failed) and return the service's drift.
async fn scan_and_wait(app: &TestApp) -> Value {
    let response = app
        .client
        .post(app.url(&format!("{SERVICE}/scan")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
    let queued: Value = response.json().await.unwrap();
    assert!(
        ["queued", "running"].contains(&queued["state"].as_str().unwrap()),
        "{queued}"
    );
    let id = queued["id"].as_i64().unwrap();
    for _ in 0..300 {
        let drift: Value = app
            .client
            .get(app.url(SERVICE))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let latest = &drift["latest"];
        if latest["id"].as_i64() == Some(id)
            && ["done", "failed"].contains(&latest["state"].as_str().unwrap())
        {
            return drift;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("scan {id} did not finish in 30 s");
}

fn row<'a>(drift: &'a Value, file: &str, name: &str) -> &'a Value {
    drift["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["file"] == file && r["name"] == name)
        .unwrap_or_else(|| panic!("{name} in {file}: {drift:#}"))
}

#[tokio::test]
async fn a_service_pointed_at_a_checkout_is_scanned_with_renovate_update_types_and_history() {
    let registry = RegistryDouble::start().await;
    let app = TestApp::spawn_with_drift(drift_settings(&registry)).await;
    register(&app, "alpha", "shop").await;
    register(&app, "beta", "quiet").await;

    let shop = fixture_repo("shop");
    let (status, source) = set_source(&app, shop.to_str().unwrap()).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{source}");
    assert_eq!(
        source,
        json!({ "kind": "path", "path": shop.to_str().unwrap() })
    );

    let drift = scan_and_wait(&app).await;
    assert_eq!(drift["latest"]["state"], "done", "{drift:#}");
    assert_eq!(drift["latest"]["trigger"], "manual");
    assert_eq!(drift["latest"]["requested_by"], "tester");
    // The same judgements as the drift crate's end-to-end test, now through the server.
    let serde = row(&drift, "Cargo.toml", "serde");
    assert_eq!(
        (&serde["current"], &serde["newest"], &serde["update_type"]),
        (&json!("1.0.190"), &json!("1.0.210"), &json!("patch"))
    );
    assert_eq!(serde["lockfile_only"], true);
    assert!(serde["libyears"].as_f64().unwrap() > 0.8);
    assert!(serde["line"].as_u64().unwrap() > 0);
    let tokio = row(&drift, "Cargo.toml", "tokio");
    assert_eq!(tokio["update_type"], "minor");
    assert_eq!(tokio["newest"], "1.40.0");
    let rand = row(&drift, "crates/api/Cargo.toml", "rand");
    assert_eq!(
        (
            &rand["update_type"],
            &rand["breaking"],
            &rand["newest_in_range"]
        ),
        (&json!("minor"), &json!(true), &json!("0.8.5"))
    );
    let requests = row(&drift, "ml/requirements.txt", "requests");
    assert_eq!(requests["update_type"], "minor");
    assert_eq!(requests["newest"], "2.32.3");
    let totals = &drift["last_done"]["totals"];
    assert!(totals["libyears"].as_f64().unwrap() > 3.0, "{totals}");
    assert_eq!(totals["unknown"], 0, "{drift:#}");
    assert!(totals["majors_behind"].as_u64().unwrap() >= 1);

    // A second scan: history keeps both; answers now come from the PostgreSQL cache.
    let cached: i64 = sqlx::query_scalar("SELECT count(*) FROM drift_http_cache")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(cached > 5, "registry answers are cached ({cached})");
    let requests_before = registry.server.received_requests().await.unwrap().len();
    let again = scan_and_wait(&app).await;
    assert_eq!(again["latest"]["state"], "done");
    let history = again["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert!(history.iter().all(|s| s["state"] == "done"));
    assert_ne!(history[0]["id"], history[1]["id"]);
    assert_eq!(
        registry.server.received_requests().await.unwrap().len(),
        requests_before,
        "a warm cache asks no registry"
    );

    // The org-wide summary ranks the scanned service; the filters apply.
    let org: Value = app
        .client
        .get(app.url("/api/v1/dependencies"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(org["services"].as_array().unwrap().len(), 1, "{org:#}");
    assert_eq!(org["services"][0]["service"], "shop");
    assert!(org["services"][0]["totals"]["libyears"].as_f64().unwrap() > 3.0);
    assert_eq!(org["trend"].as_array().unwrap().len(), 1, "one scan day");
    assert!(org["ecosystems"]
        .as_array()
        .unwrap()
        .contains(&json!("pypi")));
    let beta: Value = app
        .client
        .get(app.url("/api/v1/dependencies?team=beta&ecosystem=npm"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(beta["services"].as_array().unwrap().is_empty(), "{beta:#}");
    let bad = app
        .client
        .get(app.url("/api/v1/dependencies?ecosystem=cobol"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.unwrap().contains("ecosystem"));

    // The pages show the same (rendered on the server).
    let (status, html) = app.get_html("/dependencies").await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert!(html.contains("/services/alpha/shop/dependencies"), "{html}");
    assert!(html.contains("libyears"));
    let (status, html) = app
        .get_html("/services/alpha/shop/dependencies?update=major")
        .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert!(html.contains("data-testid=\"dependency-table\""), "{html}");
    assert!(!html.contains(">serde<"), "patch rows are filtered out");
    app.stop().await;
}

#[tokio::test]
async fn a_registry_that_is_down_leaves_its_dependencies_unknown_and_the_scan_completes() {
    let registry = RegistryDouble::start().await;
    let mut settings = drift_settings(&registry);
    // PyPI at a closed port.
    settings.pypi = url::Url::parse("http://127.0.0.1:9/pypi").unwrap();
    let app = TestApp::spawn_with_drift(settings).await;
    register(&app, "alpha", "shop").await;
    set_source(&app, fixture_repo("shop").to_str().unwrap()).await;

    let drift = scan_and_wait(&app).await;
    assert_eq!(drift["latest"]["state"], "done", "{drift:#}");
    let requests = row(&drift, "ml/requirements.txt", "requests");
    assert_eq!(requests["status"], "unknown");
    assert!(
        requests["reason"]
            .as_str()
            .unwrap()
            .contains("registry unreachable"),
        "{requests}"
    );
    assert_eq!(row(&drift, "Cargo.toml", "serde")["status"], "outdated");
    assert!(drift["last_done"]["totals"]["unknown"].as_u64().unwrap() >= 1);
    app.stop().await;
}

#[tokio::test]
async fn bad_source_paths_are_refused_naming_the_field_and_scans_need_a_source() {
    let app = TestApp::spawn().await;
    register(&app, "alpha", "shop").await;

    // No source yet: scan now is refused and says what to do.
    let response = app
        .client
        .post(app.url(&format!("{SERVICE}/scan")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::CONFLICT);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["field"], "source_path", "{body}");

    let file = fixture_repo("shop").join("Cargo.toml");
    for (path, says) in [
        ("relative/path", "not an absolute path"),
        ("/no/such/canopy/checkout", "cannot be read"),
        (file.to_str().unwrap(), "not a directory"),
        ("", "is required"),
    ] {
        let (status, body) = set_source(&app, path).await;
        assert_eq!(
            status,
            reqwest::StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {body}"
        );
        assert_eq!(body["field"], "source_path", "{body}");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("source_path") && message.contains(says),
            "{message}"
        );
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM drift_sources")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, 0, "nothing was stored");

    // A service that does not exist.
    let response = app
        .client
        .put(app.url("/api/v1/services/alpha/nope/dependencies/source"))
        .json(&json!({ "source_path": "/tmp" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::NOT_FOUND);

    // A viewer of the team may read but not set the source.
    let viewer = app
        .person("viewer", &[("alpha", app::api::auth::Role::Viewer)])
        .await;
    let response = viewer.get(app.url(SERVICE)).send().await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let response = viewer
        .put(app.url(&format!("{SERVICE}/source")))
        .json(&json!({ "source_path": "/tmp" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::FORBIDDEN);
    app.stop().await;
}

#[tokio::test]
async fn the_weekly_email_carries_the_teams_drift_as_the_dependencies_page_counts_it() {
    let registry = RegistryDouble::start().await;
    let app = TestApp::spawn_with_drift(drift_settings(&registry)).await;
    register(&app, "alpha", "shop").await;
    // Before any scan the e-mail has no drift line (nothing to say yet).
    let (_, before) = app.get_html("/teams/alpha/weekly-email/preview").await;
    assert!(!before.contains("libyears behind"), "{before}");

    let shop = fixture_repo("shop");
    set_source(&app, shop.to_str().unwrap()).await;
    let drift = scan_and_wait(&app).await;
    assert_eq!(drift["latest"]["state"], "done", "{drift:#}");
    let org: Value = app
        .client
        .get(app.url("/api/v1/dependencies?team=alpha"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let libyears = org["totals"]["libyears"].as_f64().unwrap();
    let majors = org["totals"]["majors_behind"].as_u64().unwrap();
    let (status, preview) = app.get_html("/teams/alpha/weekly-email/preview").await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let expected = format!(
        "Dependencies: {libyears:.1} libyears behind across 1 scanned service, {majors} major update"
    );
    assert!(preview.contains(&expected), "{expected} in {preview}");
    assert!(
        preview.contains("/dependencies?team=alpha") && preview.contains("Furthest behind: shop"),
        "{preview}"
    );
}

/// Every file of the drift crate's `name` fixture, as (path relative to it, contents).
fn fixture_files(name: &str) -> Vec<(String, String)> {
    let root = fixture_repo(name);
    let mut files = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if let Ok(contents) = std::fs::read_to_string(&path) {
                let relative = path
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                files.push((relative, contents));
            }
        }
    }
    files
}

#[tokio::test]
async fn a_linked_repository_is_read_from_github_scanned_after_a_push_and_files_are_read_once() {
    use canopy_github_double::{GithubDouble, RepoOptions};

    let registry = RegistryDouble::start().await;
    let github = GithubDouble::start().await.unwrap();
    github
        .add_repo("acme", "shop", RepoOptions::private_installed())
        .unwrap();
    let files = fixture_files("shop");
    for (path, contents) in &files {
        github
            .put_file("acme", "shop", "main", path, contents)
            .unwrap();
    }
    github
        .put_file("acme", "shop", "main", "README.md", "not a manifest")
        .unwrap();
    let app = TestApp::spawn_with_drift_and_github(
        drift_settings(&registry),
        crate::support::github_settings(&github),
    )
    .await;
    register(&app, "alpha", "shop").await;
    let linked = app
        .client
        .put(app.url("/api/v1/services/alpha/shop/dev/github"))
        .json(&json!({ "repo": "acme/shop", "branch": "main", "image_template": "ghcr.io/acme/shop:{sha}" }))
        .send()
        .await
        .unwrap();
    assert_eq!(linked.status(), reqwest::StatusCode::OK);
    let drift: Value = app
        .client
        .get(app.url(SERVICE))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        drift["source"],
        json!({ "kind": "github", "repository": "acme/shop", "branch": "main" })
    );

    // A push to the linked branch queues a scan (and a deploy, refused here: no cluster).
    let sha = "0123456789abcdef0123456789abcdef01234567";
    github.set_branch_head("acme", "shop", "main", sha).unwrap();
    let push = github.push_event("acme", "shop", "main", sha).unwrap();
    let answer = github
        .send_webhook(&app.url("/webhooks/github"), "push", &push)
        .await
        .unwrap();
    assert_eq!(answer.status, 202, "{}", answer.body);
    let mut done = Value::Null;
    for _ in 0..300 {
        let drift: Value = app
            .client
            .get(app.url(SERVICE))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if ["done", "failed"].contains(&drift["latest"]["state"].as_str().unwrap_or_default()) {
            done = drift;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(done["latest"]["state"], "done", "{done:#}");
    assert_eq!(done["latest"]["trigger"], "push");
    // The same judgements as from the checkout on disk.
    let serde = row(&done, "Cargo.toml", "serde");
    assert_eq!(
        (&serde["current"], &serde["newest"], &serde["update_type"]),
        (&json!("1.0.190"), &json!("1.0.210"), &json!("patch"))
    );
    assert_eq!(
        row(&done, "ml/requirements.txt", "requests")["newest"],
        "2.32.3"
    );

    // Only manifests were read, each once: a second scan reads the tree again, no file.
    let blob_reads = || {
        github
            .requests()
            .iter()
            .filter(|r| r.path.contains("/git/blobs/"))
            .count()
    };
    let first = blob_reads();
    // Manifests outside vendored or built directories; files with the same contents are one blob.
    let manifests: std::collections::BTreeSet<&String> = files
        .iter()
        .filter(|(path, _)| canopy_drift::manifest::kind_of(std::path::Path::new(path)).is_some())
        .filter(|(path, _)| {
            !path
                .split('/')
                .any(|part| canopy_drift::SKIPPED_DIRS.contains(&part))
        })
        .map(|(_, contents)| contents)
        .collect();
    assert_eq!(
        first,
        manifests.len(),
        "one request per manifest blob, none for README.md"
    );
    let again = scan_and_wait(&app).await;
    assert_eq!(again["latest"]["state"], "done");
    assert_eq!(
        blob_reads(),
        first,
        "unchanged files come from the blob cache"
    );
    app.stop().await;
}
