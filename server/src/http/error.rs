//! The one place errors become HTTP responses: which status each kind of failure gets, and the
//! two shapes it is written in (JSON for `/api/v1`, plain text for the page's `/ui/` streams).
//! Domain errors (`DeployError`, `EnergyError`) first become what users see (`AppError`) in
//! `server/src/error.rs`; only the energy API's own refusals keep their finer JSON kinds here.

use app::api::{
    spec::{SpecError, SpecErrors},
    AppError,
};
use std::time::Duration;

use axum::{
    extract::rejection::{JsonRejection, PathRejection, QueryRejection},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use axum_extra::headers::{HeaderMapExt, RetryAfter};
use serde::{Deserialize, Serialize};

use crate::{deploy::DeployError, energy::EnergyError};

/// The status a user-facing error is answered with, everywhere.
pub fn status_of(error: &AppError) -> StatusCode {
    match error {
        AppError::InvalidInput { .. } | AppError::InvalidSpec { .. } => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        AppError::NoCluster { .. } | AppError::Unavailable | AppError::Busy => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        AppError::Upstream { .. } => StatusCode::BAD_GATEWAY,
        AppError::Conflict { .. } => StatusCode::CONFLICT,
        AppError::NotFound { .. } => StatusCode::NOT_FOUND,
        AppError::Unauthorized => StatusCode::UNAUTHORIZED,
        AppError::Forbidden { .. } => StatusCode::FORBIDDEN,
        AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        AppError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        AppError::Transport(_) => StatusCode::BAD_REQUEST,
    }
}

/// How long to wait before trying again, for the failures that pass by themselves: a busy
/// pool frees up within seconds; an unreachable database is given longer.
pub fn retry_after_of(error: &AppError) -> Option<Duration> {
    match error {
        AppError::Busy => Some(BUSY_RETRY_AFTER),
        AppError::Unavailable => Some(UNAVAILABLE_RETRY_AFTER),
        _ => None,
    }
}

/// `Retry-After` of a busy Canopy (a request waits up to 3 s for a connection).
const BUSY_RETRY_AFTER: Duration = Duration::from_secs(5);
/// `Retry-After` of an unreachable database.
const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(30);

/// The status and headers every answer of `error` carries (JSON, text or a page).
pub fn head_of(error: &AppError) -> (StatusCode, HeaderMap) {
    let mut headers = HeaderMap::new();
    if let Some(delay) = retry_after_of(error) {
        headers.typed_insert(RetryAfter::delay(delay));
    }
    (status_of(error), headers)
}

/// For the page's own streams and downloads (`/ui/...`): the message as plain text.
pub fn plain(error: AppError) -> Response {
    let (status, headers) = head_of(&error);
    (status, headers, error.to_string()).into_response()
}

/// An API failure, rendered as JSON ([`ErrorBody`]: `{"error": kind, "message": ..., ...}`)
/// with its status.
#[derive(Debug)]
pub enum ApiError {
    App(AppError),
    Spec(SpecErrors),
    Unauthorized(&'static str),
    /// The body is not the JSON this endpoint takes (unknown field, wrong type, ...).
    BadBody(String),
    /// The query string has a parameter this endpoint does not take, or a bad value.
    BadQuery(String),
    /// The energy capability's refusals keep their own kinds (`duplicate_batch`, ...).
    Energy(EnergyError),
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        ApiError::BadBody(rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadQuery(rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::App(AppError::NotFound {
            what: format!("This path ({})", rejection.body_text()),
        })
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        ApiError::App(error)
    }
}

impl From<DeployError> for ApiError {
    fn from(error: DeployError) -> Self {
        ApiError::App(error.into())
    }
}

impl From<EnergyError> for ApiError {
    fn from(error: EnergyError) -> Self {
        ApiError::Energy(error)
    }
}

/// The one JSON shape of every `/api/v1` refusal (`ApiError` in docs/openapi.json). `error` and
/// `message` are always there; the other fields only when they apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ApiError)]
pub struct ErrorBody {
    /// What kind of refusal: `invalid_body`, `invalid_query`, `invalid_input`, `invalid_spec`,
    /// `unauthorized`, `forbidden`, `not_found`, `conflict`, `too_many_requests`,
    /// `no_cluster`, `unavailable` (the database cannot be reached), `busy` (every database
    /// connection is in use: Canopy is overloaded), `upstream`, `internal`; the agents' ingest also
    /// `duplicate_batch`, `wrong_node` and the refused batch's kind (`malformed`,
    /// `unknown_version`, `not_conserved`, ...).
    pub error: String,
    /// For people: what is wrong and what to do.
    pub message: String,
    /// The same as `error`, for Canopy's user-facing errors (what server functions answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The input the refusal is about (`team`, `name`, `samples[0].end`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// `invalid_spec`: every bad field with what is allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<SpecError>>,
    /// `not_found`: what was not found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub what: Option<String>,
    /// `no_cluster`: why no cluster can be reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `internal`: the reference to quote; the server log has the details under it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// `duplicate_batch`: the batch already stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<uuid::Uuid>,
    /// `wrong_node`, `overlapping_interval`: the node the batch names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// `wrong_node`: the node the credential belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_node: Option<String>,
    /// `wrong_node`, `overlapping_interval`: the node's cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// `overlapping_interval`: the interval already stored that the batch overlaps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<crate::energy::ingest::overlap::StoredInterval>,
}

impl ErrorBody {
    fn new(error: &str, message: String) -> Self {
        Self {
            error: error.to_owned(),
            message,
            kind: None,
            field: None,
            errors: None,
            what: None,
            reason: None,
            reference: None,
            batch_id: None,
            node: None,
            allowed_node: None,
            cluster: None,
            stored: None,
        }
    }

    fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// A user-facing error: its kind (as `error` and `kind`), the message people read and
    /// the variant's own fields.
    fn of_app(error: &AppError) -> Self {
        let kind = app_kind(error);
        let mut body = Self::new(kind, error.to_string());
        body.kind = Some(kind.to_owned());
        match error {
            AppError::InvalidInput { field, .. } | AppError::Conflict { field, .. } => {
                body.field = serde_json::to_value(field)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned));
            }
            AppError::InvalidSpec { errors } => body.errors = Some(errors.clone()),
            AppError::NoCluster { reason } => body.reason = Some(reason.clone()),
            AppError::NotFound { what } => body.what = Some(what.clone()),
            AppError::Internal { reference } => body.reference = Some(reference.clone()),
            AppError::Unauthorized
            | AppError::Forbidden { .. }
            | AppError::TooManyRequests { .. }
            | AppError::Unavailable
            | AppError::Busy
            | AppError::Upstream { .. }
            | AppError::Transport(_) => {}
        }
        body
    }
}

/// `AppError`'s serde tag (`kind`) for each variant.
fn app_kind(error: &AppError) -> &'static str {
    match error {
        AppError::InvalidInput { .. } => "invalid_input",
        AppError::Conflict { .. } => "conflict",
        AppError::InvalidSpec { .. } => "invalid_spec",
        AppError::NoCluster { .. } => "no_cluster",
        AppError::NotFound { .. } => "not_found",
        AppError::Unauthorized => "unauthorized",
        AppError::Forbidden { .. } => "forbidden",
        AppError::TooManyRequests { .. } => "too_many_requests",
        AppError::Unavailable => "unavailable",
        AppError::Busy => "busy",
        AppError::Upstream { .. } => "upstream",
        AppError::Internal { .. } => "internal",
        AppError::Transport(_) => "transport",
    }
}

