//! The REST API (`/api/v1`), for CI systems and deploy buttons. Bearer-token authenticated
//! (`CANOPY_API_TOKEN`, until real sign-in exists). Errors map to HTTP here and only here.

use std::collections::BTreeMap;

use app::api::{
    deploy_fns::ObjectPreview,
    deploys::{DeployRecord, LiveRollout},
    spec::{Environment, RawServiceSpec, SpecErrors},
    AppError,
};
use axum::{
    extract::{
        rejection::{JsonRejection, QueryRejection},
        Path, Query, Request, State,
    },
    http::{header, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{logs, AppState};
use crate::deploy::{manifest, service::DeployRequest};

/// An API failure, rendered as JSON with the matching status code.
pub enum ApiError {
    App(AppError),
    Spec(SpecErrors),
    Unauthorized(&'static str),
    /// The body is not the JSON this endpoint takes (unknown field, wrong type, ...).
    BadBody(String),
    /// The query string has a parameter this endpoint does not take.
    BadQuery(String),
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        ApiError::BadBody(rejection.body_text())
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        ApiError::App(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Spec(errors) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({ "error": "invalid_spec", "message": errors.to_string(), "errors": errors.0 })),
            )
                .into_response(),
            ApiError::BadBody(message) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({ "error": "invalid_body", "message": message })),
            )
                .into_response(),
            ApiError::BadQuery(message) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({ "error": "invalid_query", "message": message })),
            )
                .into_response(),
            ApiError::Unauthorized(message) => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                Json(json!({ "error": "unauthorized", "message": message })),
            )
                .into_response(),
            ApiError::App(error) => {
                let status = match &error {
                    AppError::InvalidInput { .. } | AppError::InvalidSpec { .. } => {
                        StatusCode::UNPROCESSABLE_ENTITY
                    }
                    AppError::NoCluster { .. } => StatusCode::SERVICE_UNAVAILABLE,
                    AppError::Conflict { .. } => StatusCode::CONFLICT,
                    AppError::NotFound { .. } => StatusCode::NOT_FOUND,
                    AppError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                    AppError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
                    AppError::Transport(_) => StatusCode::BAD_REQUEST,
                };
                let mut body = serde_json::to_value(&error).unwrap_or_else(|_| json!({}));
                if let serde_json::Value::Object(map) = &mut body {
                    map.insert("message".to_owned(), json!(error.to_string()));
                }
                (status, Json(body)).into_response()
            }
        }
    }
}

type ApiResult<T> = Result<T, ApiError>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/deploys", post(create_deploy))
        .route("/deploys/preview", post(preview_deploy))
        .route("/deploys/{id}", get(get_deploy))
        .route(
            "/services/{team}/{service}/{environment}",
            get(service_status).delete(delete_service),
        )
        .route(
            "/services/{team}/{service}/{environment}/rollback",
            post(rollback),
        )
        .route(
            "/services/{team}/{service}/{environment}/restart",
            post(restart),
        )
        .route(
            "/services/{team}/{service}/{environment}/scale",
            post(scale),
        )
        .route("/services/{team}/{service}/{environment}/pods", get(pods))
        .route(
            "/services/{team}/{service}/{environment}/events",
            get(events),
        )
        .route(
            "/services/{team}/{service}/{environment}/pods/{pod}/logs",
            get(pod_logs),
        )
}

/// Requires `Authorization: Bearer <CANOPY_API_TOKEN>`.
pub async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(expected) = state.api_token.as_ref() else {
        return ApiError::Unauthorized(
            "the API is disabled: set CANOPY_API_TOKEN on the server to enable it",
        )
        .into_response();
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(token) if constant_time_eq(token.as_bytes(), expected.expose_secret().as_bytes()) => {
            next.run(request).await
        }
        Some(_) => ApiError::Unauthorized("the bearer token is not valid").into_response(),
        None => ApiError::Unauthorized("send Authorization: Bearer <token>").into_response(),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
    #[serde(default)]
    requested_by: Option<String>,
}

impl DeployBody {
    fn into_request(self) -> ApiResult<DeployRequest> {
        let spec =
            match (self.spec, self.canopy_yaml) {
                (Some(raw), None) => raw.validate().map_err(ApiError::Spec)?,
                (None, Some(yaml)) => manifest::parse(&yaml).map_err(ApiError::Spec)?,
                _ => return Err(ApiError::App(AppError::invalid(
                    app::api::Field::Name,
                    "give exactly one of `spec` (JSON) or `canopy_yaml` (a canopy.yaml document)",
                ))),
            };
        let unknown: Vec<_> = self
            .secrets
            .keys()
            .filter(|k| !spec.secret_keys.contains(k))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return Err(ApiError::Spec(SpecErrors(
                unknown
                    .into_iter()
                    .map(|key| app::api::spec::SpecError {
                        message: format!("{key} is not listed under `secrets` in the spec"),
                        field: format!("secrets.{key}"),
                    })
                    .collect(),
            )));
        }
        Ok(DeployRequest {
            spec,
            secret_values: self
                .secrets
                .into_iter()
                .map(|(k, v)| (k, SecretString::from(v)))
                .collect(),
            requested_by: self.requested_by.unwrap_or_else(|| "api".to_owned()),
            reason: self.reason,
        })
    }
}

