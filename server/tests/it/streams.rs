//! Live streams are bounded per caller: past the cap the answer is 429 saying so, and a closed
//! stream gives its place back.

use std::time::Duration;

use canopy_server::http::streams::PER_CALLER;

use crate::support::TestApp;

async fn open(app: &TestApp, service: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/ui/live/alpha/{service}/dev")))
        .header("accept", "text/event-stream")
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn a_caller_gets_a_bounded_number_of_live_streams_and_closing_one_frees_a_place() {
    let app = TestApp::spawn().await;
    let mut streams = Vec::new();
    for i in 0..PER_CALLER {
        let response = open(&app, &format!("s{i}")).await;
        assert_eq!(response.status(), reqwest::StatusCode::OK, "stream {i}");
        streams.push(response);
    }
    let refused = open(&app, "one-more").await;
    assert_eq!(refused.status(), reqwest::StatusCode::TOO_MANY_REQUESTS);
    let text = refused.text().await.unwrap();
    assert!(
        text.contains(&format!("live streams open (at most {PER_CALLER})")),
        "{text}"
    );
    // Closing one gives its place back (the server notices the closed connection).
    drop(streams.pop());
    let mut reopened = None;
    for _ in 0..50 {
        let response = open(&app, "again").await;
        if response.status() == reqwest::StatusCode::OK {
            reopened = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        reopened.is_some(),
        "no place came back after a stream closed"
    );
    drop(streams);
    drop(reopened);
    app.stop().await;
}
