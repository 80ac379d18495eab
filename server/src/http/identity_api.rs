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
use serde::{Deserialize, Serialize};

use super::{
    authn::Caller,
    error::{ApiError, ApiResult, ErrorBody},
    routes::RouteTable,
    AppState,
};
use crate::auth::{
    self,
    accounts::InviteGrant,
    audit::Target,
    tokens::{CreatedApiToken, TokenInfo, TokenOwner},
};

/// The identity routes' part of the REST API's description (`http/openapi.rs`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    create_invite,
    set_member,
    remove_member,
    create_token,
    list_tokens,
    revoke_token,
    audit
))]
pub(super) struct Doc;

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

/// An invite: optionally a role in one team, optionally organisation admin.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct InviteBody {
    /// The team the new person gets a role in (with `role`).
    #[serde(default)]
    #[schema(value_type = Option<TeamName>)]
    team: Option<String>,
    /// Their role in `team`.
    #[serde(default)]
    #[schema(value_type = Option<Role>)]
    role: Option<String>,
    #[serde(default)]
    org_admin: bool,
}

/// A new invite link, shown once.
#[derive(Serialize, utoipa::ToSchema)]
struct InviteCreated {
    token: String,
    /// The sign-up link to send (`<public URL>/invite/<token>`); it works once.
    link: String,
    valid_for_days: i64,
}

/// `POST /invites`: a single-use sign-up link (organisation admins).
#[utoipa::path(
    post,
    path = "/api/v1/invites",
    tag = "identity",
    request_body = InviteBody,
    responses(
        (status = 201, description = "The invite link, shown once", body = InviteCreated),
        (status = 403, description = "The caller is not an organisation admin", body = ErrorBody),
        (status = 422, description = "A bad team, role or body", body = ErrorBody),
    )
)]
async fn create_invite(
    State(state): State<AppState>,
    Caller(who): Caller,
    headers: HeaderMap,
    body: Result<Json<InviteBody>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<InviteCreated>)> {
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
        Json(InviteCreated {
            link: format!("{base}/invite/{token}"),
            token,
            valid_for_days: auth::accounts::INVITE_VALID_FOR.whole_days(),
        }),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct MemberBody {
    #[schema(value_type = Role)]
    role: String,
}

/// A person's role in a team after a change (`null`: no longer a member).
#[derive(Serialize, utoipa::ToSchema)]
struct Membership {
    team: TeamName,
    username: String,
    role: Option<Role>,
}

async fn change_member(
    state: &AppState,
    who: &Principal,
    team: &TeamName,
    username: &str,
    role: Option<Role>,
) -> ApiResult<Json<Membership>> {
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
    Ok(Json(Membership {
        team: team.clone(),
        username: username.to_owned(),
        role,
    }))
}

/// `PUT /teams/{team}/members/{username}` `{"role": "deployer"}` (team admins).
#[utoipa::path(
    put,
    path = "/api/v1/teams/{team}/members/{username}",
    tag = "identity",
    params(
        ("team" = TeamName, Path, description = "The team"),
        ("username" = String, Path, description = "A person's username"),
    ),
    request_body = MemberBody,
    responses(
        (status = 200, description = "The person's role now", body = Membership),
        (status = 403, description = "The caller is not an admin of the team", body = ErrorBody),
        (status = 404, description = "No such person", body = ErrorBody),
        (status = 422, description = "A bad team, role or body", body = ErrorBody),
    )
)]
async fn set_member(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((team_name, username)): Path<(String, String)>,
    body: Result<Json<MemberBody>, JsonRejection>,
) -> ApiResult<Json<Membership>> {
    let Json(body) = body?;
    let team = team(&team_name)?;
    let role =
        Role::parse(&body.role).ok_or_else(|| refused("role", "use viewer, deployer or admin"))?;
    change_member(&state, &who, &team, &username, Some(role)).await
}

