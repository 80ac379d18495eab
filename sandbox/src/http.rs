//! An HTTP endpoint for simulated logs, shaped like the Kubernetes pod log API:
//! `GET /api/v1/namespaces/{namespace}/pods/{pod}/log?container=NAME&previous=true`.

use axum::{
    extract::{Path, Query, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use serde::Deserialize;

use crate::logs::{LogKey, LogStore};

/// The router serving `logs`; mount it in any axum app or serve it alone.
pub fn router(logs: LogStore) -> Router {
    Router::new()
        .route(
            "/api/v1/namespaces/{namespace}/pods/{pod}/log",
            get(pod_log),
        )
        .with_state(logs)
}

#[derive(Debug, Deserialize)]
struct LogQuery {
    container: Option<String>,
    #[serde(default)]
    previous: bool,
}

async fn pod_log(
    State(logs): State<LogStore>,
    Path((namespace, pod)): Path<(String, String)>,
    Query(query): Query<LogQuery>,
) -> Response {
    let container = match query.container {
        Some(container) => container,
        None => {
            let containers = logs.containers(&namespace, &pod);
            match containers.as_slice() {
                [only] => only.clone(),
                [] => return not_found(format!("no simulated logs for pod {namespace}/{pod}")),
                _ => {
                    let message = format!(
                        "a container name must be specified for pod {pod}, choose one of: [{}]",
                        containers.join(" ")
                    );
                    return (StatusCode::BAD_REQUEST, message).into_response();
                }
            }
        }
    };
    let key = LogKey::new(&namespace, &pod, &container);
    match logs.text(&key, query.previous) {
        Some(text) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response(),
        None if query.previous => not_found(format!(
            "previous terminated container \"{container}\" in pod \"{pod}\" not found"
        )),
        None => not_found(format!(
            "no simulated logs for container \"{container}\" in pod {namespace}/{pod}"
        )),
    }
}

fn not_found(message: String) -> Response {
    (StatusCode::NOT_FOUND, message).into_response()
}
