//! Shutting down with live streams open: the streams end when shutdown begins (not when the
//! drain deadline runs out), and Canopy stops.

use std::time::{Duration, Instant};

use crate::support::TestApp;

#[tokio::test]
async fn open_live_streams_end_at_shutdown_and_canopy_stops() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/ui/live/alpha/web/dev"))
        .header("accept", "text/event-stream")
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("the live stream opens");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let mut response = response;
    let reader = tokio::spawn(async move {
        while let Ok(Some(_)) = response.chunk().await {}
        Instant::now()
    });
    // The stream is open and idle (no rollout): nothing ends it but shutdown.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!reader.is_finished(), "the stream ended before shutdown");

    let asked = Instant::now();
    app.stop().await;
    let ended = reader.await.expect("reader");
    let after = ended.duration_since(asked);
    assert!(
        after < canopy_server::startup::DRAIN_DEADLINE,
        "the stream ended {after:?} after shutdown began: at the drain deadline, not with the shutdown"
    );
}
