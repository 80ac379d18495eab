//! The energy HTTP API: `POST /api/v1/ingest` for agents (a node token, or the agent's
//! ServiceAccount token: checked before the body is read), and under
//! `/api/v1/energy/` (the admin `CANOPY_API_TOKEN`) node tokens, ingest counters, series, the
//! overview, request counts and SCI as JSON. Errors map to HTTP in `http/error.rs`.

use app::api::energy::EnergyPeriod;
use axum::{
    body::Bytes,
    extract::{rejection::JsonRejection, DefaultBodyLimit, Path, State},
    http::{header, HeaderMap, StatusCode},
    middleware,
    response::{IntoResponse, Response},
    Json,
};
use serde::Deserialize;
use serde_json::json;
use time::{format_description::well_known::Rfc3339, Duration, OffsetDateTime};

use axum::extract::FromRequest;

use super::error::{ApiError, ApiResult};
use super::{authn::Caller, extract::ApiQuery, routes::RouteTable, AppState};
use crate::energy::{
    buckets::buckets,
    query::Selection,
    tokens::{NodeIdentity, TOKEN_PREFIX},
    EnergyError,
};

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTokenBody {
    cluster: Option<String>,
    node: String,
    created_by: Option<String>,
}

async fn create_token(
    State(state): State<AppState>,
    Json(body): Json<CreateTokenBody>,
) -> EnergyResult<impl IntoResponse> {
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

async fn list_tokens(State(state): State<AppState>) -> EnergyResult<impl IntoResponse> {
    Ok(Json(state.energy.tokens.list().await?))
}

async fn revoke_token(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> EnergyResult<impl IntoResponse> {
    Ok(Json(state.energy.tokens.revoke(id).await?))
}

async fn ingest_stats(State(state): State<AppState>) -> impl IntoResponse {
    Json(state.energy.ingestor.stats())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SeriesParams {
    team: Option<String>,
    service: Option<String>,
    namespace: Option<String>,
    node: Option<String>,
    /// With `node`: the cluster it is in (node names are unique within a cluster only).
    cluster: Option<String>,
    from: Option<String>,
    to: Option<String>,
    step: Option<String>,
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

async fn series(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<SeriesParams>,
) -> EnergyResult<impl IntoResponse> {
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
    Ok(Json(json!({
        "series": series,
        "carbon": state.energy.query.carbon_notes(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OverviewParams {
    period: Option<String>,
}

async fn overview(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<OverviewParams>,
) -> EnergyResult<impl IntoResponse> {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PodsParams {
    team: String,
    service: String,
}

/// Power now and the per-pod breakdown of one service (raw samples of the last 5 minutes).
async fn pods(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<PodsParams>,
) -> EnergyResult<impl IntoResponse> {
    let pods = crate::energy::pods::service_pods(
        state.energy.query.pool(),
        &params.team,
        &params.service,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(Json(pods))
}

/// `POST /api/v1/energy/request-counts`: `{"team","service","from","to","requests"}`, whole UTC
/// hours. 201 for a new interval, 200 when the same interval is re-sent (its count replaced).
async fn record_request_count(
    State(state): State<AppState>,
    body: Result<Json<crate::energy::sci::RequestCountBody>, JsonRejection>,
) -> EnergyResult<impl IntoResponse> {
    use crate::energy::sci::{record_requests, Recorded, RequestCount};
    let Json(body) = body.map_err(|e| bad("body", e.body_text()))?;
    let count = RequestCount::parse(body, OffsetDateTime::now_utc())?;
    let recorded = record_requests(state.energy.query.pool(), &count).await?;
    let status = match recorded {
        Recorded::Created => StatusCode::CREATED,
        Recorded::Replaced => StatusCode::OK,
    };
    Ok((
        status,
        Json(json!({
            "team": count.team,
            "service": count.service,
            "from": count.from.format(&Rfc3339).unwrap_or_default(),
            "to": count.to.format(&Rfc3339).unwrap_or_default(),
            "requests": count.requests,
            "recorded": recorded,
        })),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SciParams {
    team: String,
    service: String,
    period: Option<String>,
}

/// `GET /api/v1/energy/sci?team=&service=&period=24h|7d|30d|90d`: the service's operational
/// CO2e over the period, per deploy and per request (docs/ENERGY.md, "SCI").
async fn service_sci(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<SciParams>,
) -> EnergyResult<impl IntoResponse> {
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
    Ok(Json(json!({
        "team": params.team,
        "service": params.service,
        "period": period.as_str(),
        "from": series.from,
        "to": series.to,
        "formula": "SCI = (E × I + M) per R; E in kWh (PUE applied), I grid gCO2e/kWh, R one deploy or one request",
        "embodied": sci::EMBODIED_NOTE,
        "operational": series.total,
        "per_deploy": {
            "deploys": deploys,
            "figures": sci::per_unit(&series.total, deploys as f64),
        },
        "per_request": per_request,
        "carbon": query.carbon_notes(),
    })))
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
