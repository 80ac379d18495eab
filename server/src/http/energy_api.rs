//! The energy HTTP API: `POST /api/v1/ingest` for agents (node bearer token), and under
//! `/api/v1/energy/` (the admin `CANOPY_API_TOKEN`) node tokens, ingest counters, series, the
//! overview, request counts and SCI as JSON. Errors map to HTTP in `http/error.rs`.

use app::api::energy::{
    BySource, EnergyOverview, EnergyPeriod, EnergySeries, RequestSci, ServicePodPower,
};
use axum::{
    body::Bytes,
    extract::{rejection::JsonRejection, DefaultBodyLimit, Path, State},
    http::{header, HeaderMap, StatusCode},
    middleware,
    response::{IntoResponse, Response},
    Json,
};
use serde::{Deserialize, Serialize};
use time::{format_description::well_known::Rfc3339, Duration, OffsetDateTime};

use axum::extract::FromRequest;

use super::error::{ApiError, ApiResult, ErrorBody};
use super::{authn::Caller, extract::ApiQuery, routes::RouteTable, AppState};
use crate::energy::{
    buckets::buckets,
    ingest::{IngestReceipt, IngestStats},
    query::Selection,
    sci::{Recorded, RequestCountBody},
    tokens::{CreatedToken, NodeIdentity, NodeTokenInfo, TOKEN_PREFIX},
    EnergyError,
};

/// The energy routes' part of the REST API's description (`http/openapi.rs`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    ingest,
    create_token,
    list_tokens,
    revoke_token,
    ingest_stats,
    series,
    overview,
    pods,
    record_request_count,
    service_sci
))]
pub(super) struct Doc;

/// Largest accepted ingest body (a full batch of 10,000 samples with pods fits).
pub const MAX_INGEST_BODY_BYTES: usize = 64 * 1024 * 1024;

/// The energy routes, to be merged into the main router.
pub fn routes() -> RouteTable<AppState> {
    const ENERGY: &str = "/api/v1/energy";
    // Node tokens, ingest counters and request counts: organisation admins only.
    let admin = RouteTable::new()
        .post(&format!("{ENERGY}/node-tokens"), create_token)
        .get(&format!("{ENERGY}/node-tokens"), list_tokens)
        .delete(&format!("{ENERGY}/node-tokens/{{id}}"), revoke_token)
        .get(&format!("{ENERGY}/ingest-stats"), ingest_stats)
        .post(&format!("{ENERGY}/request-counts"), record_request_count)
        .map_router(|router| router.route_layer(middleware::from_fn(require_org_admin)));
    // Figures: every signed-in person or token (reading is org-wide).
    let read = RouteTable::new()
        .get(&format!("{ENERGY}/series"), series)
        .get(&format!("{ENERGY}/overview"), overview)
        .get(&format!("{ENERGY}/pods"), pods)
        .get(&format!("{ENERGY}/sci"), service_sci);
    // The agents' ingest: node tokens, checked by the handler itself.
    RouteTable::new()
        .post(canopy_protocol::INGEST_PATH, ingest)
        .map_router(|router| router.layer(DefaultBodyLimit::max(MAX_INGEST_BODY_BYTES)))
        .merge(admin)
        .merge(read)
}

async fn require_org_admin(
    Caller(who): Caller,
    request: axum::extract::Request,
    next: middleware::Next,
) -> Response {
    match crate::auth::require_org_admin(&who) {
        Ok(()) => next.run(request).await,
        Err(refused) => ApiError::App(refused).into_response(),
    }
}

fn unauthorized(message: &'static str) -> Response {
    ApiError::Unauthorized(message).into_response()
}

type EnergyResult<T> = ApiResult<T>;

