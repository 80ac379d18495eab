//! Sign-in with GitHub against a local GitHub double (wiremock) that answers the OAuth and API
//! endpoints Canopy uses with payloads shaped like GitHub's: the whole flow with state and PKCE,
//! roles from the organisation's teams, a denied consent, a forged state, and a person who is
//! not in the organisation.

use canopy_server::{auth::github::GithubSettings, config::IdentitySettings};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use wiremock::{
    matchers::{body_string_contains, header, method, path},
    Mock, MockServer, ResponseTemplate,
};

use crate::support::{browser_client, TestApp};

const ORG: &str = "acme";
const TOKEN: &str = "gho_16C7e42F292c6912E7710c838347Ae178B4a";

fn user_payload(login: &str, id: i64) -> Value {
    json!({
        "login": login, "id": id, "node_id": "MDQ6VXNlcjE=",
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "gravatar_id": "", "url": format!("https://api.github.com/users/{login}"),
        "html_url": format!("https://github.com/{login}"), "type": "User", "site_admin": false,
        "name": "Ana Lopez", "company": "@acme", "blog": "", "location": "Lisbon",
        "email": null, "hireable": null, "bio": null, "public_repos": 12, "followers": 3,
        "following": 1, "created_at": "2015-03-02T10:11:12Z", "updated_at": "2026-10-01T09:00:00Z"
    })
}

/// A GitHub double for one person: `member_of_org` decides the org membership answer.
async fn github_double(login: &str, member_of_org: bool) -> MockServer {
    let github = MockServer::start().await;
    mount_github(
        &github,
        login,
        member_of_org,
        &[("payments", "maintainer"), ("search", "member")],
    )
    .await;
    github
}

/// What the double answers: the person, their membership, and their teams with their roles.
async fn mount_github(
    github: &MockServer,
    login: &str,
    member_of_org: bool,
    teams: &[(&str, &str)],
) {
    Mock::given(method("POST"))
        .and(path("/login/oauth/access_token"))
        .and(body_string_contains("code=the-code"))
        .and(body_string_contains("code_verifier="))
        .and(body_string_contains("client_secret=shh-secret"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": TOKEN, "token_type": "bearer", "scope": "read:org,read:user,user:email"
        })))
        .mount(github)
        .await;
    Mock::given(method("POST"))
        .and(path("/login/oauth/access_token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "error": "bad_verification_code",
            "error_description": "The code passed is incorrect or expired.",
            "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code"
        })))
        .mount(github)
        .await;
    let authorized = header("authorization", format!("Bearer {TOKEN}").as_str());
    Mock::given(method("GET"))
        .and(path("/user"))
        .and(authorized)
        .respond_with(ResponseTemplate::new(200).set_body_json(user_payload(login, 583231)))
        .mount(github)
        .await;
    Mock::given(method("GET"))
        .and(path("/user/emails"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            { "email": "old@example.com", "primary": false, "verified": true, "visibility": null },
            { "email": "ana@acme.example", "primary": true, "verified": true, "visibility": "private" }
        ])))
        .mount(github)
        .await;
    let membership = if member_of_org {
        ResponseTemplate::new(200).set_body_json(json!({
            "url": format!("https://api.github.com/orgs/{ORG}/memberships/{login}"),
            "state": "active", "role": "member",
            "organization_url": format!("https://api.github.com/orgs/{ORG}"),
            "organization": { "login": ORG, "id": 1, "node_id": "MDEyOk9yZ2FuaXphdGlvbjE=" },
            "user": { "login": login, "id": 583231 }
        }))
    } else {
        ResponseTemplate::new(404).set_body_json(json!({
            "message": "Not Found",
            "documentation_url": "https://docs.github.com/rest/orgs/members#get-an-organization-membership-for-the-authenticated-user",
            "status": "404"
        }))
    };
    Mock::given(method("GET"))
        .and(path(format!("/user/memberships/orgs/{ORG}")))
        .respond_with(membership)
        .mount(github)
        .await;
    Mock::given(method("GET"))
        .and(path("/user/teams"))
        .respond_with(ResponseTemplate::new(200).set_body_json({
            let mut listed: Vec<Value> = teams
                .iter()
                .enumerate()
                .map(|(i, (slug, _))| {
                    json!({ "id": i + 1, "node_id": format!("T{i}"), "name": slug,
                    "slug": slug, "privacy": "closed", "permission": "pull",
                    "organization": { "login": ORG, "id": 1 } })
                })
                .collect();
            listed.push(
                json!({ "id": 99, "node_id": "T99", "name": "Elsewhere", "slug": "elsewhere",
                "privacy": "closed", "permission": "pull",
                "organization": { "login": "another-org", "id": 9 } }),
            );
            Value::Array(listed)
        }))
        .mount(github)
        .await;
    for (team, role) in teams {
        Mock::given(method("GET"))
            .and(path(format!(
                "/orgs/{ORG}/teams/{team}/memberships/{login}"
            )))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "url": format!("https://api.github.com/teams/1/memberships/{login}"),
                "role": role, "state": "active"
            })))
            .mount(github)
            .await;
    }
}

