//! The sign-in protections one by one, each a test that fails if the protection is removed:
//! session fixation and cookie attributes, CSRF (cross-site posts, the forms' token), expired
//! sessions on a form post, no user enumeration and the rate limit, open redirects, single-use
//! and expiring invites, revoked tokens. Who may call what is `authorization.rs`.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{browser_client, signed_in_client, TestApp, TEST_PASSWORD};

/// A signed-in person's own session keeps working until they sign out; the cookie is HttpOnly,
/// SameSite=Lax, and a new id is issued at sign-in (no fixation).
#[tokio::test]
async fn sign_in_issues_a_fresh_http_only_cookie_and_sign_out_ends_it() {
    let app = TestApp::spawn().await;
    let client = browser_client(&app.base);
    // A visit before signing in gets a session (the sign-in page's) ...
    let page = client.get(app.url("/signin")).send().await.expect("GET");
    assert_eq!(page.status(), 200);
    let response = client
        .post(app.url("/signin"))
        .form(&[
            ("username", crate::support::TEST_ADMIN),
            ("password", TEST_PASSWORD),
            ("next", "/services?team=x"),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()["location"],
        "/services?team=x",
        "back to where they were going"
    );
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("canopy_session="))
        .expect("a session cookie")
        .to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain http: no Secure flag ({cookie})"
    );

    // Session fixation: a session id planted before sign-in is not the one signed in.
    let planted = "canopy_session=planted-by-an-attacker";
    let fixated = browser_client(&app.base);
    let response = fixated
        .post(app.url("/signin"))
        .header("cookie", planted)
        .form(&[
            ("username", crate::support::TEST_ADMIN),
            ("password", TEST_PASSWORD),
        ])
        .send()
        .await
        .expect("POST");
    let issued = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("canopy_session="))
        .expect("a new session cookie")
        .to_owned();
    assert!(!issued.starts_with(planted), "{issued}");
    let with_planted = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let page = with_planted
        .get(app.url("/services"))
        .header("cookie", planted)
        .send()
        .await
        .expect("GET");
    assert_eq!(
        page.status(),
        StatusCode::SEE_OTHER,
        "the planted id signs nobody in"
    );

    // Signed in: pages render; after sign-out they redirect to sign-in again.
    let page = client.get(app.url("/services")).send().await.expect("GET");
    assert_eq!(page.status(), 200);
    let out = client.post(app.url("/signout")).send().await.expect("POST");
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let page = client.get(app.url("/services")).send().await.expect("GET");
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(page.headers()["location"], "/signin?next=%2Fservices");
    app.stop().await;
}

#[tokio::test]
async fn a_forged_cross_site_post_changes_nothing_and_says_why() {
    let app = TestApp::spawn().await;
    // The signed-in admin's browser, made to post by another site.
    let forged = app
        .client
        .post(app.url("/api/fn/register_service"))
        .header("origin", "https://evil.example")
        .form(&[("team", "alpha"), ("name", "planted")])
        .send()
        .await
        .expect("POST");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let body = forged.text().await.expect("body");
    assert!(body.contains("https://evil.example"), "{body}");
    // No Origin and no Referer at all: refused too.
    let bare = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let _ = bare
        .post(app.url("/signin"))
        .header("origin", &app.base)
        .form(&[
            ("username", crate::support::TEST_ADMIN),
            ("password", TEST_PASSWORD),
        ])
        .send()
        .await
        .expect("sign in");
    let silent = bare
        .post(app.url("/api/fn/register_service"))
        .form(&[("team", "alpha"), ("name", "planted")])
        .send()
        .await
        .expect("POST");
    assert_eq!(silent.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.service_count().await, 0, "nothing was registered");
    app.stop().await;
}

