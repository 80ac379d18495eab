//! Live grid intensity from Electricity Maps, against a local HTTP double answering with
//! payloads shaped like the API's recorded answers: CO2e uses the live value for hours that
//! have one and the yearly table for the others, and says so; a refused token and an
//! unreachable API are visible in the overview and fall back to the table.

use std::sync::Arc;

use app::api::energy::EnergyPeriod;
use canopy_server::energy::{
    carbon::CarbonSettings,
    grid::{ElectricityMapsSettings, LiveGrid},
    query::{EnergyQuery, Selection},
};
use reqwest::StatusCode;
use secrecy::SecretString;
use time::{Duration, OffsetDateTime};
use wiremock::{
    matchers::{header, method, path, query_param},
    Mock, MockServer, ResponseTemplate,
};

use crate::{hour_start, known_batch, support::TestApp};

const TOKEN: &str = "em-test-token-5f2a";
/// Germany in the built-in table (Ember 2023) and the live value the double answers.
const DE_TABLE_G_PER_KWH: f64 = 381.0;
const DE_LIVE_G_PER_KWH: f64 = 302.0;
const PUE: f64 = 1.2;

/// The answer of `GET /v3/carbon-intensity/latest?zone=DE`, as recorded from the API.
fn latest_payload(hour: OffsetDateTime) -> serde_json::Value {
    let datetime = format!(
        "{:04}-{:02}-{:02}T{:02}:00:00.000Z",
        hour.year(),
        u8::from(hour.month()),
        hour.day(),
        hour.hour()
    );
    serde_json::json!({
        "zone": "DE",
        "carbonIntensity": 302,
        "datetime": datetime,
        "updatedAt": "2026-11-29T10:47:42.139Z",
        "createdAt": "2026-11-26T10:50:39.851Z",
        "emissionFactorType": "lifecycle",
        "isEstimated": true,
        "estimationMethod": "TIME_SLICER_AVERAGE"
    })
}

/// Cluster `test` (the node tokens' cluster) in Germany.
fn german_carbon() -> CarbonSettings {
    let mut carbon = CarbonSettings::default();
    carbon.parse_clusters("test:region=DE", None).unwrap();
    carbon
}

fn live_grid(app: &TestApp, url: String, token: &str) -> Arc<LiveGrid> {
    Arc::new(LiveGrid::new(
        app.pool.clone(),
        ElectricityMapsSettings {
            token: SecretString::from(token.to_owned()),
            url,
        },
    ))
}

fn grams(kwh: f64, g_per_kwh: f64) -> f64 {
    kwh * PUE * g_per_kwh
}

fn assert_grams(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() < 1e-6,
        "{what}: {got} g, expected {want} g"
    );
}

