//! Errors: `DoubleError` for the library and control API, `ApiError` for answers shaped like GitHub's.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// What the double's library calls and control API can refuse.
#[derive(Debug, thiserror::Error)]
pub enum DoubleError {
    #[error("repository {owner}/{repo} is not known to the double")]
    UnknownRepo { owner: String, repo: String },
    #[error("repository {owner}/{repo} already exists")]
    RepoExists { owner: String, repo: String },
    #[error("{field} is invalid: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("could not read the seed file {path}")]
    SeedRead {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the seed is not valid JSON of the expected shape")]
    SeedParse(#[from] serde_json::Error),
    #[error("delivering the webhook to {target} failed")]
    WebhookDelivery {
        target: String,
        #[source]
        source: reqwest::Error,
    },
}

pub type Result<T, E = DoubleError> = std::result::Result<T, E>;

/// Where GitHub's generic error answers point.
pub(crate) const DOCS_URL: &str = "https://docs.github.com/rest";

/// An answer shaped like GitHub's error bodies: `{"message", "documentation_url", "status"}`
/// plus `errors` for validation failures.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    status: StatusCode,
    body: serde_json::Value,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: &str) -> Self {
        Self {
            status,
            body: json!({
                "message": message,
                "documentation_url": DOCS_URL,
                "status": status.as_u16().to_string(),
            }),
        }
    }

    pub(crate) fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not Found")
    }

    pub(crate) fn bad_credentials() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Bad credentials")
    }

    pub(crate) fn requires_authentication() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Requires authentication")
    }

    pub(crate) fn jwt(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    pub(crate) fn not_accessible_by_integration() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Resource not accessible by integration",
        )
    }

    pub(crate) fn problems_parsing_json() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Problems parsing JSON")
    }

    /// A request body that does not match the endpoint's JSON schema.
    pub(crate) fn invalid_request(detail: &str) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("Invalid request.\n\n{detail}"),
        )
    }

    /// A body that matches the schema but breaks a model rule ("Validation Failed").
    pub(crate) fn validation_failed(resource: &str, field: &str, message: &str) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body: json!({
                "message": "Validation Failed",
                "errors": [{
                    "resource": resource,
                    "code": "custom",
                    "field": field,
                    "message": message,
                }],
                "documentation_url": DOCS_URL,
                "status": "422",
            }),
        }
    }

    pub(crate) fn with_body(status: StatusCode, body: serde_json::Value) -> Self {
        Self { status, body }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// The control API's one mapping from library errors to HTTP answers.
impl From<DoubleError> for ApiError {
    fn from(error: DoubleError) -> Self {
        let status = match &error {
            DoubleError::UnknownRepo { .. } => StatusCode::NOT_FOUND,
            DoubleError::RepoExists { .. } => StatusCode::CONFLICT,
            DoubleError::Invalid { .. } | DoubleError::SeedParse(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            DoubleError::SeedRead { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            DoubleError::WebhookDelivery { .. } => StatusCode::BAD_GATEWAY,
        };
        let mut message = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        Self::with_body(status, json!({ "message": message }))
    }
}
