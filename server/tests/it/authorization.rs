//! The authorization matrix: every route Canopy's handlers serve (from the router's own table),
//! every page (from Leptos's route list) and every server function (from server_fn's registry),
//! called as anonymous / viewer / deployer / team admin / member of another team / organisation
//! admin / each API token scope, and answered allowed or refused as its entry says. A route or
//! server function without an entry here fails the test: deciding who may call it is part of
//! adding it.

use app::api::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{browser_client, TestApp, TEST_PASSWORD};

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
    /// A member of alpha (any role), signed in as a person: its e-mail's own settings.
    MemberPerson,
    /// The admin role in alpha (or an organisation admin), signed in as a person: the e-mail
    /// page's forms, which carry the session's anti-forgery token.
    TeamAdminPerson,
    /// The deployer role in alpha (or an organisation admin), signed in as a person: the
    /// GitHub page's forms, which carry the session's anti-forgery token.
    DeployPerson,
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
        Needs::MemberPerson => [F, T, T, T, F, F, F, F, F],
        Needs::TeamAdminPerson => [F, F, F, T, F, T, F, F, F],
        Needs::DeployPerson => [F, F, T, T, F, T, F, F, F],
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
    unsubscribe_token: &str,
) -> Option<(Needs, String, Body)> {
    let service = "/api/v1/services/alpha/web/dev";
    let path = pattern
        .replace("{team}", "alpha")
        .replace("{service}", "web")
        .replace("{environment}", "dev")
        .replace("{pod}", "web-1")
        .replace("{username}", "bystander")
        .replace("{token}", "no-such-invite")
        .replace("{file}", "dev.svg")
        .replace("{delivery}", "no-such-delivery");
    let m = method.as_str();
    let case = match (m, pattern) {
        (
            "GET",
            "/healthz"
            | "/readyz"
            | "/metrics"
            | "/signin"
            | "/favicon.ico"
            | "/api/v1/openapi.json",
        ) => (Needs::Public, path, Body::Empty),
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
        ("GET", "/api/v1/dependencies") => (Needs::SignedIn, path, Body::Empty),
        ("PUT", "/api/v1/services/{team}/{service}/dependencies/source") => (
            Needs::Deploy,
            path,
            Body::Json(json!({ "source_path": "/tmp" })),
        ),
        ("POST", "/api/v1/services/{team}/{service}/dependencies/scan") => {
            (Needs::Deploy, path, Body::Empty)
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
        ("GET", "/teams/{team}/weekly-email")
        | ("GET", "/teams/{team}/weekly-email/preview")
        | ("GET", "/teams/{team}/weekly-email/chart.png") => (Needs::SignedIn, path, Body::Empty),
        ("POST", "/teams/{team}/weekly-email/schedule") => (
            Needs::TeamAdminPerson,
            path,
            form(&[
                ("weekday", "2"),
                ("hour", "9"),
                ("time_zone", "Europe/Paris"),
            ]),
        ),
        ("POST", "/teams/{team}/weekly-email/send") => (Needs::TeamAdminPerson, path, form(&[])),
        ("POST", "/teams/{team}/weekly-email/test") => (Needs::MemberPerson, path, form(&[])),
        ("POST", "/teams/{team}/weekly-email/subscription") => {
            (Needs::MemberPerson, path, form(&[("subscribed", "false")]))
        }
        ("GET" | "POST", "/unsubscribe") => (
            Needs::Public,
            format!("{path}?t={unsubscribe_token}"),
            form(&[("List-Unsubscribe", "One-Click")]),
        ),
        ("GET", "/admin/outbox") => (Needs::OrgAdmin, path, Body::Empty),
        // Authorised by the HMAC signature over the body (none configured here: 404 for all).
        ("POST", "/webhooks/github") => (Needs::Public, path, Body::Json(json!({}))),
        ("GET", "/badge/deploy.svg" | "/badge/{team}/{service}/{file}") => {
            (Needs::Public, path, Body::Empty)
        }
        ("GET", "/services/{team}/{service}/github") => {
            (Needs::SignedIn, format!("{path}?env=dev"), Body::Empty)
        }
        ("POST", "/services/{team}/{service}/github/link") => (
            Needs::DeployPerson,
            format!("{path}?env=dev"),
            form(&[
                ("repo", "acme/web"),
                ("branch", "main"),
                ("image_template", "ghcr.io/acme/web:{sha}"),
            ]),
        ),
        ("POST", "/services/{team}/{service}/github/unlink")
        | ("POST", "/services/{team}/{service}/github/deliveries/{delivery}/again") => {
            (Needs::DeployPerson, format!("{path}?env=dev"), form(&[]))
        }
        ("PUT", "/api/v1/services/{team}/{service}/{environment}/github") => (
            Needs::Deploy,
            path,
            Body::Json(json!({ "repo": "acme/web", "branch": "main",
                               "image_template": "ghcr.io/acme/web:{sha}" })),
        ),
        ("DELETE", "/api/v1/services/{team}/{service}/{environment}/github") => {
            (Needs::Deploy, path, Body::Empty)
        }
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
        "list_services" | "list_teams" | "current_user" | "load_catalogue" | "load_home" => {
            (Needs::SignedIn, Body::Empty)
        }
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
        "load_org_drift" => (Needs::SignedIn, form(&[("ecosystem", ""), ("team", "")])),
        "load_service_drift" => (
            Needs::SignedIn,
            form(&[("team", "alpha"), ("service", "web")]),
        ),
        "set_drift_source" => (
            Needs::Deploy,
            form(&[
                ("team", "alpha"),
                ("service", "web"),
                ("source_path", "/tmp"),
            ]),
        ),
        "load_deploy_button" => (Needs::SignedIn, form(&[("repo", "acme/web")])),
        "load_github_card" => (Needs::SignedIn, with(&[])),
        "scan_dependencies_now" => (
            Needs::Deploy,
            form(&[("team", "alpha"), ("service", "web")]),
        ),
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
    // The people page has forms for organisation admins, the team's e-mail page for members,
    // the service's GitHub page for its deployers.
    let mut token = String::new();
    for page in [
        "/admin/users",
        "/teams/alpha/weekly-email",
        "/services/alpha/web/github?env=dev",
    ] {
        let html = caller
            .client
            .get(app.url(page))
            .send()
            .await
            .expect("page")
            .text()
            .await
            .unwrap_or_default();
        token = html
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default()
            .to_owned();
        if !token.is_empty() {
            break;
        }
    }
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
    // A valid one-click unsubscribe link (bystander from alpha's e-mail).
    let bystander: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = 'bystander'")
        .fetch_one(&app.pool)
        .await
        .expect("bystander");
    let unsubscribe_token = canopy_server::reports::unsubscribe::UnsubscribeSigner::load(&app.pool)
        .await
        .expect("signer")
        .token(
            bystander,
            "alpha",
            time::OffsetDateTime::now_utc() + time::Duration::days(1),
        );
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
        match handler_case(&entry.method, &entry.path, victim_token, &unsubscribe_token) {
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
            let body = if (path.starts_with("/admin/")
                || path.starts_with("/teams/")
                || path.starts_with("/services/"))
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
