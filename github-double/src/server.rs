//! The axum application: shared state, the gate every GitHub API request passes (User-Agent,
//! injected faults, who is calling, the request log) and the router joining API and control.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::Body;
use axum::extract::{Request, State as AxumState};
use axum::http::header::{AUTHORIZATION, USER_AGENT};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use jsonwebtoken::DecodingKey;
use serde_json::json;

use crate::auth::identify;
use crate::error::{ApiError, DOCS_URL};
use crate::records::RecordedRequest;
use crate::state::State;

/// Request bodies above this are refused, as GitHub refuses very large payloads.
const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

const USER_AGENT_REQUIRED: &str = "Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). Check https://developer.github.com for other possible causes.";

/// What every handler shares.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// The double's base URL without the trailing slash, standing in for `https://api.github.com`.
    pub api: String,
    pub app_id: u64,
    pub decoding_key: DecodingKey,
    pub webhook_secret: String,
    pub http: reqwest::Client,
}

impl Shared {
    pub fn new(
        api: String,
        app_id: u64,
        decoding_key: DecodingKey,
        webhook_secret: String,
        http: reqwest::Client,
    ) -> Self {
        Self {
            state: Mutex::new(State::new()),
            api,
            app_id,
            decoding_key,
            webhook_secret,
            http,
        }
    }

    /// The state; a panic in another holder leaves it usable (every change is one step).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let api = crate::api::routes()
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), gate));
    api.merge(crate::control::routes()).with_state(shared)
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}

/// What the gate decided before any endpoint sees a request.
enum Verdict {
    /// Refused before anything else, as GitHub does.
    NoUserAgent,
    /// An injected fault answers instead of the endpoint.
    Fault(u16),
    Pass,
}

/// Checks and records one GitHub API request, then lets the endpoint answer it.
async fn gate(AxumState(shared): AxumState<Arc<Shared>>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large").into_response();
    };
    let now_unix = time::OffsetDateTime::now_utc().unix_timestamp();
    let path = parts.uri.path().to_owned();
    let (index, caller, verdict) = {
        let mut state = shared.lock();
        let caller = identify(
            parts.headers.get(AUTHORIZATION),
            &state,
            &shared.decoding_key,
            shared.app_id,
            now_unix,
        );
        state.requests.push(RecordedRequest {
            method: parts.method.to_string(),
            path: path.clone(),
            query: parts.uri.query().map(str::to_owned),
            auth: caller.auth_kind(),
            status: 0,
            body: serde_json::from_slice(&bytes).ok(),
        });
        let index = state.requests.len() - 1;
        let has_user_agent = parts
            .headers
            .get(USER_AGENT)
            .is_some_and(|agent| !agent.as_bytes().trim_ascii().is_empty());
        let verdict = if !has_user_agent {
            Verdict::NoUserAgent
        } else if let Some(status) = state.take_fault(&path) {
            Verdict::Fault(status)
        } else {
            Verdict::Pass
        };
        (index, caller, verdict)
    };
    let mut response = match verdict {
        Verdict::NoUserAgent => (
            StatusCode::FORBIDDEN,
            Json(json!({ "message": USER_AGENT_REQUIRED })),
        )
            .into_response(),
        Verdict::Fault(status) => fault_response(status),
        Verdict::Pass => {
            parts.extensions.insert(caller);
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
    };
    if let Some(recorded) = shared.lock().requests.get_mut(index) {
        recorded.status = response.status().as_u16();
    }
    let headers = response.headers_mut();
    headers.insert(
        HeaderName::from_static("x-github-media-type"),
        HeaderValue::from_static("github.v3; format=json"),
    );
    if let Ok(id) = HeaderValue::from_str(&uuid::Uuid::new_v4().simple().to_string().to_uppercase())
    {
        headers.insert(HeaderName::from_static("x-github-request-id"), id);
    }
    response
}

/// What GitHub answers when it is having a bad day.
fn fault_response(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let message = match status {
        StatusCode::INTERNAL_SERVER_ERROR | StatusCode::BAD_GATEWAY => "Server Error",
        other => other.canonical_reason().unwrap_or("Server Error"),
    };
    (
        status,
        Json(json!({
            "message": message,
            "documentation_url": DOCS_URL,
            "status": status.as_u16().to_string(),
        })),
    )
        .into_response()
}
