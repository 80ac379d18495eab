//! The Services page and the registration form, as a browser without JavaScript uses them.

use crate::support::TestApp;

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("a Location header")
        .to_owned()
}

#[tokio::test]
async fn empty_registry_says_what_to_do() {
    let app = TestApp::spawn().await;
    let (status, html) = app.get_html("/services").await;
    assert_eq!(status, 200);
    assert!(html.contains("No services yet"), "{html}");
    for nav in ["Services", "Energy", "Dependencies", "Teams"] {
        assert!(
            html.contains(&format!(">{nav}</a>")),
            "nav link {nav} missing"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn registering_without_javascript_redirects_back_and_lists_the_service() {
    let app = TestApp::spawn().await;
    let response = app
        .submit_registration_without_js("payments", "checkout-api")
        .await;
    assert_eq!(response.status(), 302);
    // leptos strips its error parameters from the Referer and may leave an empty query ("?").
    assert_eq!(
        location(&response).trim_end_matches('?'),
        app.url("/services/new")
    );
    assert_eq!(app.service_count().await, 1);

    let (_, html) = app.get_html("/services").await;
    assert!(
        html.contains("/services/payments/checkout-api\">checkout-api</a></td>"),
        "{html}"
    );
    assert!(
        html.contains("<td><a href=\"/teams/payments\">payments</a></td>"),
        "{html}"
    );

    let (_, teams) = app.get_html("/teams").await;
    // Each team links to its page.
    assert!(
        teams.contains("<td><a href=\"/teams/payments\">payments</a></td>"),
        "{teams}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_bad_name_is_refused_with_an_inline_error_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let response = app
        .submit_registration_without_js("payments", "Checkout_API")
        .await;
    assert_eq!(response.status(), 302);
    let back = location(&response);
    assert!(
        back.contains("__err="),
        "the error travels back in the URL: {back}"
    );
    assert_eq!(app.service_count().await, 0);

    let path = back.trim_start_matches(&app.base).to_owned();
    let (_, html) = app.get_html(&path).await;
    assert!(
        html.contains("Service name: may contain only lowercase letters (a-z), digits (0-9) and &#x27;-&#x27;; found &#x27;C&#x27;")
            || html.contains("Service name: may contain only lowercase letters (a-z), digits (0-9) and '-'; found 'C'"),
        "inline error missing: {html}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_too_long_name_and_a_bad_team_are_refused() {
    let app = TestApp::spawn().await;
    let long = "a".repeat(64);
    let response = app.submit_registration_without_js("payments", &long).await;
    let path = location(&response).trim_start_matches(&app.base).to_owned();
    let (_, html) = app.get_html(&path).await;
    assert!(
        html.contains("Service name: is 64 characters long; at most 63 are allowed"),
        "{html}"
    );

    let response = app.submit_registration_without_js("-ops", "web").await;
    let path = location(&response).trim_start_matches(&app.base).to_owned();
    let (_, html) = app.get_html(&path).await;
    assert!(
        html.contains("Team: must start and end with a lowercase letter or digit"),
        "{html}"
    );
    assert_eq!(app.service_count().await, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_duplicate_name_in_the_same_team_says_it_exists() {
    let app = TestApp::spawn().await;
    app.submit_registration_without_js("payments", "web").await;
    // The same name in another team is fine.
    app.submit_registration_without_js("search", "web").await;
    assert_eq!(app.service_count().await, 2);

    let response = app.submit_registration_without_js("payments", "web").await;
    let path = location(&response).trim_start_matches(&app.base).to_owned();
    let (_, html) = app.get_html(&path).await;
    assert!(html.contains("already exists in team"), "{html}");
    assert_eq!(app.service_count().await, 2);
    app.stop().await;
}

#[tokio::test]
async fn server_function_answers_json_errors_to_scripts() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/api/fn/register_service"))
        .form(&[("team", "payments"), ("name", "UPPER")])
        .send()
        .await
        .expect("POST");
    assert!(response.status().is_server_error() || response.status().is_client_error());
    let body: serde_json::Value = response.json().await.expect("json error body");
    assert_eq!(body["kind"], "invalid_input");
    assert_eq!(body["field"], "name");
    app.stop().await;
}

#[tokio::test]
async fn with_the_database_down_pages_say_so_and_nothing_panics() {
    let app = TestApp::spawn().await;
    app.take_database_down().await;
    let (_, html) = app.get_html("/services").await;
    assert!(
        html.contains("Canopy cannot reach its database right now"),
        "{html}"
    );

    // Who is asking cannot be checked either: the form post is refused with the same words
    // (nothing is written).
    let response = app.submit_registration_without_js("payments", "web").await;
    assert_eq!(response.status(), 503);
    let text = response.text().await.expect("body");
    assert!(
        text.contains("Canopy cannot reach its database right now"),
        "{text}"
    );
    app.stop().await;
}

/// Many requests at once for the service and team pages: each answers whole, with its title.
/// Under 32 connections the title, read by the server after the page was rendered, reached
/// signals that were already disposed; the worker panicked and the connection was dropped
/// (wrk counted socket errors, docs/PERFORMANCE.md).
#[tokio::test]
async fn pages_under_many_concurrent_requests_answer_whole_with_their_title() {
    let app = TestApp::spawn().await;
    let response = app
        .submit_registration_without_js("payments", "checkout-api")
        .await;
    assert_eq!(response.status(), 302);
    let pages = [
        (
            "/services/payments/checkout-api",
            "<title>checkout-api · Overview · Canopy</title>",
        ),
        (
            "/services/payments/checkout-api/energy",
            "<title>checkout-api · Energy · Canopy</title>",
        ),
        (
            "/teams/payments",
            "<title>payments · Teams · Canopy</title>",
        ),
    ];
    for (path, title) in pages {
        for round in 0..6 {
            let answers = futures::future::join_all((0..32).map(|_| app.get_html(path))).await;
            for (status, html) in answers {
                assert_eq!(status, 200, "{path}, round {round}: {html}");
                assert!(html.contains(title), "{path}, round {round}: {html}");
            }
        }
    }
    app.stop().await;
}
