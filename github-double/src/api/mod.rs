//! The GitHub REST API surface: routes, and the access rules GitHub applies to repositories.

mod app;
mod body;
mod comments;
mod deployments;
mod repos;

use std::collections::HashMap;
use std::sync::Arc;

use axum::routing::{get, patch, post};
use axum::Router;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::server::Shared;
use crate::state::State;

pub(crate) use body::JsonBody;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/app", get(app::get_app))
        .route(
            "/app/installations/{id}/access_tokens",
            post(app::create_access_token),
        )
        .route(
            "/repos/{owner}/{repo}/installation",
            get(app::get_repo_installation),
        )
        .route("/repos/{owner}/{repo}", get(repos::get_repository))
        .route(
            "/repos/{owner}/{repo}/contents",
            get(repos::get_root_contents),
        )
        .route(
            "/repos/{owner}/{repo}/contents/",
            get(repos::get_root_contents),
        )
        .route(
            "/repos/{owner}/{repo}/contents/{*path}",
            get(repos::get_contents),
        )
        .route(
            "/repos/{owner}/{repo}/git/trees/{tree}",
            get(repos::get_tree),
        )
        .route(
            "/repos/{owner}/{repo}/git/blobs/{sha}",
            get(repos::get_blob),
        )
        .route(
            "/repos/{owner}/{repo}/commits/{git_ref}/check-runs",
            get(repos::list_check_runs),
        )
        .route(
            "/repos/{owner}/{repo}/deployments",
            get(deployments::list_deployments).post(deployments::create_deployment),
        )
        .route(
            "/repos/{owner}/{repo}/deployments/{id}",
            get(deployments::get_deployment),
        )
        .route(
            "/repos/{owner}/{repo}/deployments/{id}/statuses",
            get(deployments::list_statuses).post(deployments::create_status),
        )
        .route(
            "/repos/{owner}/{repo}/issues/{number}/comments",
            get(comments::list_comments).post(comments::create_comment),
        )
        .route(
            "/repos/{owner}/{repo}/issues/comments/{id}",
            patch(comments::update_comment).get(comments::get_comment),
        )
}

/// What a request does to a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
}

/// GitHub's rules for a repository endpoint. Refused credentials are 401 whatever the
/// repository; a private repository the caller cannot see is 404 (GitHub hides it); a public one
/// is readable by anyone, writable only with a token whose installation covers it.
pub(crate) fn authorize_repo(
    state: &State,
    caller: &Caller,
    owner: &str,
    repo: &str,
    access: Access,
) -> Result<(), ApiError> {
    if matches!(caller, Caller::App | Caller::BadJwt(_) | Caller::BadToken) {
        return Err(ApiError::bad_credentials());
    }
    let Some(found) = state.repo(owner, repo) else {
        return Err(ApiError::not_found());
    };
    let covered = match caller {
        Caller::Installation {
            installation_id,
            repositories,
        } => {
            found.installed
                && state
                    .owner(owner)
                    .is_some_and(|account| account.installation_id == *installation_id)
                && repositories.as_ref().is_none_or(|names| {
                    names
                        .iter()
                        .any(|name| name.eq_ignore_ascii_case(&found.name))
                })
        }
        _ => false,
    };
    match (covered, found.private, access, caller) {
        (true, _, _, _) => Ok(()),
        (false, true, _, _) => Err(ApiError::not_found()),
        (false, false, Access::Read, _) => Ok(()),
        (false, false, Access::Write, Caller::Anonymous) => {
            Err(ApiError::requires_authentication())
        }
        (false, false, Access::Write, _) => Err(ApiError::not_accessible_by_integration()),
    }
}

/// `per_page` (default 30, at most 100) and `page` (from 1), as GitHub pages lists.
pub(crate) fn paginate<T>(items: Vec<T>, query: &HashMap<String, String>) -> Vec<T> {
    let per_page = query
        .get("per_page")
        .and_then(|value| value.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page = query
        .get("page")
        .and_then(|value| value.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect()
}

/// Ids in paths: anything that is not a number names nothing.
pub(crate) fn parse_id(value: &str) -> Result<u64, ApiError> {
    value.parse().map_err(|_| ApiError::not_found())
}
