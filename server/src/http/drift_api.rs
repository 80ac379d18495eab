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

use super::{api::ApiError, authn::Caller, error::ErrorBody, routes::RouteTable, AppState};

/// The drift routes' part of the REST API's description (`http/openapi.rs`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(org, service, set_source, scan_now))]
pub(super) struct Doc;

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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct OrgQuery {
    /// Only this ecosystem's dependencies (`cargo`, `npm`, `pypi`, `go`, `docker`, ...).
    #[serde(default)]
    ecosystem: Option<String>,
    /// Only this team's services.
    #[serde(default)]
    #[param(value_type = Option<TeamName>)]
    team: Option<String>,
}

/// The organisation's dependency drift: services ranked by libyears, totals, the 90-day trend.
#[utoipa::path(
    get,
    path = "/api/v1/dependencies",
    tag = "drift",
    params(OrgQuery),
    responses(
        (status = 200, description = "The org-wide picture", body = OrgDrift),
        (status = 422, description = "A bad ecosystem, team or query", body = ErrorBody),
    )
)]
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

/// One service's dependencies at its latest scan, and its scans.
#[utoipa::path(
    get,
    path = "/api/v1/services/{team}/{service}/dependencies",
    tag = "drift",
    params(
        ("team" = TeamName, Path, description = "The team"),
        ("service" = ServiceName, Path, description = "The service"),
    ),
    responses(
        (status = 200, description = "The service's drift", body = ServiceDrift),
        (status = 403, description = "The caller is not a member of the team", body = ErrorBody),
        (status = 404, description = "No such service", body = ErrorBody),
        (status = 422, description = "Not a team or service name", body = ErrorBody),
    )
)]
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SourceBody {
    /// An absolute path to an existing directory on Canopy's host (under
    /// `CANOPY_DRIFT_SOURCE_ROOTS` when set).
    source_path: String,
}

/// Sets where the service's code is read from.
#[utoipa::path(
    put,
    path = "/api/v1/services/{team}/{service}/dependencies/source",
    tag = "drift",
    params(
        ("team" = TeamName, Path, description = "The team"),
        ("service" = ServiceName, Path, description = "The service"),
    ),
    request_body = SourceBody,
    responses(
        (status = 200, description = "The source now", body = Source),
        (status = 403, description = "The caller may not deploy in this team", body = ErrorBody),
        (status = 404, description = "No such service", body = ErrorBody),
        (status = 422, description = "A refused path or body", body = ErrorBody),
    )
)]
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

/// Queues a scan of the service's dependencies now.
#[utoipa::path(
    post,
    path = "/api/v1/services/{team}/{service}/dependencies/scan",
    tag = "drift",
    params(
        ("team" = TeamName, Path, description = "The team"),
        ("service" = ServiceName, Path, description = "The service"),
    ),
    responses(
        (status = 202, description = "Queued (or the scan already queued or running)", body = ScanView),
        (status = 403, description = "The caller may not deploy in this team", body = ErrorBody),
        (status = 404, description = "No such service", body = ErrorBody),
        (status = 409, description = "The service has no source", body = ErrorBody),
        (status = 422, description = "Not a team or service name", body = ErrorBody),
    )
)]
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
