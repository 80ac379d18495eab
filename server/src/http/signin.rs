//! Sign-in, sign-out, invite links and the people admin pages: server-rendered HTML (askama)
//! with plain forms, so they work without JavaScript and before the wasm bundle loads.

use app::api::{
    auth::{Principal, Role},
    AppError, TeamName,
};
use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
    Form,
};
use secrecy::SecretString;
use serde::Deserialize;
use tower_sessions::Session;

use super::{
    authn::{safe_return_path, Caller},
    routes::RouteTable,
    AppState,
};
use crate::auth::{self, accounts::InviteGrant, audit::Target, AuthError, Username};

pub fn routes() -> RouteTable<AppState> {
    RouteTable::new()
        .get("/signin", signin_page)
        .post("/signin", signin)
        .post("/signout", signout)
        .post("/signout/everywhere", signout_everywhere)
        .get("/invite/{token}", invite_page)
        .post("/invite/{token}", accept_invite)
        .get("/admin/users", users_page)
        .post("/admin/invites", create_invite)
        .post("/admin/roles", set_role)
        .get("/audit", audit_page)
        .post("/auth/github/start", github_start)
        .get("/auth/github/callback", github_callback)
}

fn pkg_dir(state: &AppState) -> String {
    state.leptos_options.site_pkg_dir.to_string()
}

fn render(status: StatusCode, page: impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, "page template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SigninPage {
    pkg_dir: String,
    next: String,
    username: String,
    error: Option<String>,
    expired: bool,
    github: bool,
}

#[derive(Deserialize, Default)]
struct SigninQuery {
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    expired: Option<String>,
}

async fn signin_page(
    State(state): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    Query(query): Query<SigninQuery>,
) -> Response {
    let next = safe_return_path(query.next.as_deref().unwrap_or("/"));
    if principal.is_some() {
        return Redirect::to(&next).into_response();
    }
    render(
        StatusCode::OK,
        SigninPage {
            pkg_dir: pkg_dir(&state),
            next,
            username: String::new(),
            error: None,
            expired: query.expired.is_some(),
            github: state.identity.github.is_some(),
        },
    )
}

#[derive(Deserialize)]
struct SigninForm {
    username: String,
    password: String,
    #[serde(default)]
    next: String,
}

async fn signin(
    State(state): State<AppState>,
    session: Session,
    connect: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    Form(form): Form<SigninForm>,
) -> Response {
    let address = connect.map_or_else(|| "unknown".to_owned(), |c| c.0 .0.ip().to_string());
    let accounts = &state.identity.accounts;
    let password = SecretString::from(form.password);
    let next = safe_return_path(&form.next);
    let outcome = async {
        let user_id = accounts.verify(&form.username, &password, &address).await?;
        auth::session::sign_in(&session, accounts, user_id).await?;
        Ok::<_, AuthError>(user_id)
    }
    .await;
    let who = Principal {
        user_id: 0,
        username: form.username.trim().to_lowercase(),
        org_admin: false,
        teams: Default::default(),
        token_scope: None,
        address: Some(address),
    };
    match outcome {
        Ok(_) => {
            state
                .identity
                .audit
                .record(&who, "sign_in", Target::Org, true, "signed in")
                .await;
            Redirect::to(&next).into_response()
        }
        Err(error) => {
            let status = match &error {
                AuthError::BadCredentials => StatusCode::UNAUTHORIZED,
                AuthError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            let message = match &error {
                AuthError::BadCredentials | AuthError::RateLimited { .. } => error.to_string(),
                _ => AppError::from(error).to_string(),
            };
            state
                .identity
                .audit
                .record(&who, "sign_in", Target::Org, false, &message)
                .await;
            render(
                status,
                SigninPage {
                    pkg_dir: pkg_dir(&state),
                    next,
                    username: who.username,
                    error: Some(message),
                    expired: false,
                    github: state.identity.github.is_some(),
                },
            )
        }
    }
}

async fn signout(session: Session) -> Response {
    if let Err(error) = auth::session::sign_out(&session).await {
        tracing::warn!(%error, "sign-out could not end the session");
    }
    Redirect::to("/signin").into_response()
}

async fn signout_everywhere(
    State(state): State<AppState>,
    session: Session,
    Caller(who): Caller,
) -> Response {
    if who.token_scope.is_some() {
        return (
            StatusCode::FORBIDDEN,
            "Not allowed: an API token has no sessions to end; revoke the token instead.",
        )
            .into_response();
    }
    if let Err(error) = state
        .identity
        .accounts
        .sign_out_everywhere(who.user_id)
        .await
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            AppError::from(error).to_string(),
        )
            .into_response();
    }
    state
        .identity
        .audit
        .record(
            &who,
            "sign_out_everywhere",
            Target::Org,
            true,
            "every session ended",
        )
        .await;
    let _ = auth::session::sign_out(&session).await;
    Redirect::to("/signin").into_response()
}

