//! The energy pages as a person reads them: the team page's services side by side against
//! hand-computed figures, the custom period (valid, and each kind of invalid input named by its
//! field), 404 for an unknown team, and the sandbox's simulated feed.

use canopy_protocol::{EnergySource, IngestBatch};
use reqwest::StatusCode;
use time::{Duration, OffsetDateTime};

use super::{hour_start, pod, sample, support::TestApp};

const CART: &[(&str, &str)] = &[
    ("canopy.dev/team", "payments"),
    ("canopy.dev/service", "cart"),
];
const CHECKOUT: &[(&str, &str)] = &[
    ("canopy.dev/team", "payments"),
    ("canopy.dev/service", "checkout"),
];

/// Two hours ago on node-a: measured idle 0.2 kWh, checkout 0.5 kWh, cart 0.1 kWh, unlabelled
/// coredns 0.1 kWh; then estimated cart 0.1 kWh. A day earlier: measured checkout 0.25 kWh.
///
/// By hand (world grid 481 g/kWh, PUE 1.2):
/// - checkout 0.5 kWh = 288.6 g; cart 0.1 + 0.1 kWh = 57.7 g + 57.7 g; team 0.7 kWh.
/// - share of the team: checkout 0.5 / 0.7 = 71.4 %, cart 0.2 / 0.7 = 28.6 %.
/// - idle share: node-a's workload is 2.88 MJ (all sources), its idle 0.72 MJ; checkout gets
///   0.72 × 1.8 / 2.88 = 0.45 MJ of it: 0.45 / (1.8 + 0.45) = 20.0 %; cart 0.72 × 0.72 / 2.88 =
///   0.18 MJ: 0.18 / (0.72 + 0.18) = 20.0 %.
/// - trend: checkout 0.5 vs 0.25 kWh = +100.0 %; cart had nothing before; team 0.7 vs 0.25 =
///   +180.0 %.
async fn seed(app: &TestApp) -> OffsetDateTime {
    let (_, token) = app.create_node_token("node-a").await;
    let start = hour_start(OffsetDateTime::now_utc()) - Duration::hours(2);
    let now = IngestBatch::new(
        "node-a",
        vec![
            sample(
                start,
                EnergySource::Measured,
                720_000.0,
                0.0,
                vec![
                    pod("payments-prod", "checkout-1", CHECKOUT, 1_800_000.0),
                    pod("payments-prod", "cart-1", CART, 360_000.0),
                    pod("kube-system", "coredns-1", &[("app", "coredns")], 360_000.0),
                ],
            ),
            sample(
                start + Duration::seconds(60),
                EnergySource::Estimated,
                0.0,
                0.0,
                vec![pod("payments-prod", "cart-1", CART, 360_000.0)],
            ),
        ],
    );
    let before = IngestBatch::new(
        "node-a",
        vec![sample(
            start - Duration::hours(24),
            EnergySource::Measured,
            0.0,
            0.0,
            vec![pod("payments-prod", "checkout-1", CHECKOUT, 900_000.0)],
        )],
    );
    for batch in [now, before] {
        let (status, body) = app.post_batch(&token, &batch).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    start
}

/// The HTML of the table row of `service` on the team page.
fn row<'a>(html: &'a str, service: &str) -> &'a str {
    let marker = format!("data-service=\"{service}\"");
    let begin = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no row for {service} in:\n{html}"));
    let end = html[begin..].find("</tr>").unwrap() + begin;
    &html[begin..end]
}