async fn canopy_with(github: &MockServer) -> TestApp {
    canopy_refreshing(github, time::Duration::hours(1)).await
}

async fn canopy_refreshing(github: &MockServer, refresh_every: time::Duration) -> TestApp {
    let mut identity = IdentitySettings::from_lookup(|_| None).expect("defaults");
    identity.github = Some(GithubSettings {
        client_id: "Iv1.8a61f9b3a7aba766".into(),
        client_secret: SecretString::from("shh-secret".to_owned()),
        org: ORG.into(),
        web_url: url::Url::parse(&github.uri()).expect("url"),
        api_url: url::Url::parse(&github.uri()).expect("url"),
        refresh_every,
    });
    TestApp::spawn_with(
        std::path::PathBuf::from("/nonexistent-canopy-site"),
        identity,
    )
    .await
}

/// Starts the flow as the sign-in page's button does; returns the authorize URL's query.
async fn start(
    app: &TestApp,
    client: &reqwest::Client,
    next: &str,
) -> std::collections::HashMap<String, String> {
    let response = client
        .post(app.url("/auth/github/start"))
        .form(&[("next", next)])
        .send()
        .await
        .expect("start");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location =
        url::Url::parse(response.headers()["location"].to_str().expect("location")).expect("url");
    assert_eq!(location.path(), "/login/oauth/authorize");
    location.query_pairs().into_owned().collect()
}

/// GitHub sending the person back with `code` and `state`.
async fn callback(
    app: &TestApp,
    client: &reqwest::Client,
    code: &str,
    state: &str,
) -> reqwest::Response {
    client
        .get(app.url(&format!("/auth/github/callback?code={code}&state={state}")))
        .send()
        .await
        .expect("callback")
}