#[derive(Template)]
#[template(path = "invite.html")]
struct InvitePage {
    pkg_dir: String,
    token: String,
    open: bool,
    grant: Option<String>,
    username: String,
    error: Option<String>,
}

async fn invite_page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let open = state
        .identity
        .accounts
        .invite_is_open(&token)
        .await
        .unwrap_or(false);
    render(
        if open {
            StatusCode::OK
        } else {
            StatusCode::GONE
        },
        InvitePage {
            pkg_dir: pkg_dir(&state),
            token,
            open,
            grant: None,
            username: String::new(),
            error: None,
        },
    )
}

#[derive(Deserialize)]
struct AcceptForm {
    username: String,
    password: String,
}

async fn accept_invite(
    State(state): State<AppState>,
    session: Session,
    Path(token): Path<String>,
    Form(form): Form<AcceptForm>,
) -> Response {
    let accounts = &state.identity.accounts;
    let outcome = async {
        let username = Username::parse(&form.username)?;
        let password = SecretString::from(form.password);
        let user_id = accounts.accept_invite(&token, &username, &password).await?;
        auth::session::sign_in(&session, accounts, user_id).await?;
        Ok::<_, AuthError>(username)
    }
    .await;
    match outcome {
        Ok(username) => {
            let who = Principal {
                user_id: 0,
                username: username.as_str().to_owned(),
                org_admin: false,
                teams: Default::default(),
                token_scope: None,
                address: None,
            };
            state
                .identity
                .audit
                .record(&who, "accept_invite", Target::Org, true, "account created")
                .await;
            Redirect::to("/").into_response()
        }
        Err(error) => {
            let (status, open) = match &error {
                AuthError::InviteNotValid => (StatusCode::GONE, false),
                AuthError::Invalid { .. } | AuthError::UsernameTaken(_) => {
                    (StatusCode::UNPROCESSABLE_ENTITY, true)
                }
                _ => (StatusCode::SERVICE_UNAVAILABLE, true),
            };
            render(
                status,
                InvitePage {
                    pkg_dir: pkg_dir(&state),
                    token,
                    open,
                    grant: None,
                    username: form.username,
                    error: Some(AppError::from(error).to_string()),
                },
            )
        }
    }
}

async fn csrf_token(session: &Session) -> Result<String, AuthError> {
    auth::session::csrf_token(session).await
}

async fn check_csrf(session: &Session, given: &str) -> Result<(), AppError> {
    if auth::session::csrf_matches(session, given).await? {
        Ok(())
    } else {
        Err(AppError::Forbidden {
            message: "the form's security token is missing or stale; reload the page and submit again (nothing was changed)".to_owned(),
        })
    }
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    pkg_dir: String,
    csrf: String,
    users: Vec<auth::accounts::UserInfo>,
    invite_link: Option<String>,
    error: Option<String>,
}

async fn users_view(
    state: &AppState,
    session: &Session,
    who: &Principal,
    status: StatusCode,
    invite_link: Option<String>,
    error: Option<String>,
) -> Response {
    if let Err(refused) = auth::require_org_admin(who) {
        return (StatusCode::FORBIDDEN, refused.to_string()).into_response();
    }
    let page = async {
        Ok::<_, AuthError>(UsersPage {
            pkg_dir: pkg_dir(state),
            csrf: csrf_token(session).await?,
            users: state.identity.accounts.list().await?,
            invite_link,
            error,
        })
    };
    match page.await {
        Ok(page) => render(status, page),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            AppError::from(error).to_string(),
        )
            .into_response(),
    }
}

/// A refused or failed people-page form: recorded in the audit log, shown on the page.
async fn users_error(
    state: &AppState,
    session: &Session,
    who: &Principal,
    action: &str,
    error: AppError,
) -> Response {
    state
        .identity
        .audit
        .record(who, action, Target::Org, false, &error.to_string())
        .await;
    let status = super::error::status_of(&error);
    users_view(state, session, who, status, None, Some(error.to_string())).await
}

async fn users_page(
    State(state): State<AppState>,
    session: Session,
    Caller(who): Caller,
) -> Response {
    users_view(&state, &session, &who, StatusCode::OK, None, None).await
}

#[derive(Deserialize)]
struct InviteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    team: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    org_admin: Option<String>,
}

