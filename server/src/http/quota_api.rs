//! Per-team quotas over the REST API (`/api/v1/teams/{team}/quota`, bearer token like the rest
//! of `/api/v1`): read, change (fields left out keep their value), reset to the default.

use app::api::{AppError, Field, TeamName};
use axum::{
    extract::{rejection::JsonRejection, Path, State},
    Json,
};
use serde::Serialize;

use super::{api::ApiError, authn::Caller, routes::RouteTable, AppState};
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

fn team_name(raw: &str) -> Result<TeamName, ApiError> {
    TeamName::parse(raw).map_err(|e| ApiError::App(AppError::invalid(Field::Team, e)))
}

#[derive(Serialize)]
struct QuotaAnswer {
    team: String,
    quota: QuotaView,
    source: QuotaSource,
}

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

async fn reset_quota(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(team): Path<String>,
) -> Result<Json<QuotaUpdate>, ApiError> {
    let team = team_name(&team)?;
    Ok(Json(state.commands.reset_team_quota(&who, &team).await?))
}
