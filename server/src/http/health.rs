//! `/healthz` (the process is alive) and `/readyz` (the database answers).

use axum::{extract::State, http::StatusCode, Json};
use serde_json::{json, Value};

use super::AppState;

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    if crate::db::is_ready(&state.pool).await {
        (
            StatusCode::OK,
            Json(json!({ "status": "ready", "database": "ok" })),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not ready", "database": "unreachable" })),
        )
    }
}