async fn create_invite(
    State(state): State<AppState>,
    session: Session,
    headers: axum::http::HeaderMap,
    Caller(who): Caller,
    Form(form): Form<InviteForm>,
) -> Response {
    let outcome = async {
        auth::require_org_admin(&who)?;
        check_csrf(&session, &form.csrf).await?;
        let team = match form.team.trim() {
            "" => None,
            team => Some((
                TeamName::parse(team).map_err(|e| AppError::invalid(app::api::Field::Team, e))?,
                Role::parse(&form.role).ok_or_else(|| {
                    AppError::invalid(app::api::Field::Name, "role: use viewer, deployer or admin")
                })?,
            )),
        };
        let grant = InviteGrant {
            team,
            org_admin: form.org_admin.is_some(),
        };
        let token = state
            .identity
            .accounts
            .create_invite(who.user_id, &grant)
            .await?;
        Ok::<_, AppError>((token, grant))
    }
    .await;
    match outcome {
        Ok((token, grant)) => {
            let base = state.identity.base_url(&headers);
            let what = match &grant.team {
                Some((team, role)) => format!("invite as {} of {team}", role.as_str()),
                None => "invite".to_owned(),
            };
            let what = if grant.org_admin {
                format!("{what} (organisation admin)")
            } else {
                what
            };
            let target = grant
                .team
                .as_ref()
                .map_or(Target::Org, |(t, _)| Target::Team(t));
            state
                .identity
                .audit
                .record(&who, "create_invite", target, true, &what)
                .await;
            users_view(
                &state,
                &session,
                &who,
                StatusCode::CREATED,
                Some(format!("{base}/invite/{token}")),
                None,
            )
            .await
        }
        Err(error) => users_error(&state, &session, &who, "create_invite", error).await,
    }
}

#[derive(Deserialize)]
struct RoleForm {
    #[serde(default)]
    csrf: String,
    username: String,
    team: String,
    role: String,
}

async fn set_role(
    State(state): State<AppState>,
    session: Session,
    Caller(who): Caller,
    Form(form): Form<RoleForm>,
) -> Response {
    let outcome = async {
        // The people page is for organisation admins; team admins use the REST API
        // (`PUT /api/v1/teams/{team}/members/{username}`).
        auth::require_org_admin(&who)?;
        let team = TeamName::parse(form.team.trim())
            .map_err(|e| AppError::invalid(app::api::Field::Team, e))?;
        check_csrf(&session, &form.csrf).await?;
        let role = match form.role.as_str() {
            "none" => None,
            other => Some(Role::parse(other).ok_or_else(|| {
                AppError::invalid(
                    app::api::Field::Name,
                    "role: use viewer, deployer, admin or none",
                )
            })?),
        };
        let accounts = &state.identity.accounts;
        let user_id = accounts.user_id(form.username.trim()).await?;
        accounts.set_role(user_id, &team, role).await?;
        Ok::<_, AppError>((team, role))
    }
    .await;
    match outcome {
        Ok((team, role)) => {
            let result = format!(
                "{} is now {} of {team}",
                form.username.trim(),
                role.map_or("no member", Role::as_str)
            );
            state
                .identity
                .audit
                .record(&who, "set_role", Target::Team(&team), true, &result)
                .await;
            users_view(&state, &session, &who, StatusCode::OK, None, None).await
        }
        Err(error) => users_error(&state, &session, &who, "set_role", error).await,
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    pkg_dir: String,
    team: Option<String>,
    entries: Vec<auth::AuditEntry>,
}

#[derive(Deserialize)]
struct AuditQuery {
    #[serde(default)]
    team: Option<String>,
    #[serde(default)]
    service: Option<String>,
}

/// `/audit?team=&service=`: a team's (members) or the whole organisation's (org admins).
async fn audit_page(
    State(state): State<AppState>,
    Caller(who): Caller,
    Query(query): Query<AuditQuery>,
) -> Response {
    let outcome = async {
        let team = match query.team.as_deref().filter(|t| !t.is_empty()) {
            Some(team) => {
                let team = TeamName::parse(team)
                    .map_err(|e| AppError::invalid(app::api::Field::Team, e))?;
                if who.role_in(&team).is_none() {
                    return Err(AppError::Forbidden {
                        message: format!("{} is not a member of team {team}", who.username),
                    });
                }
                Some(team)
            }
            None => {
                auth::require_org_admin(&who)?;
                None
            }
        };
        let entries = state
            .identity
            .audit
            .list(
                team.as_ref(),
                query.service.as_deref().filter(|s| !s.is_empty()),
                200,
            )
            .await
            .map_err(crate::error::from_sqlx)?;
        Ok::<_, AppError>(AuditPage {
            pkg_dir: pkg_dir(&state),
            team: team.map(|t| t.to_string()),
            entries,
        })
    };
    match outcome.await {
        Ok(page) => render(StatusCode::OK, page),
        Err(error) => (super::error::status_of(&error), error.to_string()).into_response(),
    }
}

const GITHUB_PENDING: &str = "github_pending";

/// Where GitHub sends people back: `CANOPY_PUBLIC_URL`, else the request's own host.
fn github_callback_url(state: &AppState, headers: &axum::http::HeaderMap) -> String {
    format!("{}/auth/github/callback", state.identity.base_url(headers))
}

#[derive(Deserialize)]
struct GithubStartForm {
    #[serde(default)]
    next: String,
}

/// `POST /auth/github/start`: remembers `state` and the PKCE verifier in the session, then
/// sends the person to GitHub.
async fn github_start(
    State(state): State<AppState>,
    session: Session,
    headers: axum::http::HeaderMap,
    Form(form): Form<GithubStartForm>,
) -> Response {
    let Some(github) = &state.identity.github else {
        return (
            StatusCode::NOT_FOUND,
            "GitHub sign-in is not configured on this Canopy (CANOPY_GITHUB_CLIENT_ID).",
        )
            .into_response();
    };
    let (url, pending) = github.start(
        &github_callback_url(&state, &headers),
        safe_return_path(&form.next),
    );
    if let Err(error) = session.insert(GITHUB_PENDING, pending).await {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            AppError::from(AuthError::from(error)).to_string(),
        )
            .into_response();
    }
    Redirect::to(url.as_str()).into_response()
}

