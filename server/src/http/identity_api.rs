//! People, team members, API tokens and the audit log over the REST API (`/api/v1`), for
//! scripts and for setting Canopy up: invites (organisation admins), members (team admins),
//! tokens (your own, or a team's as its admin), and the audit log (members read their team's,
//! organisation admins everything).

use app::api::{
    auth::{Permission, Principal, Role, Scope},
    AppError, Field, TeamName,
};
use axum::{
    extract::{rejection::JsonRejection, Path, Query, State},
    http::{HeaderMap, StatusCode},
    Json,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    authn::Caller,
    error::{ApiError, ApiResult},
    routes::RouteTable,
    AppState,
};
use crate::auth::{
    self,
    accounts::InviteGrant,
    audit::Target,
    tokens::{TokenInfo, TokenOwner},
};

pub fn routes() -> RouteTable<AppState> {
    const MEMBER: &str = "/teams/{team}/members/{username}";
    RouteTable::new()
        .post("/invites", create_invite)
        .put(MEMBER, set_member)
        .delete(MEMBER, remove_member)
        .post("/tokens", create_token)
        .get("/tokens", list_tokens)
        .delete("/tokens/{id}", revoke_token)
        .get("/audit", audit)
}

fn team(raw: &str) -> Result<TeamName, ApiError> {
    TeamName::parse(raw.trim()).map_err(|e| ApiError::App(AppError::invalid(Field::Team, e)))
}

