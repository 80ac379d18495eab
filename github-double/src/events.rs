//! Webhook payloads shaped like GitHub's `push` and `pull_request` events, built from the
//! double's repositories so ids, privacy, default branch and installation agree with the API.

use serde_json::{json, Value};

use crate::error::{DoubleError, Result};
use crate::payloads::{self, node_id, timestamp, user};
use crate::state::{now, random_sha, State};

const ZERO_SHA: &str = "0000000000000000000000000000000000000000";
/// Who pushes and opens pull requests in generated events.
const DEVELOPER_LOGIN: &str = "octo-dev";
const DEVELOPER_ID: u64 = 7_000_001;
/// Who owns the fork in a fork pull request.
pub const FORK_OWNER_LOGIN: &str = "octo-fork";
const FORK_OWNER_ID: u64 = 7_000_002;

fn repository(state: &State, api: &str, owner: &str, repo: &str) -> Result<(Value, u64)> {
    let unknown = || DoubleError::UnknownRepo {
        owner: owner.to_owned(),
        repo: repo.to_owned(),
    };
    let found = state.repo(owner, repo).ok_or_else(unknown)?;
    let account = state.owner(owner).ok_or_else(unknown)?;
    Ok((
        payloads::repository(api, found, account),
        account.installation_id,
    ))
}

fn installation(installation_id: u64) -> Value {
    json!({ "id": installation_id, "node_id": node_id("MDIz", "Integration::Installation", installation_id) })
}