#[tokio::test]
async fn wrong_passwords_and_unknown_users_read_the_same_and_are_rate_limited() {
    let app = TestApp::spawn().await;
    let attempt = |username: &'static str, password: &'static str| {
        let client = browser_client(&app.base);
        let url = app.url("/signin");
        async move {
            let response = client
                .post(url)
                .form(&[("username", username), ("password", password)])
                .send()
                .await
                .expect("POST");
            (response.status(), response.text().await.unwrap_or_default())
        }
    };
    let (wrong_status, wrong_page) = attempt(crate::support::TEST_ADMIN, "not the password").await;
    let (unknown_status, unknown_page) = attempt("nobody-at-all", "not the password").await;
    assert_eq!(wrong_status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown_status, StatusCode::UNAUTHORIZED);
    let message = "The user name or password is not right.";
    assert!(wrong_page.contains(message) && unknown_page.contains(message));
    // Five failures for an account lock it for a while, even with the right password.
    for _ in 0..4 {
        let _ = attempt(crate::support::TEST_ADMIN, "still wrong").await;
    }
    let (status, page) = attempt(crate::support::TEST_ADMIN, TEST_PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{page}");
    assert!(page.contains("Too many failed sign-ins"), "{page}");
    app.stop().await;
}

#[tokio::test]
async fn a_form_posted_without_javascript_needs_the_page_s_token() {
    let app = TestApp::spawn().await;
    let post = |token: &'static str| {
        app.client
            .post(app.url("/api/fn/register_service"))
            .header("accept", "text/html,application/xhtml+xml")
            .header("referer", app.url("/services/new"))
            .form(&[("team", "alpha"), ("name", "web"), ("csrf", token)])
            .send()
    };
    let missing = post("").await.expect("POST");
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    assert!(missing
        .text()
        .await
        .expect("body")
        .contains("security token is missing or stale"));
    let forged = post("guessed-token").await.expect("POST");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.service_count().await, 0, "nothing was registered");
    let token = app.form_token("/services/new").await;
    assert!(token.len() >= 32, "the page carries the token: {token:?}");
    let accepted = app.submit_registration_without_js("alpha", "web").await;
    assert_eq!(
        accepted.status(),
        StatusCode::FOUND,
        "back to the page, registered"
    );
    assert_eq!(app.service_count().await, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_form_posted_after_the_session_ended_says_it_was_not_saved() {
    let app = TestApp::spawn().await;
    // A browser without JavaScript whose session has gone posts the registration form.
    let response = app
        .anonymous()
        .post(app.url("/api/fn/register_service"))
        .header("accept", "text/html,application/xhtml+xml")
        .header("referer", app.url("/services?team=alpha"))
        .form(&[("team", "alpha"), ("name", "web")])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert_eq!(
        location,
        "/signin?next=%2Fservices%3Fteam%3Dalpha&expired=1"
    );
    let page = app
        .anonymous()
        .get(app.url(&location))
        .send()
        .await
        .expect("GET");
    let html = page.text().await.expect("page");
    assert!(html.contains("what you submitted was not saved"), "{html}");
    assert!(
        html.contains("value=\"/services?team=alpha\""),
        "returns to the form: {html}"
    );
    assert_eq!(app.service_count().await, 0);
    app.stop().await;
}

#[tokio::test]
async fn the_return_path_after_sign_in_stays_on_canopy() {
    let app = TestApp::spawn().await;
    for (next, expected) in [
        ("//evil.example/x", "/"),
        ("https://evil.example", "/"),
        ("/teams/alpha", "/teams/alpha"),
    ] {
        let client = browser_client(&app.base);
        let response = client
            .post(app.url("/signin"))
            .form(&[
                ("username", crate::support::TEST_ADMIN),
                ("password", TEST_PASSWORD),
                ("next", next),
            ])
            .send()
            .await
            .expect("POST");
        assert_eq!(response.headers()["location"], expected, "next={next}");
    }
    app.stop().await;
}

#[tokio::test]
async fn invites_work_once_and_revoked_tokens_stop_working() {
    let app = TestApp::spawn().await;
    let invite: Value = app
        .client
        .post(app.url("/api/v1/invites"))
        .json(&json!({ "team": "alpha", "role": "viewer" }))
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("json");
    let token = invite["token"].as_str().expect("token").to_owned();
    assert!(invite["link"]
        .as_str()
        .expect("link")
        .ends_with(&format!("/invite/{token}")));
    let accept = |username: &'static str| {
        let client = browser_client(&app.base);
        let url = app.url(&format!("/invite/{token}"));
        async move {
            client
                .post(url)
                .form(&[("username", username), ("password", TEST_PASSWORD)])
                .send()
                .await
                .expect("POST")
        }
    };
    let first = accept("vera").await;
    assert_eq!(
        first.status(),
        StatusCode::SEE_OTHER,
        "the invite creates the account and signs in"
    );
    let second = accept("mallory").await;
    assert_eq!(second.status(), StatusCode::GONE, "an invite works once");
    let vera = signed_in_client(&app.base, "vera", TEST_PASSWORD).await;
    let me: Value = vera
        .post(app.url("/api/fn/current_user"))
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("json");
    assert_eq!(me["teams"]["alpha"], "viewer");

    // An expired invite is refused like a used one.
    let expired: Value = app
        .client
        .post(app.url("/api/v1/invites"))
        .json(&json!({}))
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("json");
    sqlx::query(
        "UPDATE invites SET expires_at = now() - interval '1 minute' WHERE used_at IS NULL",
    )
    .execute(&app.pool)
    .await
    .expect("expire");
    let late = browser_client(&app.base)
        .post(app.url(&format!(
            "/invite/{}",
            expired["token"].as_str().expect("token")
        )))
        .form(&[("username", "late"), ("password", TEST_PASSWORD)])
        .send()
        .await
        .expect("POST");
    assert_eq!(late.status(), StatusCode::GONE);

    // A token works until it is revoked.
    let created: Value = app
        .client
        .post(app.url("/api/v1/tokens"))
        .json(&json!({ "name": "ci", "scope": "read" }))
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("json");
    let secret = created["token"].as_str().expect("token").to_owned();
    let read = |secret: String| {
        let url = app.url("/api/v1/teams/alpha/quota");
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(secret)
                .send()
                .await
                .expect("GET")
                .status()
        }
    };
    assert_eq!(read(secret.clone()).await, StatusCode::OK);
    let revoked = app
        .client
        .delete(app.url(&format!("/api/v1/tokens/{}", created["id"])))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(read(secret).await, StatusCode::UNAUTHORIZED);
    app.stop().await;
}
