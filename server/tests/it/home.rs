//! The home page's judgements against a real database: which rollouts need attention, rising
//! energy, the feed's order, and the signed-in person's teams first; and the page at `/` as a
//! browser without JavaScript gets it. Each test writes its rows before its first request (the
//! page keeps the organisation-wide figures for a few seconds).

use app::api::{auth::Role, deploys::DeployStatus, home::Home};
use sqlx::PgPool;

use crate::support::TestApp;

/// A team's service (created if need be); returns the service's id.
async fn service(pool: &PgPool, team: &str, name: &str) -> i64 {
    let team_id: i64 = sqlx::query_scalar(
        "INSERT INTO teams (name) VALUES ($1)
         ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
    )
    .bind(team)
    .fetch_one(pool)
    .await
    .expect("team");
    sqlx::query_scalar("INSERT INTO services (team_id, name) VALUES ($1, $2) RETURNING id")
        .bind(team_id)
        .bind(name)
        .fetch_one(pool)
        .await
        .expect("service")
}

/// A deploy of `service_id` to `env` that started `mins_ago` minutes ago and (unless still in
/// progress) ended a minute later.
async fn deploy(
    pool: &PgPool,
    service_id: i64,
    env: &str,
    revision: i64,
    status: &str,
    reason: Option<&str>,
    mins_ago: i64,
) {
    sqlx::query(
        "INSERT INTO deploys (service_id, environment, revision, spec, image, requested_by,
                              status, failure_reason, started_at, finished_at)
         VALUES ($1, $2, $3, '{}'::jsonb, 'registry.example/app:1', 'ana', $4, $5,
                 now() - make_interval(mins => $6),
                 CASE WHEN $4 IN ('succeeded', 'failed')
                      THEN now() - make_interval(mins => $6) + interval '1 minute' END)",
    )
    .bind(service_id)
    .bind(env)
    .bind(revision)
    .bind(status)
    .bind(reason)
    .bind(i32::try_from(mins_ago).expect("minutes"))
    .execute(pool)
    .await
    .expect("deploy");
}

/// `kwh` of measured workload energy for a service on the day `days_ago` days before today,
/// stored as Canopy leaves it: before the roll-up watermark in the rolled daily table and in
/// the per-service daily totals (compaction filled those before the day was rolled), after it
/// as pending hourly rows.
async fn energy(pool: &PgPool, team: &str, service: &str, days_ago: i32, kwh: f64) {
    sqlx::query(
        "WITH day AS (SELECT date_trunc('day', now(), 'UTC') - make_interval(days => $3) AS b),
              rolled AS (
                  INSERT INTO energy_rollup_daily_rolled
                      (bucket, cluster, node, namespace, team, service, kind, source, energy_joules)
                  SELECT b, 'default', 'node-1', $1 || '-prod', $1, $2, 'workload', 'measured', $4
                  FROM day WHERE b < energy_daily_rolled_through()),
              totals AS (
                  INSERT INTO energy_service_daily AS t
                      (day, cluster, kind, source, namespace, team, service, energy_joules)
                  SELECT b, 'default', 'workload', 'measured', $1 || '-prod', $1, $2, $4
                  FROM day WHERE b < energy_daily_rolled_through()
                  ON CONFLICT (day, cluster, kind, source, namespace, team, service)
                  DO UPDATE SET energy_joules = t.energy_joules + EXCLUDED.energy_joules)
         INSERT INTO energy_rollup_pending
             (bucket, cluster, node, namespace, team, service, kind, source, energy_joules)
         SELECT b, 'default', 'node-1', $1 || '-prod', $1, $2, 'workload', 'measured', $4
         FROM day WHERE b >= energy_daily_rolled_through()",
    )
    .bind(team)
    .bind(service)
    .bind(days_ago)
    .bind(kwh * 3.6e6)
    .execute(pool)
    .await
    .expect("energy");
}

async fn load_home(client: &reqwest::Client, app: &TestApp) -> Home {
    let response = client
        .post(app.url("/api/fn/load_home"))
        .send()
        .await
        .expect("load_home");
    assert_eq!(response.status(), 200);
    response.json().await.expect("the home page's data")
}

fn services<'a>(items: impl Iterator<Item = &'a app::api::ServiceRef>) -> Vec<String> {
    items.map(ToString::to_string).collect()
}