fn day(t: OffsetDateTime) -> String {
    let d = t.date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

#[tokio::test]
async fn the_team_page_shows_its_services_side_by_side_with_hand_computed_figures() {
    let app = TestApp::spawn().await;
    seed(&app).await;
    // A registered service without energy is listed too.
    app.submit_registration_without_js("payments", "web").await;

    let (status, html) = app.get_html("/teams/payments?period=24h").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("data-testid=\"team-services\""), "{html}");

    let checkout = row(&html, "checkout");
    assert!(checkout.contains("500 Wh · 289 g CO2e"), "{checkout}");
    assert!(checkout.contains(">measured<"), "{checkout}");
    assert!(checkout.contains("71.4 %"), "{checkout}");
    assert!(
        checkout.contains("+100.0 % vs the previous period"),
        "{checkout}"
    );
    assert!(checkout.contains("20.0 %"), "idle share: {checkout}");
    assert!(checkout.contains("100 % measured"), "{checkout}");
    assert!(checkout.contains("<svg"), "sparkline: {checkout}");

    let cart = row(&html, "cart");
    assert!(cart.contains("100 Wh · 57.7 g CO2e"), "{cart}");
    assert!(cart.contains(">estimated<"), "{cart}");
    assert!(cart.contains("28.6 %"), "{cart}");
    assert!(cart.contains("no data in the previous period"), "{cart}");
    assert!(cart.contains("20.0 %"), "idle share: {cart}");
    assert!(cart.contains("50 % measured, 50 % estimated"), "{cart}");

    let web = row(&html, "web");
    assert!(web.contains(">0 Wh<") && web.contains("0.0 %"), "{web}");
    assert!(!web.contains("not registered"), "{web}");

    // Largest first.
    assert!(html.find("data-service=\"checkout\"") < html.find("data-service=\"cart\""));
    assert!(html.find("data-service=\"cart\"") < html.find("data-service=\"web\""));
    // The team's total: 0.6 kWh measured + 0.1 kWh estimated, +180 % on 0.25 kWh.
    assert!(html.contains("600 Wh · 346 g CO2e"), "{html}");
    assert!(html.contains("+180.0 % vs the previous period"), "{html}");

    // The teams list links to it.
    let (_, teams) = app.get_html("/teams").await;
    assert!(teams.contains("href=\"/teams/payments\""), "{teams}");
    app.stop().await;
}

/// The HTML of the overview from its "By service" heading to the next heading.
fn by_service(html: &str) -> &str {
    let begin = html
        .find(">By service</h2>")
        .unwrap_or_else(|| panic!("no By service in:\n{html}"));
    let end = html[begin + 1..]
        .find("<h2")
        .map_or(html.len(), |end| end + begin + 1);
    &html[begin..end]
}