#[derive(Deserialize)]
struct GithubCallback {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// `GET /auth/github/callback`: GitHub's answer. Signs the person in (a new session id) with
/// their roles from the organisation's teams, or says plainly why not.
async fn github_callback(
    State(state): State<AppState>,
    session: Session,
    headers: axum::http::HeaderMap,
    Query(answer): Query<GithubCallback>,
) -> Response {
    let Some(github) = state.identity.github.clone() else {
        return (
            StatusCode::NOT_FOUND,
            "GitHub sign-in is not configured on this Canopy.",
        )
            .into_response();
    };
    let pending = session
        .remove::<auth::github::PendingSignIn>(GITHUB_PENDING)
        .await
        .ok()
        .flatten();
    let accounts = &state.identity.accounts;
    let outcome = async {
        if let Some(error) = answer.error {
            return Err(SigninFailure::Github(auth::github::GithubError::Denied(
                answer.error_description.unwrap_or(error),
            )));
        }
        let (Some(pending), Some(code), Some(returned)) = (pending, answer.code, answer.state)
        else {
            return Err(SigninFailure::Github(
                auth::github::GithubError::StateMismatch,
            ));
        };
        let (identity, token) = github
            .finish(
                &pending,
                &returned,
                &code,
                &github_callback_url(&state, &headers),
            )
            .await
            .map_err(SigninFailure::Github)?;
        let user_id = accounts
            .upsert_github_user(&identity)
            .await
            .map_err(SigninFailure::Auth)?;
        auth::session::sign_in_github(&session, accounts, user_id, &token)
            .await
            .map_err(SigninFailure::Auth)?;
        Ok((identity, pending.next))
    }
    .await;
    match outcome {
        Ok((identity, next)) => {
            let who = Principal {
                user_id: 0,
                username: identity.login.to_lowercase(),
                org_admin: identity.org_admin,
                teams: Default::default(),
                token_scope: None,
                address: None,
            };
            let teams: Vec<String> = identity
                .teams
                .iter()
                .map(|(team, role)| format!("{team}: {}", role.as_str()))
                .collect();
            state
                .identity
                .audit
                .record(
                    &who,
                    "sign_in_github",
                    Target::Org,
                    true,
                    &format!("signed in; teams {}", teams.join(", ")),
                )
                .await;
            Redirect::to(&next).into_response()
        }
        Err(failure) => {
            let (status, message) = match &failure {
                SigninFailure::Github(auth::github::GithubError::Unreachable { .. })
                | SigninFailure::Github(auth::github::GithubError::Api(_)) => {
                    tracing::warn!(error = %failure, "GitHub sign-in failed");
                    (StatusCode::BAD_GATEWAY, failure.to_string())
                }
                SigninFailure::Auth(AuthError::Invalid { .. }) => {
                    (StatusCode::CONFLICT, failure.to_string())
                }
                SigninFailure::Auth(_) => (StatusCode::SERVICE_UNAVAILABLE, failure.to_string()),
                SigninFailure::Github(_) => (StatusCode::FORBIDDEN, failure.to_string()),
            };
            render(
                status,
                SigninPage {
                    pkg_dir: pkg_dir(&state),
                    next: "/".to_owned(),
                    username: String::new(),
                    error: Some(message),
                    expired: false,
                    github: true,
                },
            )
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum SigninFailure {
    #[error(transparent)]
    Github(auth::github::GithubError),
    #[error("{0}")]
    Auth(AuthError),
}