#[tokio::test]
async fn a_failed_newest_deploy_shows_and_a_fixed_one_does_not() {
    let app = TestApp::spawn().await;
    let broken = service(&app.pool, "pay", "broken").await;
    let fixed = service(&app.pool, "pay", "fixed").await;
    let older = service(&app.pool, "pay", "older-failure").await;
    deploy(&app.pool, broken, "prod", 1, "succeeded", None, 60).await;
    deploy(
        &app.pool,
        broken,
        "prod",
        2,
        "failed",
        Some("The container keeps crashing: exit 1"),
        10,
    )
    .await;
    deploy(
        &app.pool,
        fixed,
        "prod",
        1,
        "failed",
        Some("Image not found"),
        30,
    )
    .await;
    deploy(&app.pool, fixed, "prod", 2, "succeeded", None, 20).await;
    // Failed in staging, fine in prod: staging still needs attention.
    deploy(
        &app.pool,
        older,
        "staging",
        1,
        "failed",
        Some("Image not found"),
        50,
    )
    .await;
    deploy(&app.pool, older, "prod", 1, "succeeded", None, 5).await;

    let home = load_home(&app.client, &app).await;
    assert!(home.my_teams.is_empty(), "the test admin is in no team");
    let failed = &home.elsewhere.failed;
    assert_eq!(
        services(failed.items.iter().map(|f| &f.service)),
        ["pay/broken in prod", "pay/older-failure in staging"],
        "newest failure first; the fixed service is not listed"
    );
    assert_eq!(failed.items[0].revision, 2);
    assert_eq!(
        failed.items[0].reason,
        "The container keeps crashing: exit 1"
    );
    assert!(
        (540..=560).contains(&failed.items[0].failed.secs_ago),
        "{:?}",
        failed.items[0].failed
    );

    let (status, html) = app.get_html("/").await;
    assert_eq!(status, 200);
    let attention = html
        .split("data-testid=\"home-attention\"")
        .nth(1)
        .and_then(|rest| rest.split("data-testid=\"home-energy\"").next())
        .expect("the attention section");
    assert!(
        attention.contains("href=\"/services/pay/broken?env=prod\""),
        "a link to where to act: {attention}"
    );
    assert!(!attention.contains("/services/pay/fixed?env=prod\""));
    app.stop().await;
}

