//! Power now and the per-pod breakdown of a service, through the JSON API and on the page.

use canopy_protocol::{EnergySource, IngestBatch};
use reqwest::StatusCode;
use time::{Duration, OffsetDateTime};

use crate::{pod, sample, support::TestApp, CHECKOUT};

#[tokio::test]
async fn power_now_is_energy_over_covered_seconds_per_pod() {
    let app = TestApp::spawn().await;
    let (_, token) = app.create_node_token("node-a").await;
    let start = OffsetDateTime::now_utc() - Duration::seconds(130);
    // Two 60 s intervals: checkout-1 draws 600 J then 1,200 J (15 W on average), checkout-2 60 J
    // once (1 W), all measured.
    let batch = IngestBatch::new(
        "node-a",
        vec![
            sample(
                start,
                EnergySource::Measured,
                100.0,
                0.0,
                vec![
                    pod("payments-prod", "checkout-1", CHECKOUT, 600.0),
                    pod("payments-prod", "checkout-2", CHECKOUT, 60.0),
                ],
            ),
            sample(
                start + Duration::seconds(60),
                EnergySource::Measured,
                100.0,
                0.0,
                vec![pod("payments-prod", "checkout-1", CHECKOUT, 1_200.0)],
            ),
        ],
    );
    assert_eq!(app.post_batch(&token, &batch).await.0, StatusCode::CREATED);
    let answer = app
        .admin_get("/api/v1/energy/pods?team=payments&service=checkout")
        .await;
    let pods = answer["pods"].as_array().unwrap();
    assert_eq!(pods.len(), 2, "{answer}");
    assert_eq!(pods[0]["pod"], "checkout-1");
    assert!(
        (pods[0]["power_watts"].as_f64().unwrap() - 15.0).abs() < 1e-9,
        "{answer}"
    );
    assert!(
        (pods[1]["power_watts"].as_f64().unwrap() - 1.0).abs() < 1e-9,
        "{answer}"
    );
    assert_eq!(pods[0]["source"], "measured");

    // The service page's Energy tab writes them as every figure (app::format): 15 W and 1 W per pod, 16 W
    // for the service, to three significant figures.
    app.submit_registration_without_js("payments", "checkout")
        .await;
    let (status, html) = app
        .get_html("/services/payments/checkout/energy?env=dev")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<td>15.0 W</td>"), "{html}");
    assert!(html.contains("<td>1.00 W</td>"), "{html}");
    assert!(html.contains(": 16.0 W measured"), "{html}");
    app.stop().await;
}
