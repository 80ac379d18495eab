//! Reading a repository: the repository itself, file contents at a ref, and a commit's check runs.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use super::{authorize_repo, paginate, Access};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::payloads;
use crate::server::Shared;
use crate::state::{blob_sha, Repo};

type Answer = Result<Json<Value>, ApiError>;

pub(super) async fn get_repository(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((owner, repo)): Path<(String, String)>,
) -> Answer {
    let state = shared.lock();
    authorize_repo(&state, &caller, &owner, &repo, Access::Read)?;
    let found = state.repo(&owner, &repo).ok_or_else(ApiError::not_found)?;
    let account = state.owner(&owner).ok_or_else(ApiError::not_found)?;
    Ok(Json(payloads::repository(&shared.api, found, account)))
}

pub(super) async fn get_root_contents(
    shared: State<Arc<Shared>>,
    caller: Extension<Caller>,
    Path((owner, repo)): Path<(String, String)>,
    query: Query<HashMap<String, String>>,
) -> Answer {
    contents(shared, caller, owner, repo, String::new(), query).await
}

pub(super) async fn get_contents(
    shared: State<Arc<Shared>>,
    caller: Extension<Caller>,
    Path((owner, repo, path)): Path<(String, String, String)>,
    query: Query<HashMap<String, String>>,
) -> Answer {
    contents(shared, caller, owner, repo, path, query).await
}

/// A file (base64, wrapped at 60 characters like GitHub) or a directory listing.
async fn contents(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    owner: String,
    repo: String,
    path: String,
    Query(query): Query<HashMap<String, String>>,
) -> Answer {
    let state = shared.lock();
    authorize_repo(&state, &caller, &owner, &repo, Access::Read)?;
    let found = state.repo(&owner, &repo).ok_or_else(ApiError::not_found)?;
    let git_ref = query
        .get("ref")
        .filter(|value| !value.is_empty())
        .cloned()
        .unwrap_or_else(|| found.default_branch.clone());
    let tree = found.tree(&git_ref).ok_or_else(ApiError::not_found)?;
    let path = path.trim_matches('/');
    if let Some(content) = tree.get(path) {
        let mut entry = entry(&shared.api, found, &git_ref, path, "file", Some(content));
        if let Some(object) = entry.as_object_mut() {
            object.insert("content".to_owned(), Value::String(wrapped_base64(content)));
            object.insert("encoding".to_owned(), Value::String("base64".to_owned()));
        }
        return Ok(Json(entry));
    }
    let prefix = if path.is_empty() {
        String::new()
    } else {
        format!("{path}/")
    };
    let mut files = Vec::new();
    let mut dirs = BTreeSet::new();
    for (file_path, content) in tree.range(prefix.clone()..) {
        let Some(rest) = file_path.strip_prefix(&prefix) else {
            break;
        };
        match rest.split_once('/') {
            Some((dir, _)) => {
                dirs.insert(format!("{prefix}{dir}"));
            }
            None => files.push((file_path, content)),
        }
    }
    if files.is_empty() && dirs.is_empty() && !path.is_empty() {
        return Err(ApiError::not_found());
    }
    let mut listing: Vec<(String, Value)> = dirs
        .iter()
        .map(|dir| {
            (
                dir.clone(),
                entry(&shared.api, found, &git_ref, dir, "dir", None),
            )
        })
        .chain(files.iter().map(|(file_path, content)| {
            let file = entry(
                &shared.api,
                found,
                &git_ref,
                file_path,
                "file",
                Some(content),
            );
            ((*file_path).clone(), file)
        }))
        .collect();
    listing.sort_by(|left, right| left.0.cmp(&right.0));
    Ok(Json(Value::Array(
        listing.into_iter().map(|(_, value)| value).collect(),
    )))
}

fn entry(
    api: &str,
    repo: &Repo,
    git_ref: &str,
    path: &str,
    kind: &str,
    content: Option<&Vec<u8>>,
) -> Value {
    let full_name = repo.full_name();
    let sha = content
        .map(|bytes| blob_sha(bytes))
        .unwrap_or_else(|| blob_sha(path.as_bytes()));
    let url = format!("{api}/repos/{full_name}/contents/{path}?ref={git_ref}");
    let git_url = if kind == "dir" {
        format!("{api}/repos/{full_name}/git/trees/{sha}")
    } else {
        format!("{api}/repos/{full_name}/git/blobs/{sha}")
    };
    let html_url = format!(
        "https://github.com/{full_name}/{}/{git_ref}/{path}",
        if kind == "dir" { "tree" } else { "blob" }
    );
    let download_url = (kind == "file")
        .then(|| format!("https://raw.githubusercontent.com/{full_name}/{git_ref}/{path}"));
    json!({
        "type": kind,
        "name": path.rsplit('/').next().unwrap_or(path),
        "path": path,
        "sha": sha,
        "size": content.map_or(0, Vec::len),
        "url": url,
        "html_url": html_url,
        "git_url": git_url,
        "download_url": download_url,
        "_links": { "self": url, "git": git_url, "html": html_url },
    })
}

