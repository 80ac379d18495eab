//! The authorization matrix: every route Canopy's handlers serve (from the router's own table),
//! every page (from Leptos's route list) and every server function (from server_fn's registry),
//! called as anonymous / viewer / deployer / team admin / member of another team / organisation
//! admin / each API token scope, and answered allowed or refused as its entry says. A route or
//! server function without an entry here fails the test: deciding who may call it is part of
//! adding it.

use app::api::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{browser_client, signed_in_client, TestApp, TEST_PASSWORD};

/// What a route needs. The caller's role is in team `alpha`, which every case targets.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Needs {
    /// Anyone (tested once, with a fresh anonymous client: these routes act the same for all).
    Public,
    /// The agents' ingest: its own node tokens, which none of these callers holds.
    NodeToken,
    /// Any signed-in person or token.
    SignedIn,
    /// A signed-in person, not a token.
    PersonOnly,
    /// The deployer role in alpha (or a deploy/admin token of alpha).
    Deploy,
    /// The admin role in alpha.
    TeamAdmin,
    /// An organisation admin.
    OrgAdmin,
}

const CALLERS: [&str; 9] = [
    "anonymous",
    "viewer",
    "deployer",
    "team-admin",
    "other-team",
    "org-admin",
    "token-read",
    "token-deploy",
    "token-admin",
];

fn allowed(needs: Needs) -> [bool; 9] {
    const T: bool = true;
    const F: bool = false;
    match needs {
        Needs::Public => [T; 9],
        Needs::NodeToken => [F; 9],
        Needs::SignedIn => [F, T, T, T, T, T, T, T, T],
        Needs::PersonOnly => [F, T, T, T, T, T, F, F, F],
        Needs::Deploy => [F, F, T, T, F, T, F, T, T],
        Needs::TeamAdmin => [F, F, F, T, F, T, F, F, T],
        Needs::OrgAdmin => [F, F, F, F, F, T, F, F, F],
    }
}

#[derive(Debug, Clone)]
enum Body {
    Empty,
    Json(Value),
    Form(Vec<(String, String)>),
}