fn refused(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::App(AppError::InvalidSpec {
        errors: vec![app::api::spec::SpecError {
            field: field.to_owned(),
            message: message.into(),
        }],
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InviteBody {
    #[serde(default)]
    team: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    org_admin: bool,
}

/// `POST /invites`: a single-use sign-up link (organisation admins).
async fn create_invite(
    State(state): State<AppState>,
    Caller(who): Caller,
    headers: HeaderMap,
    body: Result<Json<InviteBody>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let Json(body) = body?;
    if let Err(error) = auth::require_org_admin(&who) {
        state
            .identity
            .audit
            .record(
                &who,
                "create_invite",
                Target::Org,
                false,
                &error.to_string(),
            )
            .await;
        return Err(error.into());
    }
    let grant_team = match (body.team.as_deref(), body.role.as_deref()) {
        (None, None) => None,
        (Some(t), Some(r)) => Some((
            team(t)?,
            Role::parse(r).ok_or_else(|| refused("role", "use viewer, deployer or admin"))?,
        )),
        (Some(_), None) => {
            return Err(refused(
                "role",
                "give the role in that team: viewer, deployer or admin",
            ))
        }
        (None, Some(_)) => return Err(refused("team", "a role needs the team it is in")),
    };
    let grant = InviteGrant {
        team: grant_team,
        org_admin: body.org_admin,
    };
    let token = state
        .identity
        .accounts
        .create_invite(who.user_id, &grant)
        .await
        .map_err(AppError::from)?;
    let base = state.identity.base_url(&headers);
    let target = grant
        .team
        .as_ref()
        .map_or(Target::Org, |(team, _)| Target::Team(team));
    state
        .identity
        .audit
        .record(&who, "create_invite", target, true, "invite link created")
        .await;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "token": token,
            "link": format!("{base}/invite/{token}"),
            "valid_for_days": auth::accounts::INVITE_VALID_FOR.whole_days(),
        })),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberBody {
    role: String,
}

async fn change_member(
    state: &AppState,
    who: &Principal,
    team: &TeamName,
    username: &str,
    role: Option<Role>,
) -> ApiResult<Json<Value>> {
    let action = "set_role";
    if let Err(error) = who.require(team, Permission::Admin) {
        state
            .identity
            .audit
            .record(who, action, Target::Team(team), false, &error.to_string())
            .await;
        return Err(error.into());
    }
    let accounts = &state.identity.accounts;
    let user_id = accounts.user_id(username).await.map_err(AppError::from)?;
    accounts
        .set_role(user_id, team, role)
        .await
        .map_err(AppError::from)?;
    let result = format!(
        "{username} is now {} of {team}",
        role.map_or("no member", Role::as_str)
    );
    state
        .identity
        .audit
        .record(who, action, Target::Team(team), true, &result)
        .await;
    Ok(Json(
        json!({ "team": team, "username": username, "role": role }),
    ))
}

/// `PUT /teams/{team}/members/{username}` `{"role": "deployer"}` (team admins).
async fn set_member(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((team_name, username)): Path<(String, String)>,
    body: Result<Json<MemberBody>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let Json(body) = body?;
    let team = team(&team_name)?;
    let role =
        Role::parse(&body.role).ok_or_else(|| refused("role", "use viewer, deployer or admin"))?;
    change_member(&state, &who, &team, &username, Some(role)).await
}

async fn remove_member(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((team_name, username)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let team = team(&team_name)?;
    change_member(&state, &who, &team, &username, None).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    name: String,
    scope: String,
    /// A team's token (needs the team's admin role); without it, your own.
    #[serde(default)]
    team: Option<String>,
    #[serde(default)]
    expires_in_days: Option<u16>,
}

/// `POST /tokens`: a new API token, shown once.
async fn create_token(
    State(state): State<AppState>,
    Caller(who): Caller,
    body: Result<Json<TokenBody>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let Json(body) = body?;
    let scope =
        Scope::parse(&body.scope).ok_or_else(|| refused("scope", "use read, deploy or admin"))?;
    if who.token_scope.is_some() {
        return Err(ApiError::App(AppError::Forbidden {
            message: "tokens cannot make tokens: sign in to create one".to_owned(),
        }));
    }
    let owner = match body.team.as_deref() {
        Some(raw) => {
            let team = team(raw)?;
            who.require(&team, Permission::Admin)?;
            TokenOwner::Team(team)
        }
        None => TokenOwner::User(who.user_id),
    };
    let valid_for = match body.expires_in_days {
        None => None,
        Some(days @ 1..=365) => Some(time::Duration::days(i64::from(days))),
        Some(_) => {
            return Err(refused(
                "expires_in_days",
                "use 1 to 365 days, or leave it out for no expiry",
            ))
        }
    };
    let created = state
        .identity
        .tokens
        .create(who.user_id, &owner, &body.name, scope, valid_for)
        .await
        .map_err(AppError::from)?;
    let target = match &owner {
        TokenOwner::Team(team) => Target::Team(team),
        TokenOwner::User(_) => Target::Org,
    };
    state
        .identity
        .audit
        .record(
            &who,
            "create_token",
            target,
            true,
            &format!(
                "token {} ({}), scope {}",
                created.id,
                body.name.trim(),
                scope.as_str()
            ),
        )
        .await;
    Ok((StatusCode::CREATED, Json(json!(created))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensQuery {
    #[serde(default)]
    team: Option<String>,
}

/// `GET /tokens[?team=]`: your tokens, or a team's (its admins).
async fn list_tokens(
    State(state): State<AppState>,
    Caller(who): Caller,
    query: Result<Query<TokensQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<TokenInfo>>> {
    let Query(query) = query?;
    let owner = match query.team.as_deref() {
        Some(raw) => {
            let team = team(raw)?;
            who.require(&team, Permission::Admin)?;
            TokenOwner::Team(team)
        }
        None => TokenOwner::User(who.user_id),
    };
    Ok(Json(
        state
            .identity
            .tokens
            .list(&owner)
            .await
            .map_err(AppError::from)?,
    ))
}

/// `DELETE /tokens/{id}`: revokes a token (its owner, the team's admins, or an org admin).
async fn revoke_token(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let tokens = &state.identity.tokens;
    let owner = tokens.owner_of(id).await.map_err(AppError::from)?;
    let allowed = match &owner {
        TokenOwner::User(user) => *user == who.user_id || who.may_administer_org(),
        TokenOwner::Team(team) => who.may(team, Permission::Admin),
    };
    let target = match &owner {
        TokenOwner::Team(team) => Target::Team(team),
        TokenOwner::User(_) => Target::Org,
    };
    if !allowed {
        let error = AppError::Forbidden {
            message: format!("{} may not revoke token {id}", who.username),
        };
        state
            .identity
            .audit
            .record(&who, "revoke_token", target, false, &error.to_string())
            .await;
        return Err(error.into());
    }
    tokens.revoke(id).await.map_err(AppError::from)?;
    state
        .identity
        .audit
        .record(
            &who,
            "revoke_token",
            target,
            true,
            &format!("token {id} revoked"),
        )
        .await;
    Ok(Json(json!({ "revoked": id })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    #[serde(default)]
    team: Option<String>,
    #[serde(default)]
    service: Option<String>,
}

/// `GET /audit[?team=&service=]`: a team's (its members) or everything (organisation admins).
async fn audit(
    State(state): State<AppState>,
    Caller(who): Caller,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<auth::AuditEntry>>> {
    let Query(query) = query?;
    let team = match query.team.as_deref() {
        Some(raw) => {
            let team = team(raw)?;
            if who.role_in(&team).is_none() {
                return Err(ApiError::App(AppError::Forbidden {
                    message: format!("{} is not a member of team {team}", who.username),
                }));
            }
            Some(team)
        }
        None => {
            auth::require_org_admin(&who)?;
            None
        }
    };
    Ok(Json(
        state
            .identity
            .audit
            .list(team.as_ref(), query.service.as_deref(), 500)
            .await
            .map_err(crate::error::from_sqlx)?,
    ))
}
