//! The REST API (`/api/v1`), for CI systems and deploy buttons. Bearer-token authenticated
//! (`CANOPY_API_TOKEN`, until real sign-in exists). Errors map to HTTP in `http/error.rs`;
//! paths naming a service are parsed once into a `ServiceRef` (`http/extract.rs`).

use std::collections::BTreeMap;

use app::api::{
    deploy_fns::ObjectPreview,
    deploys::{DeployRecord, LiveRollout},
    spec::RawServiceSpec,
    AppError,
};
use axum::{
    extract::{
        rejection::{JsonRejection, QueryRejection},
        Path, Query, State,
    },
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    authn::Caller,
    extract::{ServicePath, ServicePodPath},
    logs,
    routes::RouteTable,
    AppState,
};
use crate::deploy::{manifest, DeployError};

pub use super::error::{ApiError, ApiResult};

pub fn routes() -> RouteTable<AppState> {
    const SERVICE: &str = "/services/{team}/{service}/{environment}";
    RouteTable::new()
        .post("/deploys", create_deploy)
        .post("/deploys/preview", preview_deploy)
        .get("/deploys/{id}", get_deploy)
        .get(SERVICE, service_status)
        .delete(SERVICE, delete_service)
        .post(&format!("{SERVICE}/rollback"), rollback)
        .post(&format!("{SERVICE}/restart"), restart)
        .post(&format!("{SERVICE}/scale"), scale)
        .get(&format!("{SERVICE}/pods"), pods)
        .get(&format!("{SERVICE}/events"), events)
        .get(&format!("{SERVICE}/pods/{{pod}}/logs"), pod_logs)
}

/// A deploy request: the spec as JSON, or a whole `canopy.yaml` under `canopy_yaml`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployBody {
    #[serde(default)]
    spec: Option<RawServiceSpec>,
    #[serde(default)]
    canopy_yaml: Option<String>,
    #[serde(default)]
    secrets: BTreeMap<String, String>,
    #[serde(default)]
    reason: Option<String>,
}

/// A deploy body parsed at the boundary; who asks comes from the request, not the body.
struct ParsedDeploy {
    spec: app::api::spec::ServiceSpec,
    secret_values: BTreeMap<String, SecretString>,
    reason: Option<String>,
}

impl DeployBody {
    fn into_request(self) -> ApiResult<ParsedDeploy> {
        let spec =
            match (self.spec, self.canopy_yaml) {
                (Some(raw), None) => raw.validate().map_err(ApiError::Spec)?,
                (None, Some(yaml)) => manifest::parse(&yaml).map_err(ApiError::Spec)?,
                _ => return Err(ApiError::App(AppError::invalid(
                    app::api::Field::Name,
                    "give exactly one of `spec` (JSON) or `canopy_yaml` (a canopy.yaml document)",
                ))),
            };
        Ok(ParsedDeploy {
            spec,
            secret_values: self
                .secrets
                .into_iter()
                .map(|(k, v)| (k, SecretString::from(v)))
                .collect(),
            reason: self.reason,
        })
    }
}

async fn create_deploy(
    State(state): State<AppState>,
    Caller(who): Caller,
    body: Result<Json<DeployBody>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<DeployRecord>)> {
    let Json(body) = body?;
    let request = body.into_request()?;
    let record = state
        .commands
        .deploy(&who, request.spec, request.secret_values, request.reason)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(record)))
}

#[derive(Serialize)]
struct PreviewResponse {
    changes: Vec<ObjectPreview>,
    warnings: Vec<String>,
}

async fn preview_deploy(
    State(state): State<AppState>,
    Caller(who): Caller,
    body: Result<Json<DeployBody>, JsonRejection>,
) -> ApiResult<Json<PreviewResponse>> {
    let Json(body) = body?;
    let request = body.into_request()?;
    let keys: Vec<String> = request.secret_values.keys().cloned().collect();
    let (changes, warnings) = state.commands.preview(&who, &request.spec, &keys).await?;
    Ok(Json(PreviewResponse {
        changes: changes.into_iter().map(Into::into).collect(),
        warnings,
    }))
}

