//! Endpoints that need the App's JWT: the App itself, a repository's installation, and minting
//! installation tokens.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::json;

use super::{parse_id, JsonBody};
use crate::auth::{Caller, JWT_NOT_DECODED};
use crate::error::ApiError;
use crate::payloads;
use crate::server::Shared;

/// Only a valid App JWT passes; GitHub answers anything else with a JWT complaint.
fn require_app(caller: &Caller) -> Result<(), ApiError> {
    match caller {
        Caller::App => Ok(()),
        Caller::BadJwt(message) => Err(ApiError::jwt(message)),
        _ => Err(ApiError::jwt(JWT_NOT_DECODED)),
    }
}

pub(super) async fn get_app(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<serde_json::Value>, ApiError> {
    require_app(&caller)?;
    Ok(Json(payloads::app(&shared.api, shared.app_id)))
}

pub(super) async fn get_repo_installation(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((owner, repo)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    require_app(&caller)?;
    let state = shared.lock();
    let installed = state
        .repo(&owner, &repo)
        .is_some_and(|found| found.installed);
    let account = state
        .owner(&owner)
        .filter(|_| installed)
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(payloads::installation(
        &shared.api,
        shared.app_id,
        account,
    )))
}

pub(super) async fn create_access_token(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_app(&caller)?;
    let installation_id = parse_id(&id)?;
    let body = JsonBody::parse(&body)?;
    let requested = body.opt_str_list("repositories")?;
    let requested_ids = match body.get("repository_ids") {
        None => None,
        Some(serde_json::Value::Array(ids)) => Some(
            ids.iter()
                .map(|id| {
                    id.as_u64().ok_or_else(|| {
                        ApiError::invalid_request(
                            "For 'items', the repository id is not an integer.",
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => {
            return Err(ApiError::invalid_request(
                "For 'properties/repository_ids', the value is not an array.",
            ))
        }
    };
    let mut state = shared.lock();
    if state.owner_of_installation(installation_id).is_none() {
        return Err(ApiError::not_found());
    }
    let installed = state.installation_repos(installation_id);
    let narrowed = if requested.is_some() || requested_ids.is_some() {
        let mut names = Vec::new();
        for name in requested.iter().flatten() {
            let repo = installed
                .iter()
                .find(|repo| repo.name.eq_ignore_ascii_case(name));
            names.push(
                repo.map(|repo| repo.name.clone())
                    .ok_or_else(inaccessible)?,
            );
        }
        for id in requested_ids.iter().flatten() {
            let repo = installed.iter().find(|repo| repo.id == *id);
            names.push(
                repo.map(|repo| repo.name.clone())
                    .ok_or_else(inaccessible)?,
            );
        }
        Some(names)
    } else {
        None
    };
    let repositories: Option<Vec<serde_json::Value>> = narrowed.as_ref().map(|names| {
        installed
            .iter()
            .filter(|repo| names.contains(&repo.name))
            .filter_map(|repo| {
                let owner = state.owner(&repo.owner)?;
                Some(payloads::repository(&shared.api, repo, owner))
            })
            .collect()
    });
    let (token, expires_at) = state.issue_token(installation_id, narrowed);
    let mut answer = json!({
        "token": token,
        "expires_at": payloads::timestamp(expires_at),
        "permissions": payloads::permissions(),
        "repository_selection": "selected",
    });
    if let (Some(repositories), Some(object)) = (repositories, answer.as_object_mut()) {
        object.insert(
            "repositories".to_owned(),
            serde_json::Value::Array(repositories),
        );
    }
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

fn inaccessible() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "There is at least one repository that does not exist or is not accessible to the parent installation.",
    )
}
