//! The people page (`/admin/users`: invite links, roles) and the audit log page (`/audit`):
//! server-rendered, with plain forms that carry the session's anti-forgery token.

use app::api::{
    auth::{Principal, Role},
    AppError, TeamName,
};
use askama::Template;
use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Form,
};
use serde::Deserialize;
use tower_sessions::Session;

use super::{
    authn::{check_csrf, Caller},
    routes::RouteTable,
    signin::{pkg_dir, render},
    AppState,
};
use crate::auth::{self, accounts::InviteGrant, audit::Target, AuthError};

pub(super) fn routes() -> RouteTable<AppState> {
    RouteTable::new()
        .get("/admin/users", users_page)
        .post("/admin/invites", create_invite)
        .post("/admin/roles", set_role)
        .get("/audit", audit_page)
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
            csrf: auth::session::csrf_token(session).await?,
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