/// Who sent the batch: a `cnt_` node token, else (when configured) the agent's ServiceAccount
/// token reviewed by the API server. Runs before a byte of the body is read.
async fn authenticate(
    energy: &crate::energy::EnergyState,
    headers: &HeaderMap,
) -> Result<NodeIdentity, Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(unauthorized(
            "send Authorization: Bearer <node token or the agent's ServiceAccount token>",
        ));
    };
    if token.starts_with(TOKEN_PREFIX) {
        return match energy.tokens.authenticate(token).await {
            Ok(Some(node)) => Ok(node),
            Ok(None) => Err(unauthorized("the node token is not valid or was revoked")),
            Err(error) => Err(ApiError::from(error).into_response()),
        };
    }
    let Some(agents) = &energy.agents else {
        return Err(unauthorized(
            "not a node token (cnt_...), and this server does not take ServiceAccount tokens (CANOPY_AGENT_SERVICE_ACCOUNT is not set)",
        ));
    };
    agents.authenticate(token).await.map_err(|error| {
        tracing::warn!(%error, "agent ServiceAccount token refused");
        ApiError::from(EnergyError::from(error)).into_response()
    })
}

/// An agent's batch of energy samples from one node (`canopy_protocol::IngestBatch`); a re-sent
/// batch (same `batch_id`) is refused with 409 and changes nothing.
#[utoipa::path(
    post,
    path = "/api/v1/ingest",
    tag = "ingest",
    security(("node_token" = [])),
    request_body = canopy_protocol::IngestBatch,
    responses(
        (status = 201, description = "Stored", body = IngestReceipt),
        (status = 401, description = "No node token or agent ServiceAccount token, or not a valid one", body = ErrorBody),
        (status = 403, description = "The credential belongs to another node (`wrong_node`), or the ServiceAccount token is not the agent's (`not_agent`, `not_pod_bound`, `pod_not_on_node`)", body = ErrorBody),
        (status = 409, description = "This batch was already stored (`duplicate_batch`), or it covers time already stored for its node (`overlapping_interval`)", body = ErrorBody),
        (status = 413, description = "The body is over 64 MiB", content_type = "text/plain"),
        (status = 422, description = "The batch was refused; `error` is why (`malformed`, `unknown_version`, `not_conserved`, `outside_retention`, ...) and `field` where", body = ErrorBody),
        (status = 503, description = "The database is unreachable", body = ErrorBody),
    )
)]
async fn ingest(State(state): State<AppState>, request: axum::extract::Request) -> Response {
    let energy = &state.energy;
    let node = match authenticate(energy, request.headers()).await {
        Ok(node) => node,
        Err(refused) => return refused,
    };
    // Only now the body, within the route's limit (DefaultBodyLimit: 413 past it).
    let body = match Bytes::from_request(request, &()).await {
        Ok(body) => body,
        Err(rejection) => return rejection.into_response(),
    };
    let result = async {
        let batch = energy.ingestor.parse(&body, &node)?;
        energy
            .ingestor
            .ingest(&node, &batch, OffsetDateTime::now_utc())
            .await
    }
    .await;
    match result {
        Ok(receipt) => (StatusCode::CREATED, Json(receipt)).into_response(),
        Err(error) => ApiError::from(error).into_response(),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateTokenBody {
    /// The node's cluster (default `default`).
    cluster: Option<String>,
    /// The Kubernetes node name.
    node: String,
    /// Who asked, for the list (default `api`).
    created_by: Option<String>,
}

/// A node token for one node's agent, shown once (organisation admins).
#[utoipa::path(
    post,
    path = "/api/v1/energy/node-tokens",
    tag = "energy",
    request_body = CreateTokenBody,
    responses(
        (status = 201, description = "The token, shown once", body = CreatedToken),
        (status = 403, description = "The caller is not an organisation admin", body = ErrorBody),
        (status = 422, description = "A bad cluster or node name, or body", body = ErrorBody),
    )
)]
async fn create_token(
    State(state): State<AppState>,
    body: Result<Json<CreateTokenBody>, JsonRejection>,
) -> EnergyResult<(StatusCode, Json<CreatedToken>)> {
    let Json(body) = body?;
    let created = state
        .energy
        .tokens
        .create(
            body.cluster.as_deref().unwrap_or("default"),
            &body.node,
            body.created_by.as_deref().unwrap_or("api"),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Every node token (never the tokens themselves; organisation admins).
#[utoipa::path(
    get,
    path = "/api/v1/energy/node-tokens",
    tag = "energy",
    responses(
        (status = 200, description = "The node tokens", body = Vec<NodeTokenInfo>),
        (status = 403, description = "The caller is not an organisation admin", body = ErrorBody),
    )
)]
async fn list_tokens(State(state): State<AppState>) -> EnergyResult<Json<Vec<NodeTokenInfo>>> {
    Ok(Json(state.energy.tokens.list().await?))
}