/// `DELETE /teams/{team}/members/{username}`: removes a person from the team (team admins).
#[utoipa::path(
    delete,
    path = "/api/v1/teams/{team}/members/{username}",
    tag = "identity",
    params(
        ("team" = TeamName, Path, description = "The team"),
        ("username" = String, Path, description = "A person's username"),
    ),
    responses(
        (status = 200, description = "Removed (`role` is null)", body = Membership),
        (status = 403, description = "The caller is not an admin of the team", body = ErrorBody),
        (status = 404, description = "No such person", body = ErrorBody),
        (status = 422, description = "Not a team name", body = ErrorBody),
    )
)]
async fn remove_member(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((team_name, username)): Path<(String, String)>,
) -> ApiResult<Json<Membership>> {
    let team = team(&team_name)?;
    change_member(&state, &who, &team, &username, None).await
}

/// A new API token: what it is for, what it may do, whose it is, how long it lasts.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    /// A name to recognise it by (`ci-deploy`).
    name: String,
    /// `read`, `deploy` or `admin`: the most the token may do (never more than its owner).
    #[schema(value_type = Scope)]
    scope: String,
    /// A team's token (needs the team's admin role); without it, your own.
    #[serde(default)]
    #[schema(value_type = Option<TeamName>)]
    team: Option<String>,
    /// 1-365 days; left out: no expiry.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 365)]
    expires_in_days: Option<u16>,
}

/// `POST /tokens`: a new API token, shown once.
#[utoipa::path(
    post,
    path = "/api/v1/tokens",
    tag = "identity",
    request_body = TokenBody,
    responses(
        (status = 201, description = "The token, shown once: keep it secret", body = CreatedApiToken),
        (status = 403, description = "A token asked (tokens cannot make tokens), or the caller is not an admin of `team`", body = ErrorBody),
        (status = 422, description = "A bad scope, team, expiry or body", body = ErrorBody),
    )
)]
async fn create_token(
    State(state): State<AppState>,
    Caller(who): Caller,
    body: Result<Json<TokenBody>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<CreatedApiToken>)> {
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
    Ok((StatusCode::CREATED, Json(created)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct TokensQuery {
    /// A team's tokens (its admins) instead of your own.
    #[serde(default)]
    #[param(value_type = Option<TeamName>)]
    team: Option<String>,
}

/// `GET /tokens[?team=]`: your tokens, or a team's (its admins).
#[utoipa::path(
    get,
    path = "/api/v1/tokens",
    tag = "identity",
    params(TokensQuery),
    responses(
        (status = 200, description = "The tokens (never the tokens themselves)", body = Vec<TokenInfo>),
        (status = 403, description = "The caller is not an admin of `team`", body = ErrorBody),
        (status = 422, description = "A bad team or query", body = ErrorBody),
    )
)]
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

/// What a revoke did.
#[derive(Serialize, utoipa::ToSchema)]
struct Revoked {
    /// The revoked token's id.
    revoked: i64,
}

/// `DELETE /tokens/{id}`: revokes a token (its owner, the team's admins, or an org admin).
#[utoipa::path(
    delete,
    path = "/api/v1/tokens/{id}",
    tag = "identity",
    params(("id" = i64, Path, description = "The token's id")),
    responses(
        (status = 200, description = "Revoked", body = Revoked),
        (status = 403, description = "The caller may not revoke this token", body = ErrorBody),
        (status = 404, description = "No such token", body = ErrorBody),
    )
)]
async fn revoke_token(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<Revoked>> {
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
    Ok(Json(Revoked { revoked: id }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    /// A team's entries (its members); without it, everything (organisation admins).
    #[serde(default)]
    #[param(value_type = Option<TeamName>)]
    team: Option<String>,
    /// Only this service's entries.
    #[serde(default)]
    service: Option<String>,
}

/// `GET /audit[?team=&service=]`: a team's (its members) or everything (organisation admins).
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "identity",
    params(AuditQuery),
    responses(
        (status = 200, description = "The newest 500 entries, newest first", body = Vec<auth::AuditEntry>),
        (status = 403, description = "Not a member of `team`, or without it not an organisation admin", body = ErrorBody),
        (status = 422, description = "A bad team or query", body = ErrorBody),
    )
)]
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