#[tokio::test]
async fn hours_with_a_live_value_use_it_and_the_others_the_yearly_table() {
    let app = TestApp::spawn().await;
    let (_, token) = app.create_node_token("node-a").await;
    let live_hour = hour_start(OffsetDateTime::now_utc()) - Duration::hours(2);
    let table_hour = live_hour + Duration::hours(1);
    for at in [live_hour, table_hour] {
        let (status, body) = app.post_batch(&token, &known_batch("node-a", at)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v3/carbon-intensity/latest"))
        .and(query_param("zone", "DE"))
        .and(header("auth-token", TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(latest_payload(live_hour)))
        .expect(1)
        .mount(&api)
        .await;
    let live = live_grid(&app, api.uri(), TOKEN);
    let outcomes = live.refresh(&["DE".to_owned()]).await;
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].0, "DE");
    assert_eq!(outcomes[0].1.as_ref().ok(), Some(&302.0), "{outcomes:?}");
    let stored: (f64, bool, String) = sqlx::query_as(
        "SELECT grams_co2e_per_kwh, is_estimated, estimation_method FROM energy_grid_intensity
         WHERE zone = 'DE' AND hour = $1",
    )
    .bind(live_hour)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(stored, (302.0, true, "TIME_SLICER_AVERAGE".to_owned()));

    let query = EnergyQuery::new(app.pool.clone(), Arc::new(german_carbon()), 7)
        .with_live(Some(live.clone()));
    let series = query
        .series(
            &Selection::Service {
                team: "payments".to_owned(),
                service: "checkout".to_owned(),
            },
            live_hour,
            table_hour + Duration::hours(1),
            3_600,
        )
        .await
        .unwrap();
    // Live hour: 0.5 kWh × 1.2 × 302 = 181.2 g measured, 0.1 kWh → 36.24 g estimated.
    let live_point = &series.points[0].figures;
    assert_grams(live_point.measured.grams_co2e, 181.2, "live hour, measured");
    assert_grams(
        live_point.estimated.grams_co2e,
        36.24,
        "live hour, estimated",
    );
    assert_eq!(grams(0.5, DE_LIVE_G_PER_KWH), 181.2);
    // Next hour, no live value: the yearly table, 0.5 × 1.2 × 381 = 228.6 g.
    let table_point = &series.points[1].figures;
    assert_grams(
        table_point.measured.grams_co2e,
        228.6,
        "table hour, measured",
    );
    assert_eq!(grams(0.5, DE_TABLE_G_PER_KWH), 228.6);
    assert!((series.points[0].figures.measured.kwh - 0.5).abs() < 1e-9);
    assert_grams(series.total.measured.grams_co2e, 181.2 + 228.6, "total");

    // The overview gives the same per service and says which intensity was used.
    let overview = query
        .overview(EnergyPeriod::Day, OffsetDateTime::now_utc())
        .await
        .unwrap();
    let checkout = overview
        .services
        .iter()
        .find(|r| r.service == "checkout")
        .unwrap();
    assert_grams(
        checkout.figures.measured.grams_co2e,
        181.2 + 228.6,
        "overview checkout",
    );
    let test = overview
        .grid_intensity
        .iter()
        .find(|u| u.cluster == "cluster test")
        .unwrap();
    assert_eq!((test.zone.as_str(), test.live_hours), ("DE", 1));
    assert_eq!(test.period_hours, 24);
    assert_eq!(test.live_source, "live (Electricity Maps)");
    assert!(
        test.fallback_source
            .starts_with("381 gCO2e/kWh: DE yearly average (Ember"),
        "{test:?}"
    );
    assert!(test.status.starts_with("last fetch ok at "), "{test:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_refused_token_or_an_unreachable_api_falls_back_to_the_table_and_says_why() {
    let app = TestApp::spawn().await;
    let (_, token) = app.create_node_token("node-a").await;
    let hour = hour_start(OffsetDateTime::now_utc()) - Duration::hours(1);
    assert_eq!(
        app.post_batch(&token, &known_batch("node-a", hour)).await.0,
        StatusCode::CREATED
    );

    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v3/carbon-intensity/latest"))
        .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
            "message": "Invalid auth-token. Please make sure to provide a valid token."
        })))
        .mount(&api)
        .await;
    let refused = live_grid(&app, api.uri(), "revoked-token");
    let outcomes = refused.refresh(&["DE".to_owned()]).await;
    let error = outcomes[0].1.as_ref().unwrap_err().to_string();
    assert!(error.contains("refused the token (HTTP 401)"), "{error}");
    assert_eq!(app.count("energy_grid_intensity").await, 0);

    let query =
        EnergyQuery::new(app.pool.clone(), Arc::new(german_carbon()), 7).with_live(Some(refused));
    let overview = query
        .overview(EnergyPeriod::Day, OffsetDateTime::now_utc())
        .await
        .unwrap();
    let checkout = overview
        .services
        .iter()
        .find(|r| r.service == "checkout")
        .unwrap();
    assert_grams(checkout.figures.measured.grams_co2e, 228.6, "table only");
    let test = overview
        .grid_intensity
        .iter()
        .find(|u| u.cluster == "cluster test")
        .unwrap();
    assert_eq!(test.live_hours, 0);
    assert!(
        test.status
            .starts_with("last fetch failed: Electricity Maps refused the token (HTTP 401)"),
        "{test:?}"
    );

    // Nothing listens on the address: unreachable, said as such.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let unreachable = live_grid(&app, url.clone(), TOKEN);
    let error = unreachable.refresh(&["DE".to_owned()]).await[0]
        .1
        .as_ref()
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with(&format!("Electricity Maps is unreachable at {url}")),
        "{error}"
    );
    let query = EnergyQuery::new(app.pool.clone(), Arc::new(german_carbon()), 7)
        .with_live(Some(unreachable));
    let overview = query
        .overview(EnergyPeriod::Day, OffsetDateTime::now_utc())
        .await
        .unwrap();
    let test = overview
        .grid_intensity
        .iter()
        .find(|u| u.cluster == "cluster test")
        .unwrap();
    assert!(test.status.contains("unreachable"), "{test:?}");
    app.stop().await;
}