/// Revokes a node token (organisation admins).
#[utoipa::path(
    delete,
    path = "/api/v1/energy/node-tokens/{id}",
    tag = "energy",
    params(("id" = i64, Path, description = "The node token's id")),
    responses(
        (status = 200, description = "The revoked token", body = NodeTokenInfo),
        (status = 403, description = "The caller is not an organisation admin", body = ErrorBody),
        (status = 404, description = "No such token", body = ErrorBody),
    )
)]
async fn revoke_token(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> EnergyResult<Json<NodeTokenInfo>> {
    Ok(Json(state.energy.tokens.revoke(id).await?))
}

/// Ingest counters since this replica started (organisation admins).
#[utoipa::path(
    get,
    path = "/api/v1/energy/ingest-stats",
    tag = "energy",
    responses(
        (status = 200, description = "The counters", body = IngestStats),
        (status = 403, description = "The caller is not an organisation admin", body = ErrorBody),
    )
)]
async fn ingest_stats(State(state): State<AppState>) -> Json<IngestStats> {
    Json(state.energy.ingestor.stats())
}

/// `?team=&service=` | `?team=` | `?namespace=` | `?node=[&cluster=]` | nothing (everything),
/// with `from`, `to` (RFC 3339) and `step`.
#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct SeriesParams {
    team: Option<String>,
    /// With `team`: one service.
    service: Option<String>,
    namespace: Option<String>,
    node: Option<String>,
    /// With `node`: the cluster it is in (node names are unique within a cluster only).
    cluster: Option<String>,
    /// RFC 3339 (default: a day before `to`).
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<String>,
    /// RFC 3339 (default: the end of the current hour).
    #[param(value_type = Option<String>, format = DateTime)]
    to: Option<String>,
    /// `3600`, `30m`, `1h`, `6h`, `1d` (default: 1h, or 1d over more than 7 days).
    step: Option<String>,
}

/// A series and how its CO2e was computed.
#[derive(Serialize, utoipa::ToSchema)]
struct SeriesAnswer {
    series: EnergySeries,
    /// PUE and grid intensity per cluster, with sources.
    carbon: Vec<String>,
}

fn bad(field: &'static str, message: impl Into<String>) -> EnergyError {
    EnergyError::InvalidInput {
        field,
        message: message.into(),
    }
}

/// `3600`, `30m`, `1h`, `6h`, `1d`, `7d` → seconds.
pub fn parse_step_secs(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    let (digits, unit) = match raw.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => raw.split_at(i),
        None => (raw, "s"),
    };
    let n: i64 = digits.parse().ok().filter(|n| *n > 0)?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(unit_secs)
}

fn parse_time(field: &'static str, raw: &str) -> Result<OffsetDateTime, EnergyError> {
    OffsetDateTime::parse(raw, &Rfc3339).map_err(|e| {
        bad(
            field,
            format!("expected RFC 3339 such as 2026-11-29T00:00:00Z ({e})"),
        )
    })
}

fn selection(params: &SeriesParams) -> Result<Selection, EnergyError> {
    let some = |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
    if some(&params.cluster).is_some() && some(&params.node).is_none() {
        return Err(bad(
            "cluster",
            "cluster chooses a node's cluster: give node with it",
        ));
    }
    Ok(
        match (
            some(&params.team),
            some(&params.service),
            some(&params.namespace),
            some(&params.node),
        ) {
            (Some(team), Some(service), None, None) => Selection::Service { team, service },
            (Some(team), None, None, None) => Selection::Team(team),
            (None, None, Some(namespace), None) => Selection::Namespace(namespace),
            (None, None, None, Some(node)) => Selection::Node {
                cluster: some(&params.cluster),
                node,
            },
            (None, None, None, None) => Selection::All,
            (None, Some(_), _, _) => return Err(bad("team", "give the team with the service")),
            _ => {
                return Err(bad(
                    "team",
                    "choose one of team (+ service), namespace or node",
                ))
            }
        },
    )
}

