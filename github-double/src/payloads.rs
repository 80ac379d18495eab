//! JSON bodies shaped like GitHub's: users, the App, installations, repositories, deployments,
//! statuses, comments and check runs. `api` is the double's base URL without the trailing slash.

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::records::{
    RecordedCheckRun, RecordedComment, RecordedDeployment, RecordedDeploymentStatus,
};
use crate::state::{Owner, Repo};

/// The App's slug; its bot user is `canopy-test[bot]`.
pub const APP_SLUG: &str = "canopy-test";
pub(crate) const BOT_LOGIN: &str = "canopy-test[bot]";
const BOT_ID: u64 = 41_898_282;
const APP_OWNER_LOGIN: &str = "canopy-dev";
const APP_OWNER_ID: u64 = 9_000_001;
const APP_CREATED_AT: &str = "2024-01-15T09:30:00Z";

/// RFC 3339 with `Z`, to the second, like GitHub.
pub(crate) fn timestamp(at: OffsetDateTime) -> String {
    at.format(&Rfc3339)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

/// GraphQL node ids look like `R_kgDO...`; the double's are opaque and stable per id.
pub(crate) fn node_id(prefix: &str, kind: &str, id: u64) -> String {
    format!(
        "{prefix}_{}",
        STANDARD_NO_PAD.encode(format!("0{kind}{id}"))
    )
}

pub(crate) fn permissions() -> Value {
    json!({
        "checks": "read",
        "contents": "read",
        "deployments": "write",
        "issues": "write",
        "metadata": "read",
        "pull_requests": "write",
        "statuses": "read",
    })
}

pub(crate) fn events() -> Value {
    json!([
        "check_run",
        "check_suite",
        "deployment",
        "deployment_status",
        "pull_request",
        "push"
    ])
}

/// A user or organization object (`simple-user` in GitHub's schema).
pub(crate) fn user(api: &str, login: &str, id: u64, kind: &str) -> Value {
    let users = format!("{api}/users/{login}");
    json!({
        "login": login,
        "id": id,
        "node_id": node_id(if kind == "Organization" { "O" } else { "U" }, kind, id),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "gravatar_id": "",
        "url": users,
        "html_url": format!("https://github.com/{login}"),
        "followers_url": format!("{users}/followers"),
        "following_url": format!("{users}/following{{/other_user}}"),
        "gists_url": format!("{users}/gists{{/gist_id}}"),
        "starred_url": format!("{users}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{users}/subscriptions"),
        "organizations_url": format!("{users}/orgs"),
        "repos_url": format!("{users}/repos"),
        "events_url": format!("{users}/events{{/privacy}}"),
        "received_events_url": format!("{users}/received_events"),
        "type": kind,
        "user_view_type": "public",
        "site_admin": false,
    })
}

pub(crate) fn owner_user(api: &str, owner: &Owner) -> Value {
    user(api, &owner.login, owner.id, "Organization")
}

pub(crate) fn bot_user(api: &str) -> Value {
    user(api, BOT_LOGIN, BOT_ID, "Bot")
}

pub(crate) fn app(api: &str, app_id: u64) -> Value {
    json!({
        "id": app_id,
        "slug": APP_SLUG,
        "node_id": node_id("A", "Integration", app_id),
        "client_id": format!("Iv23li{app_id}"),
        "owner": user(api, APP_OWNER_LOGIN, APP_OWNER_ID, "Organization"),
        "name": "Canopy (test)",
        "description": "Canopy's GitHub App, as played by the GitHub double",
        "external_url": "http://127.0.0.1:3000",
        "html_url": format!("https://github.com/apps/{APP_SLUG}"),
        "created_at": APP_CREATED_AT,
        "updated_at": APP_CREATED_AT,
        "permissions": permissions(),
        "events": events(),
        "installations_count": 1,
    })
}

pub(crate) fn installation(api: &str, app_id: u64, owner: &Owner) -> Value {
    let id = owner.installation_id;
    json!({
        "id": id,
        "client_id": format!("Iv23li{app_id}"),
        "account": owner_user(api, owner),
        "repository_selection": "selected",
        "access_tokens_url": format!("{api}/app/installations/{id}/access_tokens"),
        "repositories_url": format!("{api}/installation/repositories"),
        "html_url": format!("https://github.com/organizations/{}/settings/installations/{id}", owner.login),
        "app_id": app_id,
        "app_slug": APP_SLUG,
        "target_id": owner.id,
        "target_type": "Organization",
        "permissions": permissions(),
        "events": events(),
        "created_at": timestamp(owner.installation_created_at),
        "updated_at": timestamp(owner.installation_created_at),
        "single_file_name": null,
        "has_multiple_single_files": false,
        "single_file_paths": [],
        "suspended_by": null,
        "suspended_at": null,
    })
}

/// A full repository object, as `GET /repos/{owner}/{repo}` answers.
pub(crate) fn repository(api: &str, repo: &Repo, owner: &Owner) -> Value {
    let full_name = repo.full_name();
    let url = format!("{api}/repos/{full_name}");
    json!({
        "id": repo.id,
        "node_id": node_id("R", "Repository", repo.id),
        "name": repo.name,
        "full_name": full_name,
        "private": repo.private,
        "owner": owner_user(api, owner),
        "html_url": format!("https://github.com/{full_name}"),
        "description": null,
        "fork": false,
        "url": url,
        "archive_url": format!("{url}/{{archive_format}}{{/ref}}"),
        "branches_url": format!("{url}/branches{{/branch}}"),
        "commits_url": format!("{url}/commits{{/sha}}"),
        "contents_url": format!("{url}/contents/{{+path}}"),
        "deployments_url": format!("{url}/deployments"),
        "issue_comment_url": format!("{url}/issues/comments{{/number}}"),
        "issues_url": format!("{url}/issues{{/number}}"),
        "pulls_url": format!("{url}/pulls{{/number}}"),
        "git_url": format!("git://github.com/{full_name}.git"),
        "ssh_url": format!("git@github.com:{full_name}.git"),
        "clone_url": format!("https://github.com/{full_name}.git"),
        "svn_url": format!("https://github.com/{full_name}"),
        "homepage": null,
        "size": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "language": null,
        "has_issues": true,
        "has_projects": true,
        "has_downloads": true,
        "has_wiki": false,
        "has_pages": false,
        "has_discussions": false,
        "forks_count": 0,
        "archived": false,
        "disabled": false,
        "open_issues_count": 0,
        "license": null,
        "allow_forking": true,
        "is_template": false,
        "topics": [],
        "visibility": if repo.private { "private" } else { "public" },
        "forks": 0,
        "open_issues": 0,
        "watchers": 0,
        "default_branch": repo.default_branch,
        "created_at": timestamp(repo.created_at),
        "updated_at": timestamp(repo.pushed_at),
        "pushed_at": timestamp(repo.pushed_at),
    })
}

pub(crate) fn deployment(
    api: &str,
    app_id: u64,
    repo: &Repo,
    deployment: &RecordedDeployment,
) -> Value {
    let repository_url = format!("{api}/repos/{}", repo.full_name());
    let url = format!("{repository_url}/deployments/{}", deployment.id);
    json!({
        "url": url,
        "id": deployment.id,
        "node_id": node_id("DE", "Deployment", deployment.id),
        "sha": deployment.sha,
        "ref": deployment.git_ref,
        "task": deployment.task,
        "payload": deployment.payload,
        "original_environment": deployment.original_environment,
        "environment": deployment.environment,
        "description": deployment.description,
        "creator": bot_user(api),
        "created_at": deployment.created_at,
        "updated_at": deployment.updated_at,
        "statuses_url": format!("{url}/statuses"),
        "repository_url": repository_url,
        "transient_environment": deployment.transient_environment,
        "production_environment": deployment.production_environment,
        "performed_via_github_app": app(api, app_id),
    })
}

pub(crate) fn deployment_status(
    api: &str,
    app_id: u64,
    repo: &Repo,
    deployment_id: u64,
    status: &RecordedDeploymentStatus,
) -> Value {
    let repository_url = format!("{api}/repos/{}", repo.full_name());
    let deployment_url = format!("{repository_url}/deployments/{deployment_id}");
    json!({
        "url": format!("{deployment_url}/statuses/{}", status.id),
        "id": status.id,
        "node_id": node_id("DES", "DeploymentStatus", status.id),
        "state": status.state.as_str(),
        "creator": bot_user(api),
        "description": status.description,
        "environment": status.environment,
        "target_url": status.log_url,
        "log_url": status.log_url,
        "environment_url": status.environment_url,
        "created_at": status.created_at,
        "updated_at": status.created_at,
        "deployment_url": deployment_url,
        "repository_url": repository_url,
        "performed_via_github_app": app(api, app_id),
    })
}

pub(crate) fn comment(api: &str, app_id: u64, repo: &Repo, comment: &RecordedComment) -> Value {
    let full_name = repo.full_name();
    json!({
        "id": comment.id,
        "node_id": node_id("IC", "IssueComment", comment.id),
        "url": format!("{api}/repos/{full_name}/issues/comments/{}", comment.id),
        "html_url": format!("https://github.com/{full_name}/issues/{}#issuecomment-{}", comment.issue_number, comment.id),
        "issue_url": format!("{api}/repos/{full_name}/issues/{}", comment.issue_number),
        "body": comment.body,
        "user": bot_user(api),
        "created_at": comment.created_at,
        "updated_at": comment.updated_at,
        "author_association": "NONE",
        "performed_via_github_app": app(api, app_id),
    })
}

pub(crate) fn check_run(api: &str, repo: &Repo, run: &RecordedCheckRun) -> Value {
    let full_name = repo.full_name();
    let url = format!("{api}/repos/{full_name}/check-runs/{}", run.id);
    json!({
        "id": run.id,
        "node_id": node_id("CR", "CheckRun", run.id),
        "head_sha": run.head_sha,
        "external_id": "",
        "url": url,
        "html_url": format!("https://github.com/{full_name}/runs/{}", run.id),
        "details_url": format!("https://github.com/{full_name}/runs/{}", run.id),
        "status": run.status,
        "conclusion": run.conclusion,
        "started_at": run.started_at,
        "completed_at": run.completed_at,
        "output": {
            "title": null,
            "summary": null,
            "text": null,
            "annotations_count": 0,
            "annotations_url": format!("{url}/annotations"),
        },
        "name": run.name,
        "check_suite": { "id": run.id + 7_000_000 },
        "app": {
            "id": 15368,
            "slug": "github-actions",
            "node_id": "MDM6QXBwMTUzNjg=",
            "name": "GitHub Actions",
        },
        "pull_requests": [],
    })
}
