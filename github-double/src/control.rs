//! The control API under `/_double/` (no GitHub auth, not recorded): set up repositories,
//! files, branches, installations and check runs, inject faults, read what happened, and send
//! signed webhooks.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::events::{self, PullRequestEvent};
use crate::seed::{BranchHead, Installed, NewCheckRun, NewFault, NewRepo, PutFile, Seed};
use crate::server::Shared;
use crate::state::Fault;
use crate::webhooks::{self, WebhookDelivery};

type Answer = Result<Response, ApiError>;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_double/repos", post(add_repo))
        .route("/_double/repos/{owner}/{repo}/files", put(put_file))
        .route(
            "/_double/repos/{owner}/{repo}/branches/{*branch}",
            put(set_branch_head),
        )
        .route(
            "/_double/repos/{owner}/{repo}/installed",
            put(set_installed),
        )
        .route(
            "/_double/repos/{owner}/{repo}/deployments",
            get(deployments),
        )
        .route("/_double/repos/{owner}/{repo}/comments", get(comments))
        .route("/_double/check-runs", post(set_check_run))
        .route("/_double/faults", post(add_fault))
        .route("/_double/token-lifetime", put(set_token_lifetime))
        .route("/_double/requests", get(requests).delete(clear_requests))
        .route("/_double/installations", get(installations))
        .route("/_double/seed", post(apply_seed))
        .route("/_double/webhooks", post(send_webhook))
        .route("/_double/events/push", post(push_event))
        .route("/_double/events/pull_request", post(pull_request_event))
}

async fn add_repo(State(shared): State<Arc<Shared>>, Json(repo): Json<NewRepo>) -> Answer {
    let added = shared
        .lock()
        .add_repo(&repo.owner, &repo.name, repo.options)?;
    Ok((StatusCode::CREATED, Json(added)).into_response())
}

async fn put_file(
    State(shared): State<Arc<Shared>>,
    Path((owner, repo)): Path<(String, String)>,
    Json(file): Json<PutFile>,
) -> Answer {
    let sha = shared.lock().put_file(
        &owner,
        &repo,
        file.git_ref.as_deref(),
        &file.path,
        file.content.as_bytes(),
    )?;
    Ok(Json(json!({ "sha": sha })).into_response())
}

async fn set_branch_head(
    State(shared): State<Arc<Shared>>,
    Path((owner, repo, branch)): Path<(String, String, String)>,
    Json(head): Json<BranchHead>,
) -> Answer {
    shared
        .lock()
        .set_branch_head(&owner, &repo, &branch, &head.sha)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn set_installed(
    State(shared): State<Arc<Shared>>,
    Path((owner, repo)): Path<(String, String)>,
    Json(installed): Json<Installed>,
) -> Answer {
    shared
        .lock()
        .set_installed(&owner, &repo, installed.installed)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn deployments(
    State(shared): State<Arc<Shared>>,
    Path((owner, repo)): Path<(String, String)>,
) -> Answer {
    let state = shared.lock();
    let found = state.repo(&owner, &repo).ok_or_else(ApiError::not_found)?;
    let newest_first: Vec<_> = found.deployments.iter().rev().collect();
    Ok(Json(newest_first).into_response())
}

async fn comments(
    State(shared): State<Arc<Shared>>,
    Path((owner, repo)): Path<(String, String)>,
) -> Answer {
    let state = shared.lock();
    let found = state.repo(&owner, &repo).ok_or_else(ApiError::not_found)?;
    Ok(Json(&found.comments).into_response())
}

async fn set_check_run(State(shared): State<Arc<Shared>>, Json(run): Json<NewCheckRun>) -> Answer {
    let id = shared.lock().set_check_run(
        &run.owner,
        &run.repo,
        &run.sha,
        &run.name,
        run.status,
        run.conclusion,
    )?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))).into_response())
}

async fn add_fault(State(shared): State<Arc<Shared>>, Json(fault): Json<NewFault>) -> Answer {
    if StatusCode::from_u16(fault.status).is_err() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "status is not an HTTP status code",
        ));
    }
    shared.lock().faults.push(Fault {
        path_prefix: fault.path_prefix,
        status: fault.status,
        remaining: fault.count,
    });
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct TokenLifetime {
    seconds: u64,
}

async fn set_token_lifetime(
    State(shared): State<Arc<Shared>>,
    Json(lifetime): Json<TokenLifetime>,
) -> Answer {
    shared.lock().token_lifetime = Duration::from_secs(lifetime.seconds);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn requests(State(shared): State<Arc<Shared>>) -> Answer {
    Ok(Json(&shared.lock().requests).into_response())
}

async fn clear_requests(State(shared): State<Arc<Shared>>) -> Answer {
    shared.lock().requests.clear();
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn installations(State(shared): State<Arc<Shared>>) -> Answer {
    let state = shared.lock();
    let listed: Vec<Value> = state
        .owners
        .values()
        .map(|owner| {
            let repositories: Vec<String> = state
                .installation_repos(owner.installation_id)
                .iter()
                .map(|repo| repo.full_name())
                .collect();
            json!({
                "id": owner.installation_id,
                "account": owner.login,
                "repositories": repositories,
                "tokens_issued": state.tokens_issued.get(&owner.installation_id).copied().unwrap_or(0),
            })
        })
        .collect();
    Ok(Json(listed).into_response())
}

async fn apply_seed(State(shared): State<Arc<Shared>>, Json(seed): Json<Seed>) -> Answer {
    seed.apply(&mut shared.lock())?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn send_webhook(
    State(shared): State<Arc<Shared>>,
    Json(delivery): Json<WebhookDelivery>,
) -> Answer {
    let answer = webhooks::deliver(
        &shared.http,
        shared.app_id,
        &shared.webhook_secret,
        delivery,
    )
    .await?;
    Ok(Json(answer).into_response())
}

#[derive(Deserialize)]
struct PushEventRequest {
    owner: String,
    repo: String,
    branch: String,
    after: String,
}

async fn push_event(
    State(shared): State<Arc<Shared>>,
    Json(push): Json<PushEventRequest>,
) -> Answer {
    let state = shared.lock();
    let payload = events::push_event(
        &state,
        &shared.api,
        &push.owner,
        &push.repo,
        &push.branch,
        &push.after,
    )?;
    Ok(Json(payload).into_response())
}

#[derive(Deserialize)]
struct PullRequestEventRequest {
    action: String,
    owner: String,
    repo: String,
    number: u64,
    head_sha: String,
    head_ref: String,
    #[serde(default)]
    from_fork: bool,
}

async fn pull_request_event(
    State(shared): State<Arc<Shared>>,
    Json(request): Json<PullRequestEventRequest>,
) -> Answer {
    let state = shared.lock();
    let payload = events::pull_request_event(
        &state,
        &shared.api,
        &PullRequestEvent {
            action: &request.action,
            owner: &request.owner,
            repo: &request.repo,
            number: request.number,
            head_sha: &request.head_sha,
            head_ref: &request.head_ref,
            from_fork: request.from_fork,
        },
    )?;
    Ok(Json(payload).into_response())
}