#[tokio::test]
async fn one_figure_reads_the_same_on_the_service_page_the_team_page_and_the_overview() {
    let app = TestApp::spawn().await;
    let (_, token) = app.create_node_token("node-a").await;
    let start = hour_start(OffsetDateTime::now_utc()) - Duration::hours(2);
    // 3,598,200 J = 0.9995 kWh measured: three significant figures round it up across the unit
    // boundary, to 1.00 kWh. CO2e by hand: 0.9995 × 1.2 × 481 = 576.9 g, 577 g.
    let batch = IngestBatch::new(
        "node-a",
        vec![sample(
            start,
            EnergySource::Measured,
            0.0,
            0.0,
            vec![pod("payments-prod", "checkout-1", CHECKOUT, 3_598_200.0)],
        )],
    );
    let (status, body) = app.post_batch(&token, &batch).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.submit_registration_without_js("payments", "checkout")
        .await;
    let figure = "1.00 kWh · 577 g CO2e";

    let (status, service) = app
        .get_html("/services/payments/checkout/energy?env=dev&period=24h")
        .await;
    assert_eq!(status, StatusCode::OK);
    let card = &service[service
        .find("data-testid=\"service-energy\"")
        .unwrap_or_else(|| panic!("no energy card in:\n{service}"))..];
    assert!(card.contains(&format!("measured: {figure}")), "{card}");

    let (status, team) = app.get_html("/teams/payments?period=24h").await;
    assert_eq!(status, StatusCode::OK);
    let checkout = row(&team, "checkout");
    assert!(checkout.contains(figure), "{checkout}");

    let (status, overview) = app.get_html("/energy?period=24h").await;
    assert_eq!(status, StatusCode::OK);
    let services = by_service(&overview);
    assert!(services.contains(figure), "{services}");
    // One service: no "Top emitters" highlight repeating the row under "By service".
    assert!(
        !overview.contains("data-testid=\"top-emitters\""),
        "{overview}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_overview_highlights_the_top_emitters_and_lists_every_service_by_source() {
    let app = TestApp::spawn().await;
    seed(&app).await;
    let (status, html) = app.get_html("/energy?period=24h").await;
    assert_eq!(status, StatusCode::OK);
    // The total is the nodes' energy: 3.24 MJ measured (idle 0.72, pods 2.52) + 0.36 MJ
    // estimated = 1.0 kWh = 577.2 g. Checkout 288.6 g is 50.0 % of it, cart 115.4 g 20.0 %.
    let begin = html
        .find("data-testid=\"top-emitters\"")
        .unwrap_or_else(|| panic!("no top emitters in:\n{html}"));
    let top = &html[begin..begin + html[begin..].find("</ol>").unwrap()];
    assert!(top.contains(": 289 g CO2e, 50.0 % of the total"), "{top}");
    assert!(top.contains(": 115 g CO2e, 20.0 % of the total"), "{top}");
    assert!(top.find("checkout") < top.find("cart"), "{top}");
    // "By service" is the complete list, by source: each figure labelled, not the shares.
    let services = by_service(&html);
    assert!(services.contains("500 Wh · 289 g CO2e"), "{services}");
    assert!(services.contains("100 Wh · 57.7 g CO2e"), "{services}");
    assert!(services.contains(">estimated<"), "{services}");
    assert!(!services.contains("of the total"), "{services}");
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_team_is_a_404_that_says_so() {
    let app = TestApp::spawn().await;
    for path in ["/teams/nobody", "/teams/Not_A_Team"] {
        let (status, html) = app.get_html(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(html.contains("is unknown to Canopy"), "{path}: {html}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_team_without_energy_says_how_to_get_it() {
    let app = TestApp::spawn().await;
    app.submit_registration_without_js("search", "api").await;
    let (status, html) = app.get_html("/teams/search").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("data-testid=\"energy-empty\""), "{html}");
    assert!(html.contains("kubectl apply -k deploy/agent"), "{html}");
    assert!(
        html.contains("kind: DaemonSet"),
        "the manifest is on the page"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_custom_period_shows_those_days_and_compares_with_the_days_before() {
    let app = TestApp::spawn().await;
    let start = seed(&app).await;
    let one_day = day(start);

    // The overview: host energy that day 3.24 MJ + 0.36 MJ = 1.0 kWh, the day before 0.25 kWh.
    let (status, html) = app
        .get_html(&format!("/energy?from={one_day}&to={one_day}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(&format!("{one_day} to {one_day} (1 day, UTC)")),
        "{html}"
    );
    assert!(html.contains("+300.0 % vs the previous period"), "{html}");
    assert!(
        html.contains(&format!("value=\"{one_day}\"")),
        "the form keeps the days"
    );

    // The team page over the same day.
    let (_, html) = app
        .get_html(&format!("/teams/payments?from={one_day}&to={one_day}"))
        .await;
    let checkout = row(&html, "checkout");
    assert!(checkout.contains("500 Wh · 289 g CO2e"), "{checkout}");
    assert!(
        checkout.contains("+100.0 % vs the previous period"),
        "{checkout}"
    );

    // Two days earlier to the day before: only the earlier checkout sample.
    let earlier = day(start - Duration::days(2));
    let day_before = day(start - Duration::days(1));
    let (_, html) = app
        .get_html(&format!("/teams/payments?from={earlier}&to={day_before}"))
        .await;
    let checkout = row(&html, "checkout");
    assert!(checkout.contains("250 Wh · 144 g CO2e"), "{checkout}");
    app.stop().await;
}

#[tokio::test]
async fn invalid_custom_periods_are_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    seed(&app).await;
    let today = OffsetDateTime::now_utc();
    let ago = |days: i64| day(today - Duration::days(days));
    let tomorrow = day(today + Duration::days(1));
    let cases = [
        (
            format!("from={}&to={}", ago(1), ago(10)),
            format!("From: {} is after the last day {}", ago(1), ago(10)),
        ),
        (
            format!("from={}&to={tomorrow}", ago(1)),
            format!("To: {tomorrow} is in the future"),
        ),
        (
            format!("from={}&to={}", ago(450), ago(1)),
            "450 days from".to_owned(),
        ),
        (
            format!("from=01%2F11%2F2026&to={}", ago(1)),
            "From: &quot;01/11/2026&quot; is not a date; use YYYY-MM-DD".to_owned(),
        ),
        (format!("from={}&to=", ago(1)), "To: is missing".to_owned()),
    ];
    for (query, expected) in cases {
        for page in ["/energy", "/teams/payments"] {
            let (status, html) = app.get_html(&format!("{page}?{query}")).await;
            assert_eq!(status, StatusCode::OK, "{page}?{query}");
            assert!(
                html.contains("data-testid=\"period-error\""),
                "{page}?{query}: {html}"
            );
            let message = expected.replace("&quot;", "\"");
            assert!(
                html.contains(&expected) || html.contains(&message),
                "{page}?{query}: expected {expected:?} in {html}"
            );
            assert!(html.contains("aria-invalid=\"true\""), "{page}?{query}");
        }
    }
    let (_, html) = app
        .get_html(&format!("/energy?from={}&to={}", ago(450), ago(1)))
        .await;
    assert!(html.contains("a period can be at most 400 days"), "{html}");
    app.stop().await;
}

/// The sandbox's feed against the real control plane (`CANOPY_TEST_KUBECONFIG`) with an
/// in-process node simulator of its own: a pod labelled for a service, bound to the simulated
/// node and run by the simulator, gets simulated figures through the normal ingest path, the
/// team page shows them labelled simulated, and stopping the feed stops the rows and revokes
/// its node tokens.
#[tokio::test]
async fn the_sandbox_feed_gives_a_running_service_simulated_figures() {
    use canopy_sandbox::{client_from_kubeconfig, SimulatorConfig};
    use canopy_server::{
        config::EnergySettings,
        energy::EnergyState,
        sandbox::energy_feed::{EnergyFeed, SANDBOX_CLUSTER},
    };
    use k8s_openapi::api::core::v1::{Namespace, Pod};
    use kube::{
        api::{DeleteParams, PostParams},
        Api,
    };

    let Some(kubeconfig) = std::env::var_os("CANOPY_TEST_KUBECONFIG").filter(|p| !p.is_empty())
    else {
        panic!(
            "CANOPY_TEST_KUBECONFIG is not set: this test needs the local control plane \
             (scripts/kube-testenv.sh start DIR; export CANOPY_TEST_KUBECONFIG=DIR/kubeconfig)"
        );
    };
    let app = TestApp::spawn().await;
    let client = client_from_kubeconfig(std::path::Path::new(&kubeconfig))
        .await
        .unwrap();
    let simulator = canopy_sandbox::start(
        client.clone(),
        SimulatorConfig {
            node_prefix: "canopy-energy-sim".to_owned(),
            node_count: 1,
            ..SimulatorConfig::for_tests()
        },
    )
    .await
    .unwrap();
    let node = simulator.node_names()[0].clone();

    let team = format!("sim{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let namespace = format!("{team}-dev");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({"metadata": {"name": namespace}})).unwrap(),
        )
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web-1", "labels": {
            "canopy.dev/team": team, "canopy.dev/service": "web"}},
        "spec": {"nodeName": node, "containers": [{"name": "web", "image": "ghcr.io/acme/web:1.0.0",
            "resources": {"requests": {"cpu": "500m"}}}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();

    let energy = EnergyState::new(app.pool.clone(), EnergySettings::default());
    let feed = EnergyFeed::start(
        client.clone(),
        energy,
        vec![node.clone()],
        std::time::Duration::from_secs(1),
    )
    .await
    .unwrap();

    // Rows for the service, source simulated, within 60 s (the pod runs after ~0.5 s).
    let rows = |team: String| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_as::<_, (i64, f64, f64)>(
                "SELECT count(*), coalesce(sum(energy_joules), 0),
                        coalesce(sum(extract(epoch FROM end_at - start_at))::float8, 0)
                 FROM energy_pod_samples
                 WHERE team = $1 AND service = 'web' AND source = 'simulated'",
            )
            .bind(team)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let (count, joules, secs) = loop {
        let found = rows(team.clone()).await;
        if found.0 >= 3 || std::time::Instant::now() > deadline {
            break found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    assert!(count >= 3, "only {count} simulated rows for {team}/web");
    // 0.5 vCPU × (3.5 − 0.74) W × load (0.05..1): between 0.069 W and 1.38 W.
    let watts = joules / secs;
    assert!((0.069..=1.38).contains(&watts), "{watts} W");
    // The node idles at 4 vCPUs × 0.74 W = 2.96 W, recorded under the sandbox cluster.
    let (idle_joules, node_secs): (f64, f64) = sqlx::query_as(
        "SELECT sum(idle_energy_joules), sum(extract(epoch FROM end_at - start_at))::float8
         FROM energy_node_samples WHERE node = $1 AND cluster = $2 AND source = 'simulated'",
    )
    .bind(&node)
    .bind(SANDBOX_CLUSTER)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(
        (idle_joules / node_secs - 2.96).abs() < 1e-6,
        "{idle_joules} J over {node_secs} s"
    );

    let (status, html) = app.get_html(&format!("/teams/{team}")).await;
    assert_eq!(status, StatusCode::OK);
    let web = row(&html, "web");
    assert!(web.contains(">simulated<"), "{web}");
    assert!(web.contains("100 % simulated"), "{web}");

    feed.stop().await;
    let unrevoked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM energy_node_tokens WHERE cluster = $1 AND revoked_at IS NULL",
    )
    .bind(SANDBOX_CLUSTER)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(unrevoked, 0, "the feed's tokens are revoked when it stops");
    let after_stop = rows(team.clone()).await.0;
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    assert_eq!(rows(team.clone()).await.0, after_stop, "no rows after stop");

    namespaces
        .delete(&namespace, &DeleteParams::default())
        .await
        .unwrap();
    simulator.remove_nodes().await.unwrap();
    app.stop().await;
}