/// Energy and CO2e over time for one selection.
#[utoipa::path(
    get,
    path = "/api/v1/energy/series",
    tag = "energy",
    params(SeriesParams),
    responses(
        (status = 200, description = "The series", body = SeriesAnswer),
        (status = 422, description = "A bad selection, time, step or query", body = ErrorBody),
    )
)]
async fn series(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<SeriesParams>,
) -> EnergyResult<Json<SeriesAnswer>> {
    let selection = selection(&params)?;
    let (next_hour, _) = buckets(OffsetDateTime::now_utc());
    let to = match &params.to {
        Some(raw) => parse_time("to", raw)?,
        None => next_hour + Duration::hours(1),
    };
    let from = match &params.from {
        Some(raw) => parse_time("from", raw)?,
        None => to - Duration::days(1),
    };
    let step_secs = match &params.step {
        Some(raw) => parse_step_secs(raw)
            .ok_or_else(|| bad("step", "expected a duration such as 3600, 1h, 6h or 1d"))?,
        None if (to - from) > Duration::days(7) => 86_400,
        None => 3_600,
    };
    let series = state
        .energy
        .query
        .series(&selection, from, to, step_secs)
        .await?;
    Ok(Json(SeriesAnswer {
        series,
        carbon: state.energy.query.carbon_notes(),
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct OverviewParams {
    /// `24h` (default), `7d`, `30d` or `90d`.
    period: Option<String>,
}

/// Everything the Energy page shows for one period.
#[utoipa::path(
    get,
    path = "/api/v1/energy/overview",
    tag = "energy",
    params(OverviewParams),
    responses(
        (status = 200, description = "The overview", body = EnergyOverview),
        (status = 422, description = "A bad period or query", body = ErrorBody),
    )
)]
async fn overview(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<OverviewParams>,
) -> EnergyResult<Json<EnergyOverview>> {
    let period = match params.period.as_deref() {
        Some(raw) => {
            EnergyPeriod::parse(raw).ok_or_else(|| bad("period", "use 24h, 7d, 30d or 90d"))?
        }
        None => EnergyPeriod::Day,
    };
    Ok(Json(
        state
            .energy
            .query
            .overview(period, OffsetDateTime::now_utc())
            .await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct PodsParams {
    team: String,
    service: String,
}

/// Power now and the per-pod breakdown of one service (raw samples of the last 5 minutes).
#[utoipa::path(
    get,
    path = "/api/v1/energy/pods",
    tag = "energy",
    params(PodsParams),
    responses(
        (status = 200, description = "The service's pods' power", body = ServicePodPower),
        (status = 422, description = "A missing team or service, or a bad query", body = ErrorBody),
    )
)]
async fn pods(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<PodsParams>,
) -> EnergyResult<Json<ServicePodPower>> {
    let pods = crate::energy::pods::service_pods(
        state.energy.query.pool(),
        &params.team,
        &params.service,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(Json(pods))
}

/// A stored request count.
#[derive(Serialize, utoipa::ToSchema)]
struct RequestCountAnswer {
    team: String,
    service: String,
    #[schema(format = DateTime)]
    from: String,
    #[schema(format = DateTime)]
    to: String,
    requests: i64,
    recorded: Recorded,
}

/// `POST /api/v1/energy/request-counts`: `{"team","service","from","to","requests"}`, whole UTC
/// hours. 201 for a new interval, 200 when the same interval is re-sent (its count replaced).
#[utoipa::path(
    post,
    path = "/api/v1/energy/request-counts",
    tag = "energy",
    request_body = RequestCountBody,
    responses(
        (status = 201, description = "A new interval", body = RequestCountAnswer),
        (status = 200, description = "The same interval again: its count replaced", body = RequestCountAnswer),
        (status = 403, description = "The caller is not an organisation admin", body = ErrorBody),
        (status = 422, description = "A refused field or body", body = ErrorBody),
    )
)]
async fn record_request_count(
    State(state): State<AppState>,
    body: Result<Json<RequestCountBody>, JsonRejection>,
) -> EnergyResult<(StatusCode, Json<RequestCountAnswer>)> {
    use crate::energy::sci::{record_requests, RequestCount};
    let Json(body) = body.map_err(|e| bad("body", e.body_text()))?;
    let count = RequestCount::parse(body, OffsetDateTime::now_utc())?;
    let recorded = record_requests(state.energy.query.pool(), &count).await?;
    let status = match recorded {
        Recorded::Created => StatusCode::CREATED,
        Recorded::Replaced => StatusCode::OK,
    };
    Ok((
        status,
        Json(RequestCountAnswer {
            from: count.from.format(&Rfc3339).unwrap_or_default(),
            to: count.to.format(&Rfc3339).unwrap_or_default(),
            team: count.team,
            service: count.service,
            requests: count.requests,
            recorded,
        }),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct SciParams {
    team: String,
    service: String,
    /// `24h` (default), `7d`, `30d` or `90d`.
    period: Option<String>,
}

/// SCI per deploy: the deploys in the period and the operational figures for one.
#[derive(Serialize, utoipa::ToSchema)]
struct PerDeploy {
    deploys: i64,
    /// `operational / deploys` (`null` without deploys).
    figures: Option<BySource>,
}

/// A service's SCI over a period (docs/ENERGY.md, "SCI").
#[derive(Serialize, utoipa::ToSchema)]
struct SciAnswer {
    team: String,
    service: String,
    /// `24h`, `7d`, `30d` or `90d`.
    period: String,
    from: String,
    to: String,
    formula: String,
    /// Why embodied emissions (M) are not included.
    embodied: String,
    /// The service's energy and CO2e over the period.
    operational: BySource,
    per_deploy: PerDeploy,
    per_request: RequestSci,
    /// PUE and grid intensity per cluster, with sources.
    carbon: Vec<String>,
}

/// `GET /api/v1/energy/sci?team=&service=&period=24h|7d|30d|90d`: the service's operational
/// CO2e over the period, per deploy and per request (docs/ENERGY.md, "SCI").
#[utoipa::path(
    get,
    path = "/api/v1/energy/sci",
    tag = "energy",
    params(SciParams),
    responses(
        (status = 200, description = "The service's SCI", body = SciAnswer),
        (status = 422, description = "A missing team or service, a bad period or query", body = ErrorBody),
    )
)]
async fn service_sci(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<SciParams>,
) -> EnergyResult<Json<SciAnswer>> {
    use crate::energy::{query::EnergyQuery, sci};
    let period = match params.period.as_deref() {
        Some(raw) => {
            EnergyPeriod::parse(raw).ok_or_else(|| bad("period", "use 24h, 7d, 30d or 90d"))?
        }
        None => EnergyPeriod::Day,
    };
    let query = &state.energy.query;
    let (from, to, step_secs) = EnergyQuery::period_range(period, OffsetDateTime::now_utc());
    let selection = Selection::Service {
        team: params.team.clone(),
        service: params.service.clone(),
    };
    let series = query.series(&selection, from, to, step_secs).await?;
    let deploys = sci::deploy_counts(query.pool(), from, to)
        .await?
        .get(&(params.team.clone(), params.service.clone()))
        .copied()
        .unwrap_or(0);
    let per_request = sci::request_sci(query, &params.team, &params.service, from, to).await?;
    Ok(Json(SciAnswer {
        team: params.team,
        service: params.service,
        period: period.as_str().to_owned(),
        from: series.from,
        to: series.to,
        formula: "SCI = (E × I + M) per R; E in kWh (PUE applied), I grid gCO2e/kWh, R one deploy or one request".to_owned(),
        embodied: sci::EMBODIED_NOTE.to_owned(),
        per_deploy: PerDeploy {
            deploys,
            figures: sci::per_unit(&series.total, deploys as f64),
        },
        operational: series.total,
        per_request,
        carbon: query.carbon_notes(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_parse_with_units() {
        assert_eq!(parse_step_secs("3600"), Some(3600));
        assert_eq!(parse_step_secs("6h"), Some(21_600));
        assert_eq!(parse_step_secs("1d"), Some(86_400));
        assert_eq!(parse_step_secs("0h"), None);
        assert_eq!(parse_step_secs("1w"), None);
    }
}