pub(crate) fn push_event(
    state: &State,
    api: &str,
    owner: &str,
    repo: &str,
    branch: &str,
    after_sha: &str,
) -> Result<Value> {
    let (mut repository, installation_id) = repository(state, api, owner, repo)?;
    let found = state.repo(owner, repo);
    let current = found.and_then(|found| found.branches.get(branch).cloned());
    let before = match current {
        Some(head) if head == after_sha => found
            .and_then(|found| found.previous_heads.get(branch).cloned())
            .unwrap_or_else(|| ZERO_SHA.to_owned()),
        Some(head) => head,
        None => ZERO_SHA.to_owned(),
    };
    let full_name = repository["full_name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let pushed_at = now();
    // Push events carry the owner's name and e-mail, and Unix times for two fields.
    if let Some(object) = repository.as_object_mut() {
        if let Some(Value::Object(owner_object)) = object.get_mut("owner") {
            let login = owner_object.get("login").cloned().unwrap_or(Value::Null);
            owner_object.insert("name".to_owned(), login);
            owner_object.insert("email".to_owned(), Value::Null);
        }
        let created = found.map_or(0, |found| found.created_at.unix_timestamp());
        object.insert("created_at".to_owned(), json!(created));
        object.insert("pushed_at".to_owned(), json!(pushed_at.unix_timestamp()));
        let default_branch = object.get("default_branch").cloned().unwrap_or(Value::Null);
        object.insert("master_branch".to_owned(), default_branch);
        object.insert("stargazers".to_owned(), json!(0));
    }
    let author = json!({
        "name": "Octo Dev",
        "email": "octo-dev@users.noreply.github.com",
        "username": DEVELOPER_LOGIN,
    });
    let commit = json!({
        "id": after_sha,
        "tree_id": random_sha(),
        "distinct": true,
        "message": format!("Update {branch}"),
        "timestamp": timestamp(pushed_at),
        "url": format!("https://github.com/{full_name}/commit/{after_sha}"),
        "author": author,
        "committer": author,
        "added": [],
        "removed": [],
        "modified": ["canopy.yaml"],
    });
    Ok(json!({
        "ref": format!("refs/heads/{branch}"),
        "before": before,
        "after": after_sha,
        "repository": repository,
        "pusher": { "name": DEVELOPER_LOGIN, "email": "octo-dev@users.noreply.github.com" },
        "sender": user(api, DEVELOPER_LOGIN, DEVELOPER_ID, "User"),
        "installation": installation(installation_id),
        "created": before == ZERO_SHA,
        "deleted": false,
        "forced": false,
        "base_ref": null,
        "compare": format!("https://github.com/{full_name}/compare/{}...{}", short(&before), short(after_sha)),
        "commits": [commit.clone()],
        "head_commit": commit,
    }))
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// Arguments of a `pull_request` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestEvent<'a> {
    /// `opened`, `synchronize`, `reopened`, `closed`, ...
    pub action: &'a str,
    pub owner: &'a str,
    pub repo: &'a str,
    pub number: u64,
    pub head_sha: &'a str,
    pub head_ref: &'a str,
    /// The head branch lives in `octo-fork/<repo>`, a fork.
    pub from_fork: bool,
}

pub(crate) fn pull_request_event(
    state: &State,
    api: &str,
    event: &PullRequestEvent<'_>,
) -> Result<Value> {
    let (repository, installation_id) = repository(state, api, event.owner, event.repo)?;
    let found = state.repo(event.owner, event.repo);
    let default_branch = found
        .map(|found| found.default_branch.clone())
        .unwrap_or_default();
    let base_sha = found
        .and_then(|found| found.branches.get(&default_branch).cloned())
        .unwrap_or_else(|| ZERO_SHA.to_owned());
    let full_name = repository["full_name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (author, head_repo) = if event.from_fork {
        let fork_owner = user(api, FORK_OWNER_LOGIN, FORK_OWNER_ID, "User");
        let mut fork = repository.clone();
        if let Some(object) = fork.as_object_mut() {
            let fork_name = format!("{FORK_OWNER_LOGIN}/{}", event.repo);
            object.insert("id".to_owned(), json!(FORK_OWNER_ID + 1));
            object.insert("full_name".to_owned(), json!(fork_name));
            object.insert("fork".to_owned(), json!(true));
            object.insert("private".to_owned(), json!(false));
            object.insert("visibility".to_owned(), json!("public"));
            object.insert("owner".to_owned(), fork_owner.clone());
            object.insert(
                "html_url".to_owned(),
                json!(format!("https://github.com/{fork_name}")),
            );
            object.insert("url".to_owned(), json!(format!("{api}/repos/{fork_name}")));
        }
        (fork_owner, fork)
    } else {
        (
            user(api, DEVELOPER_LOGIN, DEVELOPER_ID, "User"),
            repository.clone(),
        )
    };
    let head_owner_login = head_repo["owner"]["login"].clone();
    let number = event.number;
    let url = format!("{api}/repos/{full_name}/pulls/{number}");
    let at = timestamp(now());
    let closed = event.action == "closed";
    let pull_request = json!({
        "url": url,
        "id": 2_000_000_000 + number,
        "node_id": node_id("PR", "PullRequest", number),
        "html_url": format!("https://github.com/{full_name}/pull/{number}"),
        "diff_url": format!("https://github.com/{full_name}/pull/{number}.diff"),
        "issue_url": format!("{api}/repos/{full_name}/issues/{number}"),
        "comments_url": format!("{api}/repos/{full_name}/issues/{number}/comments"),
        "statuses_url": format!("{api}/repos/{full_name}/statuses/{}", event.head_sha),
        "number": number,
        "state": if closed { "closed" } else { "open" },
        "locked": false,
        "title": format!("Change {}", event.head_ref),
        "user": author,
        "body": null,
        "created_at": at,
        "updated_at": at,
        "closed_at": if closed { json!(at) } else { Value::Null },
        "merged_at": null,
        "merge_commit_sha": null,
        "draft": false,
        "head": {
            "label": format!("{}:{}", head_owner_login.as_str().unwrap_or_default(), event.head_ref),
            "ref": event.head_ref,
            "sha": event.head_sha,
            "user": head_repo["owner"].clone(),
            "repo": head_repo,
        },
        "base": {
            "label": format!("{}:{default_branch}", event.owner),
            "ref": default_branch,
            "sha": base_sha,
            "user": repository["owner"].clone(),
            "repo": repository.clone(),
        },
        "author_association": if event.from_fork { "CONTRIBUTOR" } else { "MEMBER" },
        "merged": false,
        "mergeable": null,
        "comments": 0,
        "commits": 1,
        "additions": 1,
        "deletions": 0,
        "changed_files": 1,
    });
    Ok(json!({
        "action": event.action,
        "number": number,
        "pull_request": pull_request,
        "repository": repository,
        "installation": installation(installation_id),
        "sender": pull_request["user"].clone(),
    }))
}
