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

use super::{
    authn::Caller,
    error::ErrorBody,
    extract::{ServicePath, ServicePathParams, ServicePodPath, ServicePodPathParams},
    logs,
    routes::RouteTable,
    AppState,
};
use crate::deploy::{manifest, DeployError};

pub use super::error::{ApiError, ApiResult};

/// The deploy routes' part of the REST API's description (`http/openapi.rs`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    create_deploy,
    preview_deploy,
    get_deploy,
    service_status,
    delete_service,
    rollback,
    restart,
    scale,
    pods,
    events,
    pod_logs
))]
pub(super) struct Doc;

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

/// A deploy request: the spec as JSON, or a whole `canopy.yaml` under `canopy_yaml` (exactly
/// one of the two).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployBody {
    /// The service spec (docs/CANOPY_YAML.md).
    #[serde(default)]
    spec: Option<RawServiceSpec>,
    /// A whole `canopy.yaml` document instead of `spec`.
    #[serde(default)]
    canopy_yaml: Option<String>,
    /// Values of the secrets the spec declares (`secrets`), by key; written to a Kubernetes
    /// Secret, never stored by Canopy.
    #[serde(default)]
    secrets: BTreeMap<String, String>,
    /// Why, for the deploy history and the audit log.
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

/// Deploys a service: records a new revision, applies it and follows the rollout. Answers at
/// once with the record (`applying` or `rolling_out`); poll `GET /api/v1/deploys/{id}` until
/// `succeeded` or `failed`.
#[utoipa::path(
    post,
    path = "/api/v1/deploys",
    tag = "deploys",
    request_body = DeployBody,
    responses(
        (status = 202, description = "Accepted: the deploy's record", body = DeployRecord),
        (status = 403, description = "The caller may not deploy in this team", body = ErrorBody),
        (status = 409, description = "A deploy of this service and environment is in progress, or an object belongs to someone else", body = ErrorBody),
        (status = 422, description = "The body or spec was refused (`invalid_body`, `invalid_spec` lists every bad field)", body = ErrorBody),
        (status = 503, description = "No cluster is connected (`no_cluster`) or the database is unreachable", body = ErrorBody),
    )
)]
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

/// What a deploy would change, object by object (a server-side dry run).
#[derive(Serialize, utoipa::ToSchema)]
struct PreviewResponse {
    changes: Vec<ObjectPreview>,
    warnings: Vec<String>,
}

/// Previews a deploy: the objects it would create or change, without writing anything.
#[utoipa::path(
    post,
    path = "/api/v1/deploys/preview",
    tag = "deploys",
    request_body = DeployBody,
    responses(
        (status = 200, description = "What would change", body = PreviewResponse),
        (status = 403, description = "The caller may not deploy in this team", body = ErrorBody),
        (status = 409, description = "An object belongs to someone else", body = ErrorBody),
        (status = 422, description = "The body or spec was refused", body = ErrorBody),
        (status = 503, description = "No cluster is connected, or the database is unreachable", body = ErrorBody),
    )
)]
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

