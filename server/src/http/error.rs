//! The one place errors become HTTP responses: which status each kind of failure gets, and the
//! two shapes it is written in (JSON for `/api/v1`, plain text for the page's `/ui/` streams).
//! Domain errors (`DeployError`, `EnergyError`) first become what users see (`AppError`) in
//! `server/src/error.rs`; only the energy API's own refusals keep their finer JSON kinds here.

use app::api::{spec::SpecErrors, AppError};
use axum::{
    extract::rejection::{JsonRejection, PathRejection, QueryRejection},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;

use crate::{deploy::DeployError, energy::EnergyError};

/// The status a user-facing error is answered with, everywhere.
pub fn status_of(error: &AppError) -> StatusCode {
    match error {
        AppError::InvalidInput { .. } | AppError::InvalidSpec { .. } => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        AppError::NoCluster { .. } | AppError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
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

/// For the page's own streams and downloads (`/ui/...`): the message as plain text.
pub fn plain(error: AppError) -> Response {
    (status_of(&error), error.to_string()).into_response()
}

/// An API failure, rendered as JSON `{"error": kind, "message": ..., ...}` with its status.
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

fn json_error(status: StatusCode, body: serde_json::Value) -> Response {
    (status, Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Spec(errors) => json_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "error": "invalid_spec", "message": errors.to_string(), "errors": errors.0 }),
            ),
            ApiError::BadBody(message) => json_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "error": "invalid_body", "message": message }),
            ),
            ApiError::BadQuery(message) => json_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "error": "invalid_query", "message": message }),
            ),
            ApiError::Unauthorized(message) => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                Json(json!({ "error": "unauthorized", "message": message })),
            )
                .into_response(),
            ApiError::Energy(error) => energy_response(error),
            ApiError::App(error) => {
                let status = status_of(&error);
                let mut body = serde_json::to_value(&error).unwrap_or_else(|_| json!({}));
                if let serde_json::Value::Object(map) = &mut body {
                    map.insert("message".to_owned(), json!(error.to_string()));
                }
                json_error(status, body)
            }
        }
    }
}

fn energy_response(error: EnergyError) -> Response {
    let message = error.to_string();
    match error {
        EnergyError::Refused(refusal) => json_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "error": refusal.kind, "field": refusal.field, "message": message }),
        ),
        EnergyError::Duplicate(batch_id) => json_error(
            StatusCode::CONFLICT,
            json!({ "error": "duplicate_batch", "batch_id": batch_id, "message": message }),
        ),
        EnergyError::Overlapping(overlap) => json_error(
            StatusCode::CONFLICT,
            json!({ "error": "overlapping_interval", "field": overlap.field,
                    "node": overlap.node, "cluster": overlap.cluster,
                    "stored": overlap.stored, "message": message }),
        ),
        EnergyError::WrongNode {
            token_node,
            cluster,
            batch_node,
            ..
        } => json_error(
            StatusCode::FORBIDDEN,
            json!({ "error": "wrong_node", "field": "node", "node": batch_node,
                    "allowed_node": token_node, "cluster": cluster, "message": message }),
        ),
        EnergyError::InvalidInput { field, .. } => json_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "error": "invalid_input", "field": field, "message": message }),
        ),
        EnergyError::NotFound(_) => json_error(
            StatusCode::NOT_FOUND,
            json!({ "error": "not_found", "message": message }),
        ),
        EnergyError::Identity(error) => identity_response(error, message),
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
    let forbidden = |kind: &str| {
        json_error(
            StatusCode::FORBIDDEN,
            json!({ "error": kind, "message": message }),
        )
    };
    match error {
        IdentityError::NotConfigured(_) | IdentityError::NotAuthenticated(_) => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(json!({ "error": "unauthorized", "message": message })),
        )
            .into_response(),
        IdentityError::NotTheAgent { .. } => forbidden("not_agent"),
        IdentityError::NotPodBound { .. } => forbidden("not_pod_bound"),
        IdentityError::PodNotOnNode { .. } => forbidden("pod_not_on_node"),
        IdentityError::Unavailable(source) => {
            tracing::error!(error = %source, "TokenReview failed");
            json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "error": "unavailable", "message": message }),
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
        parts.status = status_of(&error);
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