fn json_error(status: StatusCode, body: ErrorBody) -> Response {
    (status, Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Spec(errors) => {
                let mut body = ErrorBody::new("invalid_spec", errors.to_string());
                body.errors = Some(errors.0);
                json_error(StatusCode::UNPROCESSABLE_ENTITY, body)
            }
            ApiError::BadBody(message) => json_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorBody::new("invalid_body", message),
            ),
            ApiError::BadQuery(message) => json_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorBody::new("invalid_query", message),
            ),
            ApiError::Unauthorized(message) => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                Json(ErrorBody::new("unauthorized", message.to_owned())),
            )
                .into_response(),
            ApiError::Energy(error) => energy_response(error),
            ApiError::App(error) => {
                let (status, headers) = head_of(&error);
                (status, headers, Json(ErrorBody::of_app(&error))).into_response()
            }
        }
    }
}

fn energy_response(error: EnergyError) -> Response {
    let message = error.to_string();
    match error {
        EnergyError::Refused(refusal) => json_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorBody::new(refusal.kind.as_str(), message).with_field(refusal.field),
        ),
        EnergyError::Overlapping(overlap) => {
            let mut body =
                ErrorBody::new("overlapping_interval", message).with_field(overlap.field);
            body.node = Some(overlap.node);
            body.cluster = Some(overlap.cluster);
            body.stored = overlap.stored;
            json_error(StatusCode::CONFLICT, body)
        }
        EnergyError::Duplicate(batch_id) => {
            let mut body = ErrorBody::new("duplicate_batch", message);
            body.batch_id = Some(batch_id);
            json_error(StatusCode::CONFLICT, body)
        }
        EnergyError::WrongNode {
            token_node,
            cluster,
            batch_node,
            ..
        } => {
            let mut body = ErrorBody::new("wrong_node", message).with_field("node");
            body.node = Some(batch_node);
            body.allowed_node = Some(token_node);
            body.cluster = Some(cluster);
            json_error(StatusCode::FORBIDDEN, body)
        }
        EnergyError::InvalidInput { field, .. } => json_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorBody::new("invalid_input", message).with_field(field),
        ),
        EnergyError::Identity(error) => identity_response(error, message),
        EnergyError::NotFound(_) => {
            json_error(StatusCode::NOT_FOUND, ErrorBody::new("not_found", message))
        }
        other => ApiError::App(other.into()).into_response(),
    }
}