/// One deploy's record: poll it until `status` is `succeeded` or `failed`.
#[utoipa::path(
    get,
    path = "/api/v1/deploys/{id}",
    tag = "deploys",
    params(("id" = i64, Path, description = "The deploy's id (`id` of the record)")),
    responses(
        (status = 200, description = "The deploy's record", body = DeployRecord),
        (status = 403, description = "The caller is not a member of the service's team", body = ErrorBody),
        (status = 404, description = "No such deploy", body = ErrorBody),
    )
)]
async fn get_deploy(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<DeployRecord>> {
    Ok(Json(state.commands.get_deploy(&who, id).await?))
}

/// A service in one environment: its newest rollout's live state and its deploy history.
#[derive(Serialize, utoipa::ToSchema)]
struct ServiceStatus {
    live: Option<LiveRollout>,
    history: Vec<DeployRecord>,
}

/// The service's live rollout and deploy history, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/services/{team}/{service}/{environment}",
    tag = "services",
    params(ServicePathParams),
    responses(
        (status = 200, description = "Live state and history", body = ServiceStatus),
        (status = 403, description = "The caller is not a member of the team", body = ErrorBody),
        (status = 404, description = "A part of the path cannot exist, or the service is unknown", body = ErrorBody),
    )
)]
async fn service_status(
    State(state): State<AppState>,
    Caller(who): Caller,
    ServicePath(service): ServicePath,
) -> ApiResult<Json<ServiceStatus>> {
    let (live, history) = state.commands.status(&who, &service).await?;
    Ok(Json(ServiceStatus { live, history }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    /// The earlier revision to deploy again (as a new revision).
    revision: i64,
}

/// Rolls back: deploys an earlier revision's spec again, as a new revision.
#[utoipa::path(
    post,
    path = "/api/v1/services/{team}/{service}/{environment}/rollback",
    tag = "deploys",
    params(ServicePathParams),
    request_body = RollbackBody,
    responses(
        (status = 202, description = "Accepted: the new deploy's record", body = DeployRecord),
        (status = 403, description = "The caller may not deploy in this team", body = ErrorBody),
        (status = 404, description = "No such service or revision", body = ErrorBody),
        (status = 409, description = "A deploy is in progress", body = ErrorBody),
        (status = 422, description = "The body was refused", body = ErrorBody),
        (status = 503, description = "No cluster is connected, or the database is unreachable", body = ErrorBody),
    )
)]

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

/// Restarts the service's pods (a rolling restart, as a new revision).
#[utoipa::path(
    post,
    path = "/api/v1/services/{team}/{service}/{environment}/restart",
    tag = "deploys",
    params(ServicePathParams),
    responses(
        (status = 202, description = "Accepted: the new deploy's record", body = DeployRecord),
        (status = 403, description = "The caller may not deploy in this team", body = ErrorBody),
        (status = 404, description = "No such service", body = ErrorBody),
        (status = 409, description = "A deploy is in progress", body = ErrorBody),
        (status = 503, description = "No cluster is connected, or the database is unreachable", body = ErrorBody),
    )
)]
async fn restart(
    State(state): State<AppState>,
    Caller(who): Caller,
    ServicePath(service): ServicePath,
) -> ApiResult<(StatusCode, Json<DeployRecord>)> {
    let record = state.commands.restart(&who, &service).await?;
    Ok((StatusCode::ACCEPTED, Json(record)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ScaleBody {
    /// The fixed number of replicas (1-50).
    #[schema(minimum = 1, maximum = 50)]
    replicas: u16,
}

/// Scales the service to a fixed number of replicas (a new revision).
#[utoipa::path(
    post,
    path = "/api/v1/services/{team}/{service}/{environment}/scale",
    tag = "deploys",
    params(ServicePathParams),
    request_body = ScaleBody,
    responses(
        (status = 202, description = "Accepted: the new deploy's record", body = DeployRecord),
        (status = 403, description = "The caller may not deploy in this team", body = ErrorBody),
        (status = 404, description = "No such service", body = ErrorBody),
        (status = 409, description = "A deploy is in progress", body = ErrorBody),
        (status = 422, description = "The body or the number was refused", body = ErrorBody),
        (status = 503, description = "No cluster is connected, or the database is unreachable", body = ErrorBody),
    )
)]

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
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct DeleteQuery {
    /// Must repeat the service's name.
    #[serde(default)]
    confirm: String,
}

/// What a delete did.
#[derive(Serialize, utoipa::ToSchema)]
struct Deleted {
    /// The objects deleted, as `Kind/name`.
    deleted: Vec<String>,
}

/// Deletes the service's objects in this environment (its history stays).
#[utoipa::path(
    delete,
    path = "/api/v1/services/{team}/{service}/{environment}",
    tag = "deploys",
    params(ServicePathParams, DeleteQuery),
    responses(
        (status = 200, description = "Deleted", body = Deleted),
        (status = 403, description = "The caller is not an admin of the team", body = ErrorBody),
        (status = 404, description = "No such service", body = ErrorBody),
        (status = 409, description = "A deploy is in progress", body = ErrorBody),
        (status = 422, description = "`confirm` does not repeat the service's name", body = ErrorBody),
        (status = 503, description = "No cluster is connected, or the database is unreachable", body = ErrorBody),
    )
)]
async fn delete_service(
    State(state): State<AppState>,
    Caller(who): Caller,
    ServicePath(service): ServicePath,
    axum::extract::Query(query): axum::extract::Query<DeleteQuery>,
) -> ApiResult<Json<Deleted>> {
    let deleted = state
        .commands
        .delete(&who, &service, &query.confirm)
        .await?;
    Ok(Json(Deleted { deleted }))
}