async fn get_deploy(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<DeployRecord>> {
    Ok(Json(state.commands.get_deploy(&who, id).await?))
}

#[derive(Serialize)]
struct ServiceStatus {
    live: Option<LiveRollout>,
    history: Vec<DeployRecord>,
}

async fn service_status(
    State(state): State<AppState>,
    Caller(who): Caller,
    ServicePath(service): ServicePath,
) -> ApiResult<Json<ServiceStatus>> {
    let (live, history) = state.commands.status(&who, &service).await?;
    Ok(Json(ServiceStatus { live, history }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    revision: i64,
}

async fn rollback(
    State(state): State<AppState>,
    Caller(who): Caller,
    ServicePath(service): ServicePath,
    body: Result<Json<RollbackBody>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<DeployRecord>)> {
    let Json(body) = body?;
    let record = state
        .commands
        .rollback(&who, &service, body.revision)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(record)))
}

async fn restart(
    State(state): State<AppState>,
    Caller(who): Caller,
    ServicePath(service): ServicePath,
) -> ApiResult<(StatusCode, Json<DeployRecord>)> {
    let record = state.commands.restart(&who, &service).await?;
    Ok((StatusCode::ACCEPTED, Json(record)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScaleBody {
    replicas: u16,
}

async fn scale(
    State(state): State<AppState>,
    Caller(who): Caller,
    ServicePath(service): ServicePath,
    body: Result<Json<ScaleBody>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<DeployRecord>)> {
    let Json(body) = body?;
    let record = state.commands.scale(&who, &service, body.replicas).await?;
    Ok((StatusCode::ACCEPTED, Json(record)))
}

/// `DELETE /services/{team}/{service}/{env}?confirm=<service>`.
#[derive(Deserialize)]
struct DeleteQuery {
    /// Must repeat the service's name.
    #[serde(default)]
    confirm: String,
}

async fn delete_service(
    State(state): State<AppState>,
    Caller(who): Caller,
    ServicePath(service): ServicePath,
    axum::extract::Query(query): axum::extract::Query<DeleteQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let deleted = state
        .commands
        .delete(&who, &service, &query.confirm)
        .await?;
    Ok(Json(json!({ "deleted": deleted })))
}

#[derive(Serialize)]
struct PodsResponse {
    pods: Vec<app::api::pods::PodInfo>,
}

/// `GET /services/{team}/{service}/{env}/pods`: the pods, newest version first.
async fn pods(
    State(state): State<AppState>,
    Caller(who): Caller,
    ServicePath(service): ServicePath,
) -> ApiResult<Json<PodsResponse>> {
    let found = state.commands.pods(&who, &service).await?;
    Ok(Json(PodsResponse { pods: found.pods }))
}

#[derive(Serialize)]
struct EventsResponse {
    events: Vec<app::api::pods::EventInfo>,
}

/// `GET /services/{team}/{service}/{env}/events`: events about the Deployment, its ReplicaSets
/// and pods, newest first.
async fn events(
    State(state): State<AppState>,
    Caller(who): Caller,
    ServicePath(service): ServicePath,
) -> ApiResult<Json<EventsResponse>> {
    let found = state.commands.pods(&who, &service).await?;
    Ok(Json(EventsResponse {
        events: found.events,
    }))
}

/// `?container=&tail=&previous=&follow=`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogsQuery {
    #[serde(default)]
    container: Option<String>,
    #[serde(default)]
    tail: Option<String>,
    #[serde(default)]
    previous: Option<String>,
    #[serde(default)]
    follow: Option<String>,
}

/// `GET /services/{team}/{service}/{env}/pods/{pod}/logs`: the last lines as JSON, or with
/// `follow=true` the last lines and then each new one as streamed plain text.
async fn pod_logs(
    State(state): State<AppState>,
    Caller(who): Caller,
    ServicePodPath { service, pod }: ServicePodPath,
    query: Result<Query<LogsQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(query) = query?;
    let tail_lines = app::api::pods::parse_tail(query.tail.as_deref())?;
    let previous = logs::parse_flag("previous", query.previous.as_deref())?;
    let follow = logs::parse_flag("follow", query.follow.as_deref())?;
    let container = query.container.filter(|c| !c.is_empty());
    if follow {
        if previous {
            return Err(DeployError::invalid_field(
                "follow",
                "a previous container has ended: follow only the current one",
            )
            .into());
        }
        let source = state
            .commands
            .log_source(&who, &service, &pod, container.as_deref())
            .await?;
        let lines = source.follow(state.commands.client()?, tail_lines).await?;
        return Ok(logs::text_stream(lines));
    }
    let log = state
        .commands
        .pod_log(
            &who,
            &service,
            &app::api::pods::LogRequest {
                pod,
                container,
                tail_lines,
                previous,
            },
        )
        .await?;
    Ok(Json(log).into_response())
}
