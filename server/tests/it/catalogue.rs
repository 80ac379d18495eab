//! The services catalogue against real PostgreSQL: registered services, deploy rows, ingested
//! energy and a drift scan show up in the catalogue with the right state, figures and source
//! labels; search, filters, sorting and pagination totals are right; bad parameters are
//! refused naming the parameter.

use std::{collections::BTreeMap, time::Duration as StdDuration};

use app::api::catalogue::{CataloguePage, DeployState, PodsReady};
use canopy_protocol::{EnergySource, IngestBatch, IntervalSample, PodEnergy};
use reqwest::StatusCode;
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

use crate::support::{TestApp, TEST_API_TOKEN};

fn pod(namespace: &str, team: &str, service: &str, joules: f64) -> PodEnergy {
    PodEnergy {
        pod_uid: format!("uid-{service}"),
        namespace: Some(namespace.to_owned()),
        pod: Some(format!("{service}-1")),
        container: Some("main".to_owned()),
        container_id: None,
        labels: [
            ("canopy.dev/team".to_owned(), team.to_owned()),
            ("canopy.dev/service".to_owned(), service.to_owned()),
        ]
        .into_iter()
        .collect::<BTreeMap<_, _>>(),
        energy_joules: joules,
    }
}

fn interval(start: OffsetDateTime, source: EnergySource, pods: Vec<PodEnergy>) -> IntervalSample {
    IntervalSample {
        start,
        end: start + Duration::seconds(60),
        source,
        host_energy_joules: pods.iter().map(|p| p.energy_joules).sum(),
        idle_energy_joules: 0.0,
        system_energy_joules: 0.0,
        zones: vec![],
        pods,
    }
}

/// Ingests, through the API with a node token: checkout 0.5 kWh measured then 0.1 kWh
/// estimated, one minute each, ending a minute ago.
async fn ingest(app: &TestApp) {
    let response = app
        .client
        .post(app.url("/api/v1/energy/node-tokens"))
        .bearer_auth(TEST_API_TOKEN)
        .json(&json!({ "cluster": "test", "node": "node-1" }))
        .send()
        .await
        .expect("POST node token");
    assert_eq!(response.status(), StatusCode::CREATED);
    let token: Value = response.json().await.expect("json");
    let token = token["token"].as_str().expect("token").to_owned();
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("whole second");
    let start = now - Duration::seconds(180);
    let batch = IngestBatch::new(
        "node-1",
        vec![
            interval(
                start,
                EnergySource::Measured,
                vec![pod("payments-prod", "payments", "checkout", 1_800_000.0)],
            ),
            interval(
                start + Duration::seconds(60),
                EnergySource::Estimated,
                vec![pod("payments-prod", "payments", "checkout", 360_000.0)],
            ),
        ],
    );
    let response = app
        .client
        .post(app.url("/api/v1/ingest"))
        .bearer_auth(&token)
        .json(&batch)
        .send()
        .await
        .expect("POST ingest");
    let status = response.status();
    assert!(
        status.is_success(),
        "{status}: {}",
        response.text().await.unwrap_or_default()
    );
}

async fn register_directly(app: &TestApp, team: &str, services: &[String]) {
    let team_id: i64 = sqlx::query_scalar(
        "INSERT INTO teams (name) VALUES ($1) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
    )
    .bind(team)
    .fetch_one(&app.pool)
    .await
    .expect("team");
    for service in services {
        sqlx::query("INSERT INTO services (team_id, name) VALUES ($1, $2)")
            .bind(team_id)
            .bind(service)
            .execute(&app.pool)
            .await
            .expect("service");
    }
}

async fn service_id(app: &TestApp, team: &str, service: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT s.id FROM services s JOIN teams t ON t.id = s.team_id WHERE t.name = $1 AND s.name = $2",
    )
    .bind(team)
    .bind(service)
    .fetch_one(&app.pool)
    .await
    .expect("service id")
}

async fn deploy_row(
    app: &TestApp,
    service: i64,
    env: &str,
    revision: i64,
    status: &str,
    ago_secs: i64,
) {
    sqlx::query(
        "INSERT INTO deploys (service_id, environment, revision, spec, image, requested_by, status, started_at)
         VALUES ($1, $2, $3, '{}'::jsonb, 'ghcr.io/acme/x:1', 'test', $4, now() - make_interval(secs => $5))",
    )
    .bind(service)
    .bind(env)
    .bind(revision)
    .bind(status)
    .bind(ago_secs as f64)
    .execute(&app.pool)
    .await
    .expect("deploy row");
}