/// The service's pods.
#[derive(Serialize, utoipa::ToSchema)]
struct PodsResponse {
    pods: Vec<app::api::pods::PodInfo>,
}

/// `GET /services/{team}/{service}/{env}/pods`: the pods, newest version first.
#[utoipa::path(
    get,
    path = "/api/v1/services/{team}/{service}/{environment}/pods",
    tag = "services",
    params(ServicePathParams),
    responses(
        (status = 200, description = "The pods with a plain status and problem each", body = PodsResponse),
        (status = 403, description = "The caller is not a member of the team", body = ErrorBody),
        (status = 404, description = "The service was never deployed there", body = ErrorBody),
        (status = 503, description = "No cluster is connected, or the database is unreachable", body = ErrorBody),
    )
)]
async fn pods(
    State(state): State<AppState>,
    Caller(who): Caller,
    ServicePath(service): ServicePath,
) -> ApiResult<Json<PodsResponse>> {
    let found = state.commands.pods(&who, &service).await?;
    Ok(Json(PodsResponse { pods: found.pods }))
}

/// Events about the service's Kubernetes objects.
#[derive(Serialize, utoipa::ToSchema)]
struct EventsResponse {
    events: Vec<app::api::pods::EventInfo>,
}

/// `GET /services/{team}/{service}/{env}/events`: events about the Deployment, its ReplicaSets
/// and pods, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/services/{team}/{service}/{environment}/events",
    tag = "services",
    params(ServicePathParams),
    responses(
        (status = 200, description = "Events, newest first (at most 100)", body = EventsResponse),
        (status = 403, description = "The caller is not a member of the team", body = ErrorBody),
        (status = 404, description = "The service was never deployed there", body = ErrorBody),
        (status = 503, description = "No cluster is connected, or the database is unreachable", body = ErrorBody),
    )
)]
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
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct LogsQuery {
    /// The container (default: the pod's first).
    #[serde(default)]
    container: Option<String>,
    /// How many of the last lines, 1-5000.
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 5000)]
    tail: Option<String>,
    /// `true`: the previous instance's log (after a restart).
    #[serde(default)]
    #[param(value_type = Option<bool>)]
    previous: Option<String>,
    /// `true`: the last lines, then each new line as it comes, as streamed `text/plain`.
    #[serde(default)]
    #[param(value_type = Option<bool>)]
    follow: Option<String>,
}

/// `GET /services/{team}/{service}/{env}/pods/{pod}/logs`: the last lines as JSON, or with
/// `follow=true` the last lines and then each new one as streamed plain text.
#[utoipa::path(
    get,
    path = "/api/v1/services/{team}/{service}/{environment}/pods/{pod}/logs",
    tag = "services",
    params(ServicePodPathParams, LogsQuery),
    responses(
        (status = 200, description = "The last lines (JSON), or with `follow=true` a plain-text stream of lines", content(
            (app::api::pods::PodLog = "application/json"),
            (String = "text/plain")
        )),
        (status = 403, description = "The caller may not deploy in this team (reading logs needs the deployer role)", body = ErrorBody),
        (status = 404, description = "Unknown environment, service never deployed there, pod not the service's, unknown container, or no previous instance", body = ErrorBody),
        (status = 422, description = "A bad `tail` or flag, or an unknown parameter", body = ErrorBody),
        (status = 503, description = "No cluster is connected, or the database is unreachable", body = ErrorBody),
    )
)]
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