fn form(pairs: &[(&str, &str)]) -> Body {
    Body::Form(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

fn spec() -> Value {
    json!({ "team": "alpha", "name": "web", "environment": "dev",
            "image": "ghcr.io/acme/web:1.0.0", "port": 8080 })
}

/// The entry of one handler route: what it needs, the concrete path and a valid body.
fn handler_case(
    method: &Method,
    pattern: &str,
    victim_token: i64,
) -> Option<(Needs, String, Body)> {
    let service = "/api/v1/services/alpha/web/dev";
    let path = pattern
        .replace("{team}", "alpha")
        .replace("{service}", "web")
        .replace("{environment}", "dev")
        .replace("{pod}", "web-1")
        .replace("{username}", "bystander")
        .replace("{token}", "no-such-invite");
    let m = method.as_str();
    let case = match (m, pattern) {
        ("GET", "/healthz" | "/readyz" | "/metrics" | "/signin") => {
            (Needs::Public, path, Body::Empty)
        }
        ("POST", "/signin") => (
            Needs::Public,
            path,
            form(&[
                ("username", "matrix"),
                ("password", TEST_PASSWORD),
                ("next", "/"),
            ]),
        ),
        ("POST", "/signout") => (Needs::Public, path, Body::Empty),
        // Not configured in this harness (404); the flow is tested in github_signin.rs.
        ("POST", "/auth/github/start") => (Needs::Public, path, form(&[("next", "/")])),
        ("GET", "/auth/github/callback") => (Needs::Public, path, Body::Empty),
        ("GET", "/invite/{token}") => (Needs::Public, path, Body::Empty),
        ("POST", "/invite/{token}") => (
            Needs::Public,
            path,
            form(&[("username", "nobody"), ("password", TEST_PASSWORD)]),
        ),
        ("POST", "/api/v1/ingest") => (Needs::NodeToken, path, Body::Json(json!({}))),
        ("POST", "/signout/everywhere") => (Needs::PersonOnly, path, Body::Empty),
        ("GET", "/ui/live/{team}/{service}/{environment}") => (Needs::SignedIn, path, Body::Empty),
        ("GET", p) if p.starts_with("/ui/logs/") => (Needs::Deploy, path, Body::Empty),
        ("POST", "/api/v1/deploys" | "/api/v1/deploys/preview") => {
            (Needs::Deploy, path, Body::Json(json!({ "spec": spec() })))
        }
        ("GET", "/api/v1/deploys/{id}") => {
            (Needs::SignedIn, path.replace("{id}", "1"), Body::Empty)
        }
        ("GET", p) if p.starts_with("/api/v1/services/") && !p.ends_with("/logs") => {
            (Needs::SignedIn, path, Body::Empty)
        }
        ("GET", p) if p.ends_with("/logs") => (Needs::Deploy, path, Body::Empty),
        ("DELETE", "/api/v1/services/{team}/{service}/{environment}") => (
            Needs::TeamAdmin,
            format!("{service}?confirm=web"),
            Body::Empty,
        ),
        ("POST", p) if p.ends_with("/rollback") => {
            (Needs::Deploy, path, Body::Json(json!({ "revision": 1 })))
        }
        ("POST", p) if p.ends_with("/restart") => (Needs::Deploy, path, Body::Empty),
        ("POST", p) if p.ends_with("/scale") => {
            (Needs::Deploy, path, Body::Json(json!({ "replicas": 2 })))
        }
        ("GET", "/api/v1/teams/{team}/quota") => (Needs::SignedIn, path, Body::Empty),
        ("PUT", "/api/v1/teams/{team}/quota") => {
            (Needs::TeamAdmin, path, Body::Json(json!({ "pods": 40 })))
        }
        ("DELETE", "/api/v1/teams/{team}/quota") => (Needs::TeamAdmin, path, Body::Empty),
        ("POST", "/api/v1/invites") => (Needs::OrgAdmin, path, Body::Json(json!({}))),
        ("PUT", "/api/v1/teams/{team}/members/{username}") => (
            Needs::TeamAdmin,
            path,
            Body::Json(json!({ "role": "viewer" })),
        ),
        ("DELETE", "/api/v1/teams/{team}/members/{username}") => {
            (Needs::TeamAdmin, path, Body::Empty)
        }
        ("POST", "/api/v1/tokens") => (
            Needs::PersonOnly,
            path,
            Body::Json(json!({ "name": "matrix", "scope": "read" })),
        ),
        ("GET", "/api/v1/tokens") => (Needs::SignedIn, path, Body::Empty),
        ("DELETE", "/api/v1/tokens/{id}") => (
            Needs::TeamAdmin,
            path.replace("{id}", &victim_token.to_string()),
            Body::Empty,
        ),
        ("GET", "/api/v1/audit" | "/audit" | "/admin/users") => {
            (Needs::OrgAdmin, path, Body::Empty)
        }
        ("POST", "/admin/invites") => (
            Needs::OrgAdmin,
            path,
            form(&[("team", "alpha"), ("role", "viewer")]),
        ),
        ("POST", "/admin/roles") => (
            Needs::OrgAdmin,
            path,
            form(&[
                ("username", "bystander"),
                ("team", "alpha"),
                ("role", "viewer"),
            ]),
        ),
        (_, p) if p.starts_with("/api/v1/energy/node-tokens") => (
            Needs::OrgAdmin,
            path.replace("{id}", "999999"),
            Body::Json(json!({ "node": "node-x" })),
        ),
        ("GET", "/api/v1/energy/ingest-stats") => (Needs::OrgAdmin, path, Body::Empty),
        ("POST", "/api/v1/energy/request-counts") => (Needs::OrgAdmin, path, Body::Json(json!({}))),
        ("GET", p) if p.starts_with("/api/v1/energy/") => (
            Needs::SignedIn,
            format!("{path}?team=alpha&service=web"),
            Body::Empty,
        ),
        _ => return None,
    };
    Some(case)
}

/// The entry of one server function: what it needs and valid arguments.
fn server_fn_case(path: &str) -> Option<(Needs, Body)> {
    let name = path.trim_start_matches("/api/fn/");
    let svc = [
        ("team", "alpha"),
        ("service", "web"),
        ("environment", "dev"),
    ];
    let with = |extra: &[(&str, &str)]| {
        let mut pairs = svc.to_vec();
        pairs.extend_from_slice(extra);
        form(&pairs)
    };
    let deploy_form = form(&[
        ("form[team]", "alpha"),
        ("form[name]", "web"),
        ("form[environment]", "dev"),
        ("form[image]", "ghcr.io/acme/web:1.0.0"),
        ("form[port]", "8080"),
        ("form[size]", "S"),
        ("form[scaling]", "fixed"),
        ("form[replicas]", "1"),
        ("form[min]", ""),
        ("form[max]", ""),
        ("form[target_cpu_percent]", ""),
        ("form[env]", ""),
        ("form[secrets]", ""),
        ("form[route_host]", ""),
        ("form[route_path]", ""),
        ("form[health_check]", ""),
    ]);
    Some(match name {
        "list_services" | "list_teams" | "current_user" => (Needs::SignedIn, Body::Empty),
        "get_team_quota" => (Needs::SignedIn, form(&[("team", "alpha")])),
        "get_service_overview" | "get_service_pods" => (Needs::SignedIn, with(&[])),
        "load_service_pods" => (
            Needs::SignedIn,
            form(&[("team", "alpha"), ("service", "web")]),
        ),
        "load_energy_overview" => (Needs::SignedIn, form(&[("period", "7d")])),
        "load_service_energy_for" => (
            Needs::SignedIn,
            form(&[("team", "alpha"), ("service", "web"), ("period", "7d")]),
        ),
        "load_team_energy" => (
            Needs::SignedIn,
            form(&[("team", "alpha"), ("period", "7d")]),
        ),
        "register_service" => (
            Needs::Deploy,
            form(&[("team", "alpha"), ("name", "registered")]),
        ),
        "preview_deploy" | "deploy_service" => (Needs::Deploy, deploy_form),
        "rollback_service" => (Needs::Deploy, with(&[("revision", "1")])),
        "restart_service" => (Needs::Deploy, with(&[])),
        "scale_service" => (Needs::Deploy, with(&[("replicas", "2")])),
        "get_pod_log" => (
            Needs::Deploy,
            with(&[("pod", "web-1"), ("previous", "false")]),
        ),
        "delete_service" => (Needs::TeamAdmin, with(&[("confirm", "web")])),
        _ => return None,
    })
}

struct Caller {
    name: &'static str,
    client: reqwest::Client,
    bearer: Option<String>,
}

async fn send(
    app: &TestApp,
    caller: &Caller,
    method: &Method,
    path: &str,
    body: &Body,
) -> reqwest::Response {
    let mut request = caller.client.request(method.clone(), app.url(path));
    if let Some(token) = &caller.bearer {
        request = request.bearer_auth(token);
    }
    request = match body {
        Body::Empty => request,
        Body::Json(value) => request.json(value),
        Body::Form(pairs) => request.form(pairs),
    };
    request.send().await.expect("request")
}

/// Refused: 401, 403, or a page's redirect to sign-in.
fn refused(response: &reqwest::Response) -> bool {
    let status = response.status();
    let to_signin = status == StatusCode::SEE_OTHER
        && response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .is_some_and(|l| l.starts_with("/signin?next="));
    status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN || to_signin
}

/// The admin pages' forms carry a per-session token: fetch it as the browser would.
async fn with_csrf(app: &TestApp, caller: &Caller, body: &Body) -> Body {
    let Body::Form(pairs) = body else {
        return body.clone();
    };
    let page = caller
        .client
        .get(app.url("/admin/users"))
        .send()
        .await
        .expect("admin page")
        .text()
        .await
        .unwrap_or_default();
    let token = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned();
    let mut pairs = pairs.clone();
    pairs.push(("csrf".to_owned(), token));
    Body::Form(pairs)
}

#[tokio::test]
async fn every_route_and_server_function_allows_exactly_who_its_entry_says() {
    let app = TestApp::spawn().await;
    // People in team alpha, one in team beta, and someone the member routes can change.
    let viewer = app.person("viewer", &[("alpha", Role::Viewer)]).await;
    let deployer = app.person("deployer", &[("alpha", Role::Deployer)]).await;
    let team_admin = app.person("team-admin", &[("alpha", Role::Admin)]).await;
    let other = app.person("other", &[("beta", Role::Admin)]).await;
    let _ = app.person("bystander", &[]).await;
    let _ = app.person("matrix", &[]).await;
    // Team tokens of alpha, one per scope, and one for the revocation route to revoke.
    let mut tokens = Vec::new();
    for scope in ["read", "deploy", "admin", "read"] {
        let created: Value = app
            .client
            .post(app.url("/api/v1/tokens"))
            .json(&json!({ "name": format!("matrix {scope}"), "scope": scope, "team": "alpha" }))
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("token json");
        tokens.push((
            created["token"].as_str().expect("token").to_owned(),
            created["id"].as_i64().expect("id"),
        ));
    }
    let victim_token = tokens[3].1;
    let bearer = |i: usize, name| Caller {
        name,
        client: reqwest::Client::new(),
        bearer: Some(tokens[i].0.clone()),
    };
    let callers = [
        Caller {
            name: CALLERS[0],
            client: app.anonymous(),
            bearer: None,
        },
        Caller {
            name: CALLERS[1],
            client: viewer,
            bearer: None,
        },
        Caller {
            name: CALLERS[2],
            client: deployer,
            bearer: None,
        },
        Caller {
            name: CALLERS[3],
            client: team_admin,
            bearer: None,
        },
        Caller {
            name: CALLERS[4],
            client: other,
            bearer: None,
        },
        Caller {
            name: CALLERS[5],
            client: app.client.clone(),
            bearer: None,
        },
        bearer(0, CALLERS[6]),
        bearer(1, CALLERS[7]),
        bearer(2, CALLERS[8]),
    ];

    // Every route: the handlers' table, the pages, the server functions.
    let mut cases: Vec<(Method, String, Needs, String, Body)> = Vec::new();
    let mut missing = Vec::new();
    for entry in canopy_server::http::handler_routes() {
        match handler_case(&entry.method, &entry.path, victim_token) {
            Some((needs, path, body)) => cases.push((entry.method, entry.path, needs, path, body)),
            None => missing.push(format!("{} {}", entry.method, entry.path)),
        }
    }
    for page in leptos_axum::generate_route_list(app::App) {
        let path = page
            .path()
            .replace("{team}", "alpha")
            .replace("{service}", "web");
        cases.push((
            Method::GET,
            page.path().to_owned(),
            Needs::SignedIn,
            path,
            Body::Empty,
        ));
    }
    let mut server_fns = 0;
    for (path, method) in server_fn::axum::server_fn_paths() {
        server_fns += 1;
        match server_fn_case(path) {
            Some((needs, body)) => {
                cases.push((Method::POST, path.to_owned(), needs, path.to_owned(), body));
                assert_eq!(method.as_str(), "POST", "{path}");
            }
            None => missing.push(format!("server function {path}")),
        }
    }
    assert!(
        missing.is_empty(),
        "routes without an entry in the authorization matrix (say who may call them): {missing:#?}"
    );
    assert!(
        server_fns >= 18,
        "the server functions registry was read ({server_fns})"
    );
    // Ending every session of a person goes last.
    cases.sort_by_key(|case| case.1 == "/signout/everywhere");

    let mut wrong = Vec::new();
    for (method, pattern, needs, path, body) in &cases {
        let expected = allowed(*needs);
        if *needs == Needs::Public {
            let response = send(
                &app,
                &Caller {
                    name: "fresh",
                    client: browser_client(&app.base),
                    bearer: None,
                },
                method,
                path,
                body,
            )
            .await;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                wrong.push(format!("{method} {pattern}: public, but answered {status}"));
            }
            continue;
        }
        for (i, caller) in callers.iter().enumerate() {
            let body = if path.starts_with("/admin/")
                && *method == Method::POST
                && caller.bearer.is_none()
            {
                with_csrf(&app, caller, body).await
            } else {
                body.clone()
            };
            let response = send(&app, caller, method, path, &body).await;
            let status = response.status();
            let was_refused = refused(&response);
            if was_refused == expected[i] {
                let text = response.text().await.unwrap_or_default();
                wrong.push(format!(
                    "{method} {pattern} as {}: expected {}, got {status} {}",
                    caller.name,
                    if expected[i] { "allowed" } else { "refused" },
                    text.chars().take(160).collect::<String>()
                ));
            } else if *needs == Needs::NodeToken && status != StatusCode::UNAUTHORIZED {
                wrong.push(format!(
                    "{method} {pattern} as {}: {status}, not 401 (no node token)",
                    caller.name
                ));
            } else if !expected[i]
                && i > 0
                && *needs != Needs::NodeToken
                && status != StatusCode::FORBIDDEN
            {
                wrong.push(format!(
                    "{method} {pattern} as {}: refused with {status}, not 403",
                    caller.name
                ));
            } else if !expected[i] && i == 0 && status == StatusCode::FORBIDDEN {
                wrong.push(format!(
                    "{method} {pattern} anonymously: 403 instead of 401 or sign-in"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} checks disagree with the matrix:\n{}",
        wrong.len(),
        cases.len() * CALLERS.len(),
        wrong.join("\n")
    );

    // What the refusals left behind: the audit log has them, naming who tried.
    let refusals: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE NOT allowed AND actor = 'viewer' AND action = 'deploy'")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert!(
        refusals >= 2,
        "the viewer's refused deploys are in the audit log ({refusals})"
    );
    app.stop().await;
}

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
            .header("referer", app.url("/services"))
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
    let token = app.form_token("/services").await;
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