#[tokio::test]
async fn a_member_signs_in_with_github_and_gets_roles_from_the_org_s_teams() {
    let github = github_double("Ana-Lopez", true).await;
    let app = canopy_with(&github).await;
    let client = browser_client(&app.base);
    let query = start(&app, &client, "/teams/payments").await;
    assert_eq!(query["client_id"], "Iv1.8a61f9b3a7aba766");
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["redirect_uri"], app.url("/auth/github/callback"));

    let back = callback(&app, &client, "the-code", &query["state"]).await;
    assert_eq!(
        back.status(),
        StatusCode::SEE_OTHER,
        "{:?}",
        back.text().await
    );
    assert_eq!(back.headers()["location"], "/teams/payments");

    // PKCE: the verifier sent with the code hashes to the challenge sent to GitHub first.
    let requests = github.received_requests().await.expect("recorded");
    let exchange = requests
        .iter()
        .find(|r| r.url.path() == "/login/oauth/access_token")
        .expect("token exchange");
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(&exchange.body)
            .into_owned()
            .collect();
    let challenge = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        Sha256::digest(form["code_verifier"].as_bytes()),
    );
    assert_eq!(challenge, query["code_challenge"]);

    // Signed in, with the org's teams as roles (maintainer = admin, member = deployer), the
    // other organisation's team ignored, and the verified primary e-mail kept.
    let me: Value = client
        .post(app.url("/api/fn/current_user"))
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(me["username"], "ana-lopez");
    assert_eq!(me["org_admin"], false);
    assert_eq!(
        me["teams"],
        json!({ "payments": "admin", "search": "deployer" })
    );
    let email: Option<String> =
        sqlx::query_scalar("SELECT email FROM users WHERE github_id = 583231")
            .fetch_one(&app.pool)
            .await
            .expect("user");
    assert_eq!(email.as_deref(), Some("ana@acme.example"));

    // A second sign-in replaces GitHub's roles, and keeps the one account.
    let client2 = browser_client(&app.base);
    let query = start(&app, &client2, "/").await;
    let again = callback(&app, &client2, "the-code", &query["state"]).await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE github_id = 583231")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(accounts, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_denied_consent_a_forged_state_and_a_bad_code_sign_nobody_in() {
    let github = github_double("ana-lopez", true).await;
    let app = canopy_with(&github).await;
    let client = browser_client(&app.base);
    let query = start(&app, &client, "/").await;

    let denied = client
        .get(app.url(&format!(
            "/auth/github/callback?error=access_denied&error_description=The+user+has+denied+your+application+access.&state={}",
            query["state"]
        )))
        .send()
        .await
        .expect("callback");
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    assert!(denied
        .text()
        .await
        .expect("page")
        .contains("GitHub sign-in was cancelled"));

    // The pending sign-in was used up: a replayed or forged state is refused.
    let query = start(&app, &client, "/").await;
    let forged = client
        .get(app.url("/auth/github/callback?code=the-code&state=made-up-by-an-attacker"))
        .send()
        .await
        .expect("callback");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(forged
        .text()
        .await
        .expect("page")
        .contains("did not start here"));

    let query2 = start(&app, &client, "/").await;
    let bad_code = callback(&app, &client, "expired-code", &query2["state"]).await;
    assert_eq!(bad_code.status(), StatusCode::FORBIDDEN);
    assert!(bad_code
        .text()
        .await
        .expect("page")
        .contains("The code passed is incorrect or expired."));
    let _ = query;

    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE github_id IS NOT NULL")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(users, 0, "nobody was signed in or created");
    app.stop().await;
}

#[tokio::test]
async fn someone_outside_the_organisation_is_told_so_and_not_created() {
    let github = github_double("stranger", false).await;
    let app = canopy_with(&github).await;
    let client = browser_client(&app.base);
    let query = start(&app, &client, "/").await;
    let back = callback(&app, &client, "the-code", &query["state"]).await;
    assert_eq!(back.status(), StatusCode::FORBIDDEN);
    let page = back.text().await.expect("page");
    assert!(
        page.contains("stranger is not a member of the GitHub organisation acme"),
        "{page}"
    );
    let users: i64 =
        sqlx::query_scalar("SELECT count(*) FROM users WHERE github_login = 'stranger'")
            .fetch_one(&app.pool)
            .await
            .expect("count");
    assert_eq!(users, 0);
    let page = client.get(app.url("/services")).send().await.expect("GET");
    assert_eq!(page.status(), StatusCode::SEE_OTHER, "still signed out");
    app.stop().await;
}

#[tokio::test]
async fn roles_follow_the_organisation_between_sign_ins_and_leaving_it_signs_out() {
    let github = github_double("ana-lopez", true).await;
    // Refresh on every request, so the test need not wait an hour.
    let app = canopy_refreshing(&github, time::Duration::ZERO).await;
    let client = browser_client(&app.base);
    let query = start(&app, &client, "/").await;
    assert_eq!(
        callback(&app, &client, "the-code", &query["state"])
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    let teams = |client: reqwest::Client| {
        let url = app.url("/api/fn/current_user");
        async move {
            let me: Value = client
                .post(url)
                .send()
                .await
                .expect("me")
                .json()
                .await
                .expect("json");
            me["teams"].clone()
        }
    };
    assert_eq!(
        teams(client.clone()).await,
        json!({ "payments": "admin", "search": "deployer" })
    );

    // At GitHub, Ana leaves the payments team: the next request sees it.
    github.reset().await;
    mount_github(&github, "ana-lopez", true, &[("search", "member")]).await;
    assert_eq!(teams(client.clone()).await, json!({ "search": "deployer" }));

    // Ana leaves the organisation: her session ends.
    github.reset().await;
    mount_github(&github, "ana-lopez", false, &[]).await;
    let page = client.get(app.url("/services")).send().await.expect("GET");
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert!(page.headers()["location"]
        .to_str()
        .expect("location")
        .starts_with("/signin?next="));
    app.stop().await;
}