async fn create_deploy(
    State(state): State<AppState>,
    body: Result<Json<DeployBody>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<DeployRecord>)> {
    let Json(body) = body?;
    let record = state.deploys.deploy(body.into_request()?).await?;
    Ok((StatusCode::ACCEPTED, Json(record)))
}

#[derive(Serialize)]
struct PreviewResponse {
    changes: Vec<ObjectPreview>,
    warnings: Vec<String>,
}

async fn preview_deploy(
    State(state): State<AppState>,
    body: Result<Json<DeployBody>, JsonRejection>,
) -> ApiResult<Json<PreviewResponse>> {
    let Json(body) = body?;
    let request = body.into_request()?;
    let keys: Vec<String> = request.secret_values.keys().cloned().collect();
    let (changes, warnings) = state.deploys.preview(&request.spec, &keys).await?;
    Ok(Json(PreviewResponse {
        changes: changes.into_iter().map(Into::into).collect(),
        warnings,
    }))
}

async fn get_deploy(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> ApiResult<Json<DeployRecord>> {
    Ok(Json(state.deploys.records().get(id).await?))
}

fn environment(raw: &str) -> ApiResult<Environment> {
    Environment::parse(raw).ok_or_else(|| {
        ApiError::App(AppError::NotFound {
            what: format!("Environment {raw:?} (use dev, staging or prod)"),
        })
    })
}

#[derive(Serialize)]
struct ServiceStatus {
    live: Option<LiveRollout>,
    history: Vec<DeployRecord>,
}

async fn service_status(
    State(state): State<AppState>,
    Path((team, service, env)): Path<(String, String, String)>,
) -> ApiResult<Json<ServiceStatus>> {
    let environment = environment(&env)?;
    let (live, history) = state.deploys.status(&team, &service, environment).await?;
    Ok(Json(ServiceStatus { live, history }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    revision: i64,
    #[serde(default)]
    requested_by: Option<String>,
}

async fn rollback(
    State(state): State<AppState>,
    Path((team, service, env)): Path<(String, String, String)>,
    body: Result<Json<RollbackBody>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<DeployRecord>)> {
    let Json(body) = body?;
    let environment = environment(&env)?;
    let record = state
        .deploys
        .rollback(
            &team,
            &service,
            environment,
            body.revision,
            body.requested_by.unwrap_or_else(|| "api".to_owned()),
        )
        .await?;
    Ok((StatusCode::ACCEPTED, Json(record)))
}

async fn restart(
    State(state): State<AppState>,
    Path((team, service, env)): Path<(String, String, String)>,
) -> ApiResult<(StatusCode, Json<DeployRecord>)> {
    let environment = environment(&env)?;
    let record = state
        .deploys
        .restart(&team, &service, environment, "api".to_owned())
        .await?;
    Ok((StatusCode::ACCEPTED, Json(record)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScaleBody {
    replicas: u16,
}

async fn scale(
    State(state): State<AppState>,
    Path((team, service, env)): Path<(String, String, String)>,
    body: Result<Json<ScaleBody>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<DeployRecord>)> {
    let Json(body) = body?;
    let environment = environment(&env)?;
    let record = state
        .deploys
        .scale(
            &team,
            &service,
            environment,
            body.replicas,
            "api".to_owned(),
        )
        .await?;
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
    Path((team, service, env)): Path<(String, String, String)>,
    axum::extract::Query(query): axum::extract::Query<DeleteQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let environment = environment(&env)?;
    let deleted = state
        .deploys
        .delete(&team, &service, environment, &query.confirm)
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
    Path((team, service, env)): Path<(String, String, String)>,
) -> ApiResult<Json<PodsResponse>> {
    let environment = environment(&env)?;
    let found = state.deploys.pods(&team, &service, environment).await?;
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
    Path((team, service, env)): Path<(String, String, String)>,
) -> ApiResult<Json<EventsResponse>> {
    let environment = environment(&env)?;
    let found = state.deploys.pods(&team, &service, environment).await?;
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
    Path((team, service, env, pod)): Path<(String, String, String, String)>,
    query: Result<Query<LogsQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(query) = query.map_err(|rejection| ApiError::BadQuery(rejection.body_text()))?;
    let environment = environment(&env)?;
    let tail_lines = app::api::pods::parse_tail(query.tail.as_deref())?;
    let previous = logs::parse_flag("previous", query.previous.as_deref())?;
    let follow = logs::parse_flag("follow", query.follow.as_deref())?;
    let container = query.container.filter(|c| !c.is_empty());
    if follow {
        if previous {
            return Err(ApiError::App(AppError::InvalidSpec {
                errors: vec![app::api::spec::SpecError {
                    field: "follow".to_owned(),
                    message: "a previous container has ended: follow only the current one"
                        .to_owned(),
                }],
            }));
        }
        let source = state
            .deploys
            .log_source(&team, &service, environment, &pod, container.as_deref())
            .await?;
        let lines = source.follow(state.deploys.client()?, tail_lines).await?;
        return Ok(logs::text_stream(lines));
    }
    let log = state
        .deploys
        .pod_log(
            &team,
            &service,
            environment,
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
