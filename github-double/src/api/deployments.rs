//! Deployments and deployment statuses, with GitHub's checks: required contexts must have passed,
//! states come from a fixed list, descriptions are at most 140 characters, and a successful
//! status marks earlier successful deployments to that environment inactive (`auto_inactive`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};

use super::{authorize_repo, paginate, parse_id, Access, JsonBody};
use crate::auth::Caller;
use crate::error::{ApiError, DOCS_URL};
use crate::payloads::{self, timestamp};
use crate::records::{
    CheckConclusion, CheckStatus, DeploymentState, RecordedDeployment, RecordedDeploymentStatus,
};
use crate::server::Shared;
use crate::state::{now, Repo};

const MAX_DESCRIPTION_CHARS: usize = 140;

pub(super) async fn create_deployment(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((owner, repo)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut state = shared.lock();
    authorize_repo(&state, &caller, &owner, &repo, Access::Write)?;
    let body = JsonBody::parse(&body)?;
    let git_ref = body.required_str("ref")?;
    let task = body.opt_str("task")?.unwrap_or_else(|| "deploy".to_owned());
    let auto_merge = body.opt_bool("auto_merge")?.unwrap_or(true);
    let required_contexts = body.opt_str_list("required_contexts")?;
    let payload = match body.get("payload") {
        None => json!({}),
        Some(value @ (Value::Object(_) | Value::String(_))) => value.clone(),
        Some(_) => {
            return Err(ApiError::invalid_request(
                "For 'properties/payload', the value is not an object or a string.",
            ))
        }
    };
    let environment = body
        .opt_str("environment")?
        .unwrap_or_else(|| "production".to_owned());
    let description = body.opt_nullable_str("description")?.unwrap_or_default();
    let transient_environment = body.opt_bool("transient_environment")?.unwrap_or(false);
    let production_environment = body
        .opt_bool("production_environment")?
        .unwrap_or(environment == "production");
    let id = state.next_id();
    let found = state
        .repo_mut(&owner, &repo)
        .ok_or_else(ApiError::not_found)?;
    let sha = found.resolve_ref(&git_ref);
    check_required_contexts(found, &sha, &git_ref, required_contexts.as_deref())?;
    let created_at = timestamp(now());
    let deployment = RecordedDeployment {
        id,
        sha,
        git_ref,
        task,
        environment: environment.clone(),
        original_environment: environment,
        description,
        payload,
        auto_merge,
        required_contexts,
        transient_environment,
        production_environment,
        created_at: created_at.clone(),
        updated_at: created_at,
        statuses: Vec::new(),
    };
    let answer = payloads::deployment(&shared.api, shared.app_id, found, &deployment);
    found.deployments.push(deployment);
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// Without `required_contexts` every check run on the commit must have passed; with it, the
/// named ones must exist and have passed. Otherwise GitHub answers 409.
fn check_required_contexts(
    repo: &Repo,
    sha: &str,
    git_ref: &str,
    required: Option<&[String]>,
) -> Result<(), ApiError> {
    let runs: Vec<_> = repo
        .check_runs
        .iter()
        .filter(|run| run.head_sha == sha)
        .collect();
    let state_of = |name: &str| -> &'static str {
        match runs.iter().find(|run| run.name == name) {
            None => "missing",
            Some(run) if run.status != CheckStatus::Completed => "pending",
            Some(run) => match run.conclusion {
                Some(
                    CheckConclusion::Success | CheckConclusion::Neutral | CheckConclusion::Skipped,
                ) => "success",
                _ => "failure",
            },
        }
    };
    let names: Vec<String> = match required {
        Some(names) => names.to_vec(),
        None => runs.iter().map(|run| run.name.clone()).collect(),
    };
    let failed: Vec<Value> = names
        .iter()
        .map(|name| (name, state_of(name)))
        .filter(|(_, state)| *state != "success")
        .map(|(name, state)| json!({ "context": name, "state": state }))
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    Err(ApiError::with_body(
        StatusCode::CONFLICT,
        json!({
            "message": format!("Conflict: Commit status checks failed for {git_ref}."),
            "errors": [{
                "contexts": failed,
                "resource": "Deployment",
                "field": "required_contexts",
                "code": "invalid",
            }],
            "documentation_url": DOCS_URL,
            "status": "409",
        }),
    ))
}

pub(super) async fn list_deployments(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((owner, repo)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let state = shared.lock();
    authorize_repo(&state, &caller, &owner, &repo, Access::Read)?;
    let found = state.repo(&owner, &repo).ok_or_else(ApiError::not_found)?;
    let matches =
        |filter: &str, value: &str| query.get(filter).is_none_or(|wanted| wanted == value);
    let listed: Vec<&RecordedDeployment> = found
        .deployments
        .iter()
        .rev()
        .filter(|deployment| {
            matches("sha", &deployment.sha)
                && matches("ref", &deployment.git_ref)
                && matches("task", &deployment.task)
                && matches("environment", &deployment.environment)
        })
        .collect();
    let page = paginate(listed, &query)
        .into_iter()
        .map(|deployment| payloads::deployment(&shared.api, shared.app_id, found, deployment))
        .collect();
    Ok(Json(Value::Array(page)))
}

pub(super) async fn get_deployment(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let state = shared.lock();
    authorize_repo(&state, &caller, &owner, &repo, Access::Read)?;
    let id = parse_id(&id)?;
    let found = state.repo(&owner, &repo).ok_or_else(ApiError::not_found)?;
    let deployment = found
        .deployments
        .iter()
        .find(|deployment| deployment.id == id)
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(payloads::deployment(
        &shared.api,
        shared.app_id,
        found,
        deployment,
    )))
}

pub(super) async fn create_status(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((owner, repo, id)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut state = shared.lock();
    authorize_repo(&state, &caller, &owner, &repo, Access::Write)?;
    let deployment_id = parse_id(&id)?;
    let known = state.repo(&owner, &repo).is_some_and(|found| {
        found
            .deployments
            .iter()
            .any(|deployment| deployment.id == deployment_id)
    });
    if !known {
        return Err(ApiError::not_found());
    }
    let body = JsonBody::parse(&body)?;
    let state_name = body.required_str("state")?;
    let new_state = DeploymentState::parse(&state_name).ok_or_else(|| {
        let allowed: Vec<String> = DeploymentState::ALL
            .iter()
            .map(|state| format!("\"{}\"", state.as_str()))
            .collect();
        ApiError::invalid_request(&format!(
            "For 'properties/state', \"{state_name}\" is not one of [{}].",
            allowed.join(", ")
        ))
    })?;
    let description = body.opt_str("description")?.unwrap_or_default();
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ApiError::validation_failed(
            "DeploymentStatus",
            "description",
            "description is too long (maximum is 140 characters)",
        ));
    }
    let log_url = match body.opt_str("log_url")? {
        Some(url) => url,
        None => body.opt_str("target_url")?.unwrap_or_default(),
    };
    let environment_url = body.opt_str("environment_url")?.unwrap_or_default();
    let new_environment = body.opt_str("environment")?;
    let auto_inactive = body.opt_bool("auto_inactive")?.unwrap_or(true);
    let status_id = state.next_id();
    let created_at = timestamp(now());
    let found = state
        .repo_mut(&owner, &repo)
        .ok_or_else(ApiError::not_found)?;
    let deployment = found
        .deployments
        .iter_mut()
        .find(|deployment| deployment.id == deployment_id)
        .ok_or_else(ApiError::not_found)?;
    if let Some(environment) = new_environment {
        deployment.environment = environment;
    }
    deployment.updated_at = created_at.clone();
    let environment = deployment.environment.clone();
    let status = RecordedDeploymentStatus {
        id: status_id,
        state: new_state,
        description,
        environment: environment.clone(),
        environment_url,
        log_url,
        created_at: created_at.clone(),
    };
    deployment.statuses.insert(0, status.clone());
    if new_state == DeploymentState::Success && auto_inactive {
        mark_earlier_inactive(
            &mut state,
            &owner,
            &repo,
            deployment_id,
            &environment,
            &created_at,
        );
    }
    let found = state.repo(&owner, &repo).ok_or_else(ApiError::not_found)?;
    let answer =
        payloads::deployment_status(&shared.api, shared.app_id, found, deployment_id, &status);
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `auto_inactive`: earlier non-transient, non-production deployments to the same environment
/// whose latest status is `success` get an `inactive` status.
fn mark_earlier_inactive(
    state: &mut crate::state::State,
    owner: &str,
    repo: &str,
    deployment_id: u64,
    environment: &str,
    created_at: &str,
) {
    let Some(found) = state.repo(owner, repo) else {
        return;
    };
    let earlier: Vec<u64> = found
        .deployments
        .iter()
        .filter(|deployment| {
            deployment.id < deployment_id
                && deployment.environment == environment
                && !deployment.transient_environment
                && !deployment.production_environment
                && deployment
                    .statuses
                    .first()
                    .is_some_and(|status| status.state == DeploymentState::Success)
        })
        .map(|deployment| deployment.id)
        .collect();
    for id in earlier {
        let status_id = state.next_id();
        let Some(found) = state.repo_mut(owner, repo) else {
            return;
        };
        if let Some(deployment) = found
            .deployments
            .iter_mut()
            .find(|deployment| deployment.id == id)
        {
            deployment.statuses.insert(
                0,
                RecordedDeploymentStatus {
                    id: status_id,
                    state: DeploymentState::Inactive,
                    description: String::new(),
                    environment: environment.to_owned(),
                    environment_url: String::new(),
                    log_url: String::new(),
                    created_at: created_at.to_owned(),
                },
            );
        }
    }
}

pub(super) async fn list_statuses(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((owner, repo, id)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let state = shared.lock();
    authorize_repo(&state, &caller, &owner, &repo, Access::Read)?;
    let deployment_id = parse_id(&id)?;
    let found = state.repo(&owner, &repo).ok_or_else(ApiError::not_found)?;
    let deployment = found
        .deployments
        .iter()
        .find(|deployment| deployment.id == deployment_id)
        .ok_or_else(ApiError::not_found)?;
    let page = paginate(deployment.statuses.iter().collect(), &query)
        .into_iter()
        .map(|status| {
            payloads::deployment_status(&shared.api, shared.app_id, found, deployment_id, status)
        })
        .collect();
    Ok(Json(Value::Array(page)))
}
