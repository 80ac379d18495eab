//! Per-team quotas over the REST API (`/api/v1/teams/{team}/quota`, bearer token like the rest
//! of `/api/v1`): read, change (fields left out keep their value), reset to the default.

use app::api::{AppError, Field, TeamName};
use axum::{
    extract::{rejection::JsonRejection, Path, State},
    Json,
};
use serde::Serialize;

use super::{api::ApiError, authn::Caller, error::ErrorBody, routes::RouteTable, AppState};
use crate::deploy::{
    quota::{QuotaChange, QuotaSource, QuotaView},
    quota_admin::QuotaUpdate,
};

pub fn routes() -> RouteTable<AppState> {
    const QUOTA: &str = "/teams/{team}/quota";
    RouteTable::new()
        .get(QUOTA, get_quota)
        .put(QUOTA, put_quota)
        .delete(QUOTA, reset_quota)
}

/// The quota routes' part of the REST API's description (`http/openapi.rs`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(get_quota, put_quota, reset_quota))]
pub(super) struct Doc;

fn team_name(raw: &str) -> Result<TeamName, ApiError> {
    TeamName::parse(raw).map_err(|e| ApiError::App(AppError::invalid(Field::Team, e)))
}

/// A team's quota and whether it is the team's own or the default.
#[derive(Serialize, utoipa::ToSchema)]
struct QuotaAnswer {
    team: String,
    quota: QuotaView,
    source: QuotaSource,
}

/// The team's quota (its own, or the default).
#[utoipa::path(
    get,
    path = "/api/v1/teams/{team}/quota",
    tag = "quotas",
    params(("team" = TeamName, Path, description = "The team")),
    responses(
        (status = 200, description = "The quota", body = QuotaAnswer),
        (status = 403, description = "The caller is not a member of the team", body = ErrorBody),
        (status = 422, description = "Not a team name", body = ErrorBody),
    )
)]
async fn get_quota(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(team): Path<String>,
) -> Result<Json<QuotaAnswer>, ApiError> {
    let team = team_name(&team)?;
    let (quota, source) = state.commands.team_quota(&who, &team).await?;
    Ok(Json(QuotaAnswer {
        team: team.to_string(),
        quota: quota.into(),
        source,
    }))
}

/// Changes the team's quota (fields left out keep their value) and applies it at once to the
/// team's existing namespaces.
#[utoipa::path(
    put,
    path = "/api/v1/teams/{team}/quota",
    tag = "quotas",
    params(("team" = TeamName, Path, description = "The team")),
    request_body = QuotaChange,
    responses(
        (status = 200, description = "The new quota, where it was applied, and warnings", body = QuotaUpdate),
        (status = 403, description = "The caller is not an admin of the team", body = ErrorBody),
        (status = 422, description = "A refused amount (`invalid_spec` lists each), or a bad body", body = ErrorBody),
    )
)]
async fn put_quota(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(team): Path<String>,
    body: Result<Json<QuotaChange>, JsonRejection>,
) -> Result<Json<QuotaUpdate>, ApiError> {
    let team = team_name(&team)?;
    let Json(change) = body?;
    Ok(Json(
        state.commands.set_team_quota(&who, &team, &change).await?,
    ))
}

/// Puts the team back on the default quota.
#[utoipa::path(
    delete,
    path = "/api/v1/teams/{team}/quota",
    tag = "quotas",
    params(("team" = TeamName, Path, description = "The team")),
    responses(
        (status = 200, description = "The default quota, where it was applied, and warnings", body = QuotaUpdate),
        (status = 403, description = "The caller is not an admin of the team", body = ErrorBody),
        (status = 422, description = "Not a team name", body = ErrorBody),
    )
)]
async fn reset_quota(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(team): Path<String>,
) -> Result<Json<QuotaUpdate>, ApiError> {
    let team = team_name(&team)?;
    Ok(Json(state.commands.reset_team_quota(&who, &team).await?))
}
