//! Dependency drift over the REST API (`/api/v1`, bearer token or session like the rest):
//! the org-wide summary, a service's latest scan, setting its source, and "scan now".

use app::api::{
    drift::{parse_ecosystem, OrgDrift, ScanView, ServiceDrift, Source},
    AppError, Field, ServiceName, TeamName,
};
use axum::{
    extract::{
        rejection::{JsonRejection, QueryRejection},
        Path, Query, State,
    },
    http::StatusCode,
    Json,
};
use serde::Deserialize;

use super::{api::ApiError, authn::Caller, routes::RouteTable, AppState};

pub fn routes() -> RouteTable<AppState> {
    const SERVICE: &str = "/services/{team}/{service}/dependencies";
    RouteTable::new()
        .get("/dependencies", org)
        .get(SERVICE, service)
        .put(&format!("{SERVICE}/source"), set_source)
        .post(&format!("{SERVICE}/scan"), scan_now)
}

fn names(team: &str, service: &str) -> Result<(TeamName, ServiceName), ApiError> {
    Ok((
        TeamName::parse(team).map_err(|e| AppError::invalid(Field::Team, e))?,
        ServiceName::parse(service).map_err(|e| AppError::invalid(Field::Name, e))?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrgQuery {
    #[serde(default)]
    ecosystem: Option<String>,
    #[serde(default)]
    team: Option<String>,
}

async fn org(
    State(state): State<AppState>,
    Caller(_who): Caller,
    query: Result<Query<OrgQuery>, QueryRejection>,
) -> Result<Json<OrgDrift>, ApiError> {
    let Query(query) = query?;
    let ecosystem = parse_ecosystem(query.ecosystem)?;
    let team = match query.team.filter(|t| !t.is_empty()) {
        Some(team) => Some(TeamName::parse(&team).map_err(|e| AppError::invalid(Field::Team, e))?),
        None => None,
    };
    Ok(Json(
        state
            .drift
            .org(ecosystem, team)
            .await
            .map_err(AppError::from)?,
    ))
}

async fn service(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((team, service)): Path<(String, String)>,
) -> Result<Json<ServiceDrift>, ApiError> {
    let (team, service) = names(&team, &service)?;
    Ok(Json(
        state
            .drift
            .service(&who, &team, &service)
            .await
            .map_err(AppError::from)?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceBody {
    source_path: String,
}

async fn set_source(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((team, service)): Path<(String, String)>,
    body: Result<Json<SourceBody>, JsonRejection>,
) -> Result<Json<Source>, ApiError> {
    let (team, service) = names(&team, &service)?;
    let Json(body) = body?;
    Ok(Json(
        state
            .drift
            .set_source(&who, &team, &service, &body.source_path)
            .await
            .map_err(AppError::from)?,
    ))
}

async fn scan_now(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path((team, service)): Path<(String, String)>,
) -> Result<(StatusCode, Json<ScanView>), ApiError> {
    let (team, service) = names(&team, &service)?;
    let scan = state
        .drift
        .scan_now(&who, &team, &service)
        .await
        .map_err(AppError::from)?;
    Ok((StatusCode::ACCEPTED, Json(scan)))
}