/// The catalogue through its server function, as the hydrated page asks for it.
async fn catalogue(app: &TestApp, params: &[(&str, &str)]) -> (StatusCode, Value) {
    let form: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (format!("raw[{k}]"), (*v).to_owned()))
        .collect();
    let response = app
        .client
        .post(app.url("/api/fn/load_catalogue"))
        .form(&form)
        .send()
        .await
        .expect("POST load_catalogue");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn page(app: &TestApp, params: &[(&str, &str)]) -> CataloguePage {
    let (status, body) = catalogue(app, params).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value(body).expect("a catalogue page")
}

/// Waits for the background refresh (every 5 s by default) until `check` holds.
async fn eventually(
    app: &TestApp,
    params: &[(&str, &str)],
    check: impl Fn(&CataloguePage) -> bool,
) -> CataloguePage {
    let mut last = page(app, params).await;
    for _ in 0..60 {
        if check(&last) {
            return last;
        }
        tokio::time::sleep(StdDuration::from_millis(250)).await;
        last = page(app, params).await;
    }
    panic!("the catalogue never showed it: {last:#?}");
}

fn names(page: &CataloguePage) -> Vec<String> {
    page.rows
        .iter()
        .map(|r| format!("{}/{}", r.team, r.service))
        .collect()
}