#[tokio::test]
async fn a_rollout_past_its_progress_deadline_is_stuck() {
    let app = TestApp::spawn().await;
    let slow = service(&app.pool, "pay", "slow").await;
    let fresh = service(&app.pool, "pay", "fresh").await;
    deploy(&app.pool, slow, "prod", 1, "rolling_out", None, 10).await;
    // Started a minute ago: within the 180 s deadline.
    deploy(&app.pool, fresh, "prod", 1, "applying", None, 1).await;

    let home = load_home(&app.client, &app).await;
    let stuck = &home.elsewhere.stuck;
    assert_eq!(
        services(stuck.items.iter().map(|s| &s.service)),
        ["pay/slow in prod"]
    );
    assert_eq!(stuck.items[0].status, DeployStatus::RollingOut);
    assert!(home.elsewhere.failed.items.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn quota_refusals_are_named_per_team() {
    let app = TestApp::spawn().await;
    let big = service(&app.pool, "search", "big").await;
    deploy(
        &app.pool,
        big,
        "prod",
        1,
        "failed",
        Some("The team's quota is used up: Kubernetes refuses to start more pods in search-prod"),
        3,
    )
    .await;
    let home = load_home(&app.client, &app).await;
    let quota = &home.elsewhere.quota.items;
    assert_eq!(quota.len(), 1);
    assert_eq!(quota[0].team.as_str(), "search");
    assert_eq!(quota[0].latest.to_string(), "search/big in prod");
    app.stop().await;
}

#[tokio::test]
async fn rising_energy_shows_above_the_threshold_and_not_below() {
    let app = TestApp::spawn().await;
    // Last week 1 kWh a day; this week 1.5 (+50 %), 1.1 (+10 %), and a tiny service +400 %
    // but only a few Wh more.
    for (name, last, this) in [
        ("rising", 1.0, 1.5),
        ("steady", 1.0, 1.1),
        ("tiny", 0.0001, 0.0005),
    ] {
        service(&app.pool, "pay", name).await;
        for day in 8..=14 {
            energy(&app.pool, "pay", name, day, last).await;
        }
        for day in 1..=7 {
            energy(&app.pool, "pay", name, day, this).await;
        }
    }
    // Today's energy is not part of either week.
    energy(&app.pool, "pay", "steady", 0, 100.0).await;

    let home = load_home(&app.client, &app).await;
    let rising: Vec<&str> = home
        .elsewhere
        .rising
        .items
        .iter()
        .map(|r| r.service.as_str())
        .collect();
    assert_eq!(rising, ["rising"]);
    let item = &home.elsewhere.rising.items[0];
    assert!(
        (item.this_week.measured.kwh - 10.5).abs() < 1e-6,
        "{item:?}"
    );
    assert!((item.change_percent() - 50.0).abs() < 1e-6);
    assert!(item.this_week.measured.grams_co2e > 0.0, "CO2e is computed");
    // The organisation's week: 7 × (1.5 + 1.1 + 0.0005) against 7 × (1 + 1 + 0.0001).
    assert!((home.org_energy.this_week.measured.kwh - 7.0 * 2.6005).abs() < 1e-6);
    assert!((home.org_energy.last_week.measured.kwh - 7.0 * 2.0001).abs() < 1e-6);
    assert!(home.has_energy);

    let (_, html) = app.get_html("/").await;
    assert!(html.contains("data-testid=\"home-rising\""), "{html}");
    assert!(html.contains("used 50 % more energy this week"), "{html}");
    assert!(
        html.contains("href=\"/services/pay/rising?env=prod\""),
        "links to the environment where it used the most: {html}"
    );
    app.stop().await;
}

#[tokio::test]
async fn recent_deploys_are_newest_first_and_capped() {
    let app = TestApp::spawn().await;
    let web = service(&app.pool, "pay", "web").await;
    for revision in 1..=25 {
        // Revision 25 is the newest.
        deploy(
            &app.pool,
            web,
            "dev",
            revision,
            "succeeded",
            None,
            100 - revision,
        )
        .await;
    }
    let home = load_home(&app.client, &app).await;
    let revisions: Vec<i64> = home.activity.iter().map(|a| a.revision).collect();
    assert_eq!(revisions, (6..=25).rev().collect::<Vec<_>>());
    assert_eq!(home.activity[0].requested_by, "ana");
    assert!((74 * 60..=76 * 60).contains(&home.activity[0].started.secs_ago));

    let (_, html) = app.get_html("/").await;
    let feed = html
        .split("data-testid=\"home-activity\"")
        .nth(1)
        .expect("the feed");
    assert!(feed.contains("deployed revision 25"), "{feed}");
    assert!(feed.contains("<time datetime=\""), "{feed}");
    assert!(feed.contains("1 h 15 min ago"), "{feed}");
    app.stop().await;
}

#[tokio::test]
async fn a_member_sees_their_teams_first_and_a_token_the_organisation() {
    let app = TestApp::spawn().await;
    let mine = service(&app.pool, "pay", "checkout").await;
    let theirs = service(&app.pool, "search", "indexer").await;
    deploy(
        &app.pool,
        mine,
        "prod",
        1,
        "failed",
        Some("Image not found"),
        30,
    )
    .await;
    deploy(
        &app.pool,
        theirs,
        "prod",
        1,
        "failed",
        Some("Image not found"),
        5,
    )
    .await;
    for day in 1..=7 {
        energy(&app.pool, "pay", "checkout", day, 2.0).await;
        energy(&app.pool, "search", "indexer", day, 3.0).await;
    }

    let ana = app.person("ana", &[("pay", Role::Viewer)]).await;
    let home = load_home(&ana, &app).await;
    let teams: Vec<&str> = home.my_teams.iter().map(|t| t.team.as_str()).collect();
    assert_eq!(teams, ["pay"]);
    assert!((home.my_teams[0].energy.this_week.measured.kwh - 14.0).abs() < 1e-6);
    assert_eq!(
        services(home.mine.failed.items.iter().map(|f| &f.service)),
        ["pay/checkout in prod"]
    );
    assert_eq!(
        services(home.elsewhere.failed.items.iter().map(|f| &f.service)),
        ["search/indexer in prod"]
    );
    let (status, html) = {
        let response = ana
            .get(app.url("/"))
            .header("accept", "text/html")
            .send()
            .await
            .expect("GET /");
        (response.status(), response.text().await.expect("body"))
    };
    assert_eq!(status, 200);
    let mine_at = html.find("My teams (pay)").expect("a My teams section");
    let elsewhere_at = html
        .find("Elsewhere in the organisation")
        .expect("the rest");
    let checkout_at = html
        .find("/services/pay/checkout?env=prod")
        .expect("pay's item");
    let indexer_at = html
        .find("/services/search/indexer?env=prod")
        .expect("search's item");
    assert!(mine_at < checkout_at && checkout_at < elsewhere_at && elsewhere_at < indexer_at);

    // A token (even pay's own) sees the organisation as a whole, as does a person in no team.
    let created: serde_json::Value = app
        .client
        .post(app.url("/api/v1/tokens"))
        .json(&serde_json::json!({ "name": "ci", "scope": "read", "team": "pay" }))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token json");
    let token = created["token"].as_str().expect("token");
    let response = reqwest::Client::new()
        .post(app.url("/api/fn/load_home"))
        .bearer_auth(token)
        .send()
        .await
        .expect("load_home with a token");
    assert_eq!(response.status(), 200);
    let home: Home = response.json().await.expect("home");
    assert!(home.my_teams.is_empty());
    assert!(home.mine.is_empty());
    assert_eq!(home.elsewhere.failed.total(), 2);
    let home = load_home(&app.client, &app).await;
    assert!(home.my_teams.is_empty(), "the test admin is in no team");
    assert_eq!(home.elsewhere.failed.total(), 2);
    app.stop().await;
}

#[tokio::test]
async fn nothing_to_do_is_said_plainly() {
    let app = TestApp::spawn().await;
    let (status, html) = app.get_html("/").await;
    assert_eq!(status, 200);
    assert!(html.contains("data-testid=\"home-all-clear\""), "{html}");
    assert!(html.contains("Nothing needs attention here"), "{html}");
    assert!(html.contains("No deploys yet."), "{html}");
    assert!(html.contains("data-testid=\"home-energy-empty\""), "{html}");
    app.stop().await;
}
