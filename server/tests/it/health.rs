//! `/healthz` and `/readyz`, with the database up and down.

use crate::support::TestApp;

#[tokio::test]
async fn healthz_answers_while_the_process_lives() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("body"), "ok");
    app.stop().await;
}

#[tokio::test]
async fn readyz_is_503_when_the_database_is_down() {
    let app = TestApp::spawn().await;
    let ready = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("GET");
    assert_eq!(ready.status(), 200);

    app.take_database_down().await;
    let not_ready = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("GET");
    assert_eq!(not_ready.status(), 503);
    let body: serde_json::Value = not_ready.json().await.expect("json");
    assert_eq!(body["database"], "unreachable");

    // The process itself is still alive.
    let health = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("GET");
    assert_eq!(health.status(), 200);
    app.stop().await;
}
