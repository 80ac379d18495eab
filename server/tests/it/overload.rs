//! Honest failure: a page or an API call whose data could not be loaded answers 503 with
//! `Retry-After`, and says whether Canopy is busy (every pooled connection in use; the database
//! is fine) or cannot reach its database. Never a 200 carrying an error message.

use std::time::Duration;

use reqwest::{header, StatusCode};
use sqlx::Executor;

use crate::support::{TestApp, TEST_API_TOKEN};

const BUSY: &str = "Canopy is busy right now";
const UNREACHABLE: &str = "Canopy cannot reach its database right now";

/// A page, asked for as a browser does, with the bootstrap API token (no session to read, so
/// the page's own data is the first thing that needs the database).
async fn page_with_token(app: &TestApp, path: &str) -> reqwest::Response {
    app.anonymous()
        .get(app.url(path))
        .header(header::ACCEPT, "text/html")
        .bearer_auth(TEST_API_TOKEN)
        .send()
        .await
        .expect("GET page")
}

async fn api_with_token(app: &TestApp, path: &str) -> reqwest::Response {
    app.anonymous()
        .get(app.url(path))
        .bearer_auth(TEST_API_TOKEN)
        .send()
        .await
        .expect("GET api")
}

/// The status, `Retry-After` (seconds) and body of an answer.
async fn parts(response: reqwest::Response) -> (StatusCode, Option<u64>, String) {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (status, retry_after, response.text().await.expect("body"))
}

#[tokio::test]
async fn with_the_database_down_pages_and_the_api_answer_503_saying_unreachable() {
    let app = TestApp::spawn().await;
    app.take_database_down().await;

    let (status, retry_after, html) = parts(page_with_token(&app, "/teams").await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{html}");
    assert!(
        retry_after.is_some_and(|s| s > 0),
        "Retry-After: {retry_after:?}"
    );
    assert!(html.contains(UNREACHABLE), "{html}");
    assert!(!html.contains(BUSY), "{html}");

    // The services catalogue is this replica's in-memory snapshot: it still answers (as of
    // its last refresh) while the database is down.
    let (status, _, html) = parts(page_with_token(&app, "/services").await).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("No services yet"), "{html}");

    // Every page that loads data, through the same component.
    for path in [
        "/energy",
        "/teams/payments",
        "/dependencies",
        "/services/payments/web",
        "/services/payments/web/deploy",
        "/services/payments/web/energy",
        "/services/payments/web/history",
    ] {
        let (status, retry_after, html) = parts(page_with_token(&app, path).await).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}: {html}");
        assert!(retry_after.is_some(), "{path}: no Retry-After");
        assert!(html.contains(UNREACHABLE), "{path}: {html}");
    }

    // Signed in: the session cannot be read either, and the answer says the same.
    let (status, html) = app.get_html("/services").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(html.contains(UNREACHABLE), "{html}");

    let (status, retry_after, body) =
        parts(api_with_token(&app, "/api/v1/dependencies").await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(retry_after.is_some(), "no Retry-After");
    let body: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["error"], "unavailable");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains(UNREACHABLE)),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn with_every_connection_in_use_pages_and_the_api_answer_503_saying_busy() {
    const POOL: u32 = 2;
    let app = TestApp::spawn_with_pool_size(POOL).await;

    // Hold the services table; pages that list services then wait on the lock, each with one
    // of Canopy's connections, until it is released.
    let mut holder = app.pool.begin().await.expect("begin");
    holder
        .execute("LOCK TABLE services IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock services");
    let blocked: Vec<_> = (0..POOL)
        .map(|_| {
            let request = app
                .anonymous()
                .get(app.url("/teams"))
                .header(header::ACCEPT, "text/html")
                .bearer_auth(TEST_API_TOKEN)
                .send();
            tokio::spawn(request)
        })
        .collect();
    // Until every connection of Canopy's pool waits on the lock.
    let mut waiting = 0;
    for _ in 0..200 {
        waiting = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&app.pool)
        .await
        .expect("pg_stat_activity");
        if waiting >= i64::from(POOL) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        waiting,
        i64::from(POOL),
        "Canopy's connections never all waited"
    );

    let (page, signed_in, api) = tokio::join!(
        page_with_token(&app, "/teams"),
        app.get_html("/teams"),
        api_with_token(&app, "/api/v1/dependencies"),
    );

    let (status, retry_after, html) = parts(page).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{html}");
    assert!(
        retry_after.is_some_and(|s| s > 0),
        "Retry-After: {retry_after:?}"
    );
    assert!(html.contains(BUSY), "{html}");
    assert!(!html.contains(UNREACHABLE), "{html}");

    // Signed in, the session itself could not be read: busy too, not "unreachable".
    let (status, html) = signed_in;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{html}");
    assert!(html.contains(BUSY), "{html}");

    let (status, retry_after, body) = parts(api).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        retry_after.is_some_and(|s| s > 0),
        "Retry-After: {retry_after:?}"
    );
    let body: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["error"], "busy");
    assert!(
        body["message"].as_str().is_some_and(|m| m.contains(BUSY)),
        "{body}"
    );

    // The database was fine all along: once the lock goes, the waiting requests are served.
    holder.rollback().await.expect("release the lock");
    for request in blocked {
        let response = request.await.expect("task").expect("GET");
        assert_eq!(response.status(), StatusCode::OK);
    }
    app.stop().await;
}