#[tokio::test]
async fn services_deploys_energy_and_drift_show_up_and_search_filters_and_pages_work() {
    let app = TestApp::spawn().await;
    // Registered through the form: the catalogue is refreshed before the answer.
    for name in ["checkout", "web"] {
        let response = app.submit_registration_without_js("payments", name).await;
        assert_eq!(response.status(), StatusCode::FOUND);
    }
    let first = page(&app, &[]).await;
    assert_eq!(names(&first), ["payments/checkout", "payments/web"]);

    let checkout = service_id(&app, "payments", "checkout").await;
    let web = service_id(&app, "payments", "web").await;
    deploy_row(&app, checkout, "dev", 1, "failed", 7200).await;
    deploy_row(&app, checkout, "dev", 2, "succeeded", 3600).await;
    deploy_row(&app, checkout, "prod", 1, "rolling_out", 180).await;
    deploy_row(&app, web, "staging", 1, "failed", 600).await;
    deploy_row(&app, web, "pr-7", 1, "succeeded", 60).await;
    sqlx::query(
        "INSERT INTO drift_scans (service_id, trigger, requested_by, state, source_path, finished_at, outdated)
         VALUES ($1, 'manual', 'test', 'done', '/src', now(), 7)",
    )
    .bind(checkout)
    .execute(&app.pool)
    .await
    .expect("drift scan");
    ingest(&app).await;

    let page_now = eventually(&app, &[("q", "CHECK")], |p| {
        p.rows
            .first()
            .is_some_and(|r| !r.energy_week_kwh.0.is_empty() && r.last_deploy.is_some())
    })
    .await;
    assert_eq!(names(&page_now), ["payments/checkout"]);
    let row = &page_now.rows[0];
    assert_eq!(
        row.states,
        [
            DeployState::Running,
            DeployState::NotDeployed,
            DeployState::RollingOut
        ],
        "the newest revision per environment"
    );
    // Energy this week and power now, per source, as ingested (0.5 + 0.1 kWh; 30 kW and
    // 6 kW over their minutes).
    let energy: Vec<(String, f64)> = row.energy_week_kwh.0.clone();
    assert_eq!(energy.len(), 2, "{energy:?}");
    assert_eq!(energy[0].0, "estimated");
    assert!((energy[0].1 - 0.1).abs() < 1e-9, "{energy:?}");
    assert_eq!(energy[1].0, "measured");
    assert!((energy[1].1 - 0.5).abs() < 1e-9, "{energy:?}");
    let power = row.power_watts.0.clone();
    assert_eq!(power.len(), 2, "{power:?}");
    assert!((power[0].1 - 6_000.0).abs() < 1e-6, "{power:?}");
    assert!((power[1].1 - 30_000.0).abs() < 1e-6, "{power:?}");
    assert_eq!(row.drift_outdated, Some(7));
    // No cluster in these tests: pods ready is unknown, not 0/0.
    assert_eq!(row.pods, None::<PodsReady>);
    let last = row.last_deploy.as_ref().expect("deployed");
    assert!((170..400).contains(&last.secs_ago), "{last:?}");

    // The page itself: badges, labelled figures, the relative time with the exact time.
    let (status, html) = app.get_html("/services?q=check").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("data-testid=\"catalogue\""), "{html}");
    assert!(
        html.contains("<span class=\"badge state-running\">running</span>"),
        "{html}"
    );
    assert!(
        html.contains("<span class=\"badge state-rolling_out\">rolling out</span>"),
        "{html}"
    );
    assert!(
        html.contains("<span class=\"badge state-not_deployed\">not deployed</span>"),
        "{html}"
    );
    assert!(
        html.contains("500 Wh <span class=\"source-label\">measured</span>"),
        "{html}"
    );
    assert!(
        html.contains("100 Wh <span class=\"source-label\">estimated</span>"),
        "{html}"
    );
    assert!(
        html.contains("30.0 kW <span class=\"source-label\">measured</span>"),
        "{html}"
    );
    assert!(
        html.contains(&format!("title=\"{}\" tabindex=\"0\"", last.exact)),
        "{html}"
    );
    assert!(html.contains(" ago</time>"), "{html}");
    assert!(
        html.contains("<a href=\"/teams/payments\">payments</a>"),
        "{html}"
    );

    // web: failed in staging; a preview is not a column but counts as its last deploy.
    let web_row = page(&app, &[("q", "web")]).await;
    assert_eq!(
        web_row.rows[0].states,
        [
            DeployState::NotDeployed,
            DeployState::Failed,
            DeployState::NotDeployed
        ]
    );
    assert!(web_row.rows[0]
        .last_deploy
        .as_ref()
        .is_some_and(|l| l.secs_ago < 180));
    assert_eq!(web_row.rows[0].drift_outdated, None, "never scanned");

    // Filters.
    assert_eq!(
        names(&page(&app, &[("state", "failed")]).await),
        ["payments/web"]
    );
    assert_eq!(
        names(&page(&app, &[("state", "running"), ("env", "dev")]).await),
        ["payments/checkout"]
    );
    assert_eq!(
        names(&page(&app, &[("env", "staging")]).await),
        ["payments/web"]
    );
    assert_eq!(
        names(&page(&app, &[("sort", "energy")]).await),
        ["payments/checkout", "payments/web"]
    );
    assert_eq!(
        names(&page(&app, &[("sort", "last_deploy")]).await),
        ["payments/web", "payments/checkout"]
    );

    // 120 more services in another team: pages of 50 and the totals.
    let many: Vec<String> = (0..120).map(|i| format!("svc-{i:03}")).collect();
    register_directly(&app, "search", &many).await;
    let all = eventually(&app, &[], |p| p.all_services == 122).await;
    assert_eq!((all.total, all.pages, all.rows.len()), (122, 3, 50));
    let team = page(&app, &[("team", "search"), ("page", "3")]).await;
    assert_eq!((team.total, team.pages, team.rows.len()), (120, 3, 20));
    assert_eq!(team.rows[0].service.as_str(), "svc-100");
    let search = page(&app, &[("q", "svc-0"), ("team", "search")]).await;
    assert_eq!((search.total, search.pages), (100, 2));
    let teams: Vec<String> = all.teams.iter().map(ToString::to_string).collect();
    assert_eq!(teams, ["payments", "search"]);

    let (status, html) = app.get_html("/services?team=search&page=2").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Page 2 of 3"), "{html}");
    assert!(
        html.contains("href=\"/services?team=search&amp;page=3\" rel=\"next\"")
            || html.contains("href=\"/services?team=search&page=3\" rel=\"next\""),
        "{html}"
    );
    assert_eq!(html.matches("data-testid=\"catalogue-row\"").count(), 50);
    app.stop().await;
}

#[tokio::test]
async fn bad_parameters_are_refused_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let (status, html) = app.get_html("/services?state=broken").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(
        html.contains("State (state): “broken” is not a state; use one of running, rolling_out, failed, not_deployed"),
        "{html}"
    );
    let (status, html) = app.get_html("/services?page=0").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(
        html.contains("Page (page): “0” is not a page number"),
        "{html}"
    );
    let (status, html) = app.get_html("/services?sort=colour").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("Sort column (sort)"), "{html}");
    let (status, body) = catalogue(&app, &[("env", "qa")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "environment");
    app.stop().await;
}