/// Base64 in lines of 60 characters, each ending in `\n`, as GitHub sends file contents.
fn wrapped_base64(content: &[u8]) -> String {
    let encoded = STANDARD.encode(content);
    let mut wrapped = String::with_capacity(encoded.len() + encoded.len() / 60 + 1);
    for line in encoded.as_bytes().chunks(60) {
        wrapped.push_str(&String::from_utf8_lossy(line));
        wrapped.push('\n');
    }
    wrapped
}

/// `GET /repos/{owner}/{repo}/git/trees/{tree}[?recursive=1]`: the tree of a branch or commit
/// (GitHub takes either as `tree_sha`); `recursive` lists every file and directory below it.
pub(super) async fn get_tree(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((owner, repo, tree)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Answer {
    let state = shared.lock();
    authorize_repo(&state, &caller, &owner, &repo, Access::Read)?;
    let found = state.repo(&owner, &repo).ok_or_else(ApiError::not_found)?;
    let commit = found.resolve_ref(&tree);
    let files = found.tree(&tree).ok_or_else(ApiError::not_found)?;
    let recursive = query
        .get("recursive")
        .is_some_and(|value| !value.is_empty() && value != "0" && value != "false");
    let full_name = found.full_name();
    let mut dirs = BTreeSet::new();
    let mut entries = Vec::new();
    for (path, content) in files {
        let parts: Vec<&str> = path.split('/').collect();
        for depth in 1..parts.len() {
            dirs.insert(parts[..depth].join("/"));
        }
        if recursive || parts.len() == 1 {
            let sha = blob_sha(content);
            entries.push((
                path.clone(),
                json!({ "path": path, "mode": "100644", "type": "blob", "sha": sha,
                        "size": content.len(),
                        "url": format!("{}/repos/{full_name}/git/blobs/{sha}", shared.api) }),
            ));
        }
    }
    for dir in dirs {
        if recursive || !dir.contains('/') {
            let sha = blob_sha(dir.as_bytes());
            entries.push((
                dir.clone(),
                json!({ "path": dir, "mode": "040000", "type": "tree", "sha": sha,
                        "url": format!("{}/repos/{full_name}/git/trees/{sha}", shared.api) }),
            ));
        }
    }
    entries.sort_by(|left, right| left.0.cmp(&right.0));
    Ok(Json(json!({
        "sha": commit,
        "url": format!("{}/repos/{full_name}/git/trees/{commit}", shared.api),
        "tree": entries.into_iter().map(|(_, entry)| entry).collect::<Vec<_>>(),
        "truncated": false,
    })))
}

/// `GET /repos/{owner}/{repo}/git/blobs/{sha}`: a file's content by its blob sha (base64).
pub(super) async fn get_blob(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((owner, repo, sha)): Path<(String, String, String)>,
) -> Answer {
    let state = shared.lock();
    authorize_repo(&state, &caller, &owner, &repo, Access::Read)?;
    let found = state.repo(&owner, &repo).ok_or_else(ApiError::not_found)?;
    let content = found
        .commits
        .values()
        .flat_map(|files| files.values())
        .find(|content| blob_sha(content) == sha)
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(json!({
        "sha": sha,
        "node_id": format!("B_{}", &sha[..sha.len().min(12)]),
        "size": content.len(),
        "url": format!("{}/repos/{}/git/blobs/{sha}", shared.api, found.full_name()),
        "content": wrapped_base64(content),
        "encoding": "base64",
    })))
}

pub(super) async fn list_check_runs(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((owner, repo, git_ref)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Answer {
    let state = shared.lock();
    authorize_repo(&state, &caller, &owner, &repo, Access::Read)?;
    let found = state.repo(&owner, &repo).ok_or_else(ApiError::not_found)?;
    let sha = found.resolve_ref(&git_ref);
    let mut runs: Vec<_> = found
        .check_runs
        .iter()
        .filter(|run| run.head_sha == sha)
        .filter(|run| query.get("check_name").is_none_or(|name| *name == run.name))
        .filter(|run| {
            query.get("status").is_none_or(|status| {
                serde_json::to_value(run.status).is_ok_and(|value| value == status.as_str())
            })
        })
        .collect();
    runs.sort_by_key(|run| std::cmp::Reverse(run.id));
    let total_count = runs.len();
    let page: Vec<Value> = paginate(runs, &query)
        .into_iter()
        .map(|run| payloads::check_run(&shared.api, found, run))
        .collect();
    Ok(Json(
        json!({ "total_count": total_count, "check_runs": page }),
    ))
}
