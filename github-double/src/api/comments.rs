//! Issue and pull-request comments: create, edit, list (oldest first, as GitHub lists them).
//! The double keeps no issues: any issue number takes comments.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::Value;

use super::{authorize_repo, paginate, parse_id, Access, JsonBody};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::payloads::{self, timestamp};
use crate::records::RecordedComment;
use crate::server::Shared;
use crate::state::now;

/// GitHub refuses comment bodies longer than this.
const MAX_BODY_CHARS: usize = 65_536;

fn comment_body(bytes: &[u8]) -> Result<String, ApiError> {
    let body = JsonBody::parse(bytes)?.required_str("body")?;
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(ApiError::validation_failed(
            "IssueComment",
            "data",
            "Body is too long (maximum is 65536 characters)",
        ));
    }
    Ok(body)
}

pub(super) async fn create_comment(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((owner, repo, number)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut state = shared.lock();
    authorize_repo(&state, &caller, &owner, &repo, Access::Write)?;
    let issue_number = parse_id(&number)?;
    let body = comment_body(&body)?;
    let id = state.next_id();
    let created_at = timestamp(now());
    let found = state
        .repo_mut(&owner, &repo)
        .ok_or_else(ApiError::not_found)?;
    let comment = RecordedComment {
        id,
        issue_number,
        body,
        created_at: created_at.clone(),
        updated_at: created_at,
    };
    let answer = payloads::comment(&shared.api, shared.app_id, found, &comment);
    found.comments.push(comment);
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

pub(super) async fn update_comment(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((owner, repo, id)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let mut state = shared.lock();
    authorize_repo(&state, &caller, &owner, &repo, Access::Write)?;
    let id = parse_id(&id)?;
    let found = state
        .repo_mut(&owner, &repo)
        .ok_or_else(ApiError::not_found)?;
    let index = found
        .comments
        .iter()
        .position(|comment| comment.id == id)
        .ok_or_else(ApiError::not_found)?;
    let body = comment_body(&body)?;
    let comment = &mut found.comments[index];
    comment.body = body;
    comment.updated_at = timestamp(now());
    let comment = comment.clone();
    Ok(Json(payloads::comment(
        &shared.api,
        shared.app_id,
        found,
        &comment,
    )))
}

pub(super) async fn get_comment(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let state = shared.lock();
    authorize_repo(&state, &caller, &owner, &repo, Access::Read)?;
    let id = parse_id(&id)?;
    let found = state.repo(&owner, &repo).ok_or_else(ApiError::not_found)?;
    let comment = found
        .comments
        .iter()
        .find(|comment| comment.id == id)
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(payloads::comment(
        &shared.api,
        shared.app_id,
        found,
        comment,
    )))
}

pub(super) async fn list_comments(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((owner, repo, number)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let state = shared.lock();
    authorize_repo(&state, &caller, &owner, &repo, Access::Read)?;
    let issue_number = parse_id(&number)?;
    let found = state.repo(&owner, &repo).ok_or_else(ApiError::not_found)?;
    let comments = found
        .comments
        .iter()
        .filter(|comment| comment.issue_number == issue_number)
        .collect();
    let page = paginate(comments, &query)
        .into_iter()
        .map(|comment| payloads::comment(&shared.api, shared.app_id, found, comment))
        .collect();
    Ok(Json(Value::Array(page)))
}