/// An agent's ServiceAccount token refused: 401 when it proves nobody (to us), 403 when it is
/// someone who may not send (another account, no pod, a pod on no node), 503 when the API
/// server could not be asked.
fn identity_response(
    error: crate::energy::agent_identity::IdentityError,
    message: String,
) -> Response {
    use crate::energy::agent_identity::IdentityError;
    let forbidden =
        |kind: &str| json_error(StatusCode::FORBIDDEN, ErrorBody::new(kind, message.clone()));
    match error {
        IdentityError::NotConfigured(_) | IdentityError::NotAuthenticated(_) => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(ErrorBody::new("unauthorized", message.clone())),
        )
            .into_response(),
        IdentityError::NotTheAgent { .. } => forbidden("not_agent"),
        IdentityError::NotPodBound { .. } => forbidden("not_pod_bound"),
        IdentityError::PodNotOnNode { .. } => forbidden("pod_not_on_node"),
        IdentityError::Unavailable(source) => {
            tracing::error!(error = %source, "TokenReview failed");
            json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorBody::new("unavailable", message),
            )
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Largest server-function error body read to find its status (they are a few hundred bytes).
const SERVER_FN_ERROR_LIMIT: usize = 64 * 1024;

/// Server functions answer every `Err` with 500; this gives each its status from the same
/// table as the REST API (`403` for `Forbidden`, `404` for `NotFound`, ...). The body (the
/// serialized `AppError` scripts and the hydrated page read) is unchanged.
pub async fn server_fn_status(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let is_server_fn = request.uri().path().starts_with("/api/fn/");
    let response = next.run(request).await;
    if !is_server_fn || response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, SERVER_FN_ERROR_LIMIT).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the error could not be read",
            )
                .into_response()
        }
    };
    if let Ok(error) = serde_json::from_slice::<AppError>(&bytes) {
        let (status, headers) = head_of(&error);
        parts.status = status;
        parts.headers.extend(headers);
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_user_facing_error_has_one_status() {
        let cases = [
            (AppError::invalid(app::api::Field::Name, "x"), 422),
            (AppError::NotFound { what: "x".into() }, 404),
            (
                AppError::Conflict {
                    field: app::api::Field::Name,
                    message: "x".into(),
                },
                409,
            ),
            (AppError::Unavailable, 503),
            (AppError::Busy, 503),
            (AppError::NoCluster { reason: "x".into() }, 503),
            (
                AppError::Internal {
                    reference: "r".into(),
                },
                500,
            ),
        ];
        for (error, status) in cases {
            assert_eq!(status_of(&error).as_u16(), status, "{error:?}");
            assert_eq!(plain(error.clone()).status().as_u16(), status);
            assert_eq!(
                ApiError::App(error).into_response().status().as_u16(),
                status
            );
        }
    }

    /// `error`/`kind` name the variant exactly as `AppError`'s own serialization does (what
    /// server functions answer), and every body parses back as the one documented shape.
    #[test]
    fn every_error_body_has_the_one_shape() {
        let errors = [
            AppError::invalid(app::api::Field::Team, "x"),
            AppError::Conflict {
                field: app::api::Field::Route,
                message: "x".into(),
            },
            AppError::InvalidSpec { errors: vec![] },
            AppError::NoCluster { reason: "x".into() },
            AppError::NotFound { what: "x".into() },
            AppError::Unauthorized,
            AppError::Forbidden {
                message: "x".into(),
            },
            AppError::TooManyRequests {
                message: "x".into(),
            },
            AppError::Unavailable,
            AppError::Busy,
            AppError::Upstream {
                message: "x".into(),
            },
            AppError::Internal {
                reference: "r".into(),
            },
        ];
        for error in errors {
            let serialized = serde_json::to_value(&error).expect("serializes");
            let body = ErrorBody::of_app(&error);
            assert_eq!(serialized["kind"], body.error.as_str(), "{error:?}");
            assert_eq!(body.kind.as_deref(), Some(body.error.as_str()));
            for key in ["field", "errors", "what", "reason", "reference"] {
                assert_eq!(
                    serde_json::to_value(&body).expect("serializes").get(key),
                    serialized.get(key),
                    "{key} of {error:?}"
                );
            }
        }
    }

    #[test]
    fn busy_and_unreachable_say_when_to_try_again() {
        for error in [AppError::Busy, AppError::Unavailable] {
            let retry = retry_after_of(&error).expect("a delay");
            for response in [
                plain(error.clone()),
                ApiError::App(error.clone()).into_response(),
            ] {
                assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
                assert_eq!(
                    response.headers().get(header::RETRY_AFTER),
                    Some(&axum::http::HeaderValue::from(retry.as_secs())),
                    "{error:?}"
                );
            }
        }
        assert_ne!(
            AppError::Busy.to_string(),
            AppError::Unavailable.to_string()
        );
        assert!(plain(AppError::NotFound { what: "x".into() })
            .headers()
            .get(header::RETRY_AFTER)
            .is_none());
    }

    #[test]
    fn deploy_errors_keep_their_meaning_over_http() {
        let not_found = ApiError::from(DeployError::NotFound { what: "x".into() });
        assert_eq!(not_found.into_response().status(), StatusCode::NOT_FOUND);
        let spec = ApiError::from(DeployError::invalid_field("replicas", "too many"));
        assert_eq!(
            spec.into_response().status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        let database = ApiError::from(DeployError::Database(sqlx::Error::PoolTimedOut));
        assert_eq!(
            database.into_response().status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
