//! Pull-request previews: `opened`, `synchronize` and `reopened` deploy the pull request's
//! commit (the image template's image, the `canopy.yaml` at that commit) of every linked
//! service to the preview environment `pr-<number>` (its own namespace, so the team's quota
//! applies), at the smallest size with one replica, for a limited time; one comment on the
//! pull request gives the URLs and is edited, never duplicated; `closed` (merged or not) and the
//! end of the time remove the previews' objects. Pull requests from forks are refused: their code
//! must never run with the team's secrets.

use std::collections::BTreeMap;

use app::api::{spec::Environment, ServiceName, ServiceRef, TeamName};
use serde::Deserialize;

use super::{
    canopy_file::CanopyFile,
    deliveries::{Action, Processed},
    links::Link,
    repo::{is_commit_sha, GitRef},
    Github, GithubError, RepoName, Result,
};

/// Marks Canopy's comment (so people and tools can tell it apart).
const COMMENT_MARK: &str = "<!-- canopy-preview -->";

#[derive(Debug, Deserialize)]
struct PullRequestEvent {
    action: String,
    number: u32,
    pull_request: PullRequest,
}

#[derive(Debug, Deserialize)]
struct PullRequest {
    #[serde(default)]
    title: String,
    head: PullRequestHead,
}

#[derive(Debug, Deserialize)]
struct PullRequestHead {
    sha: String,
    repo: Option<HeadRepository>,
}

#[derive(Debug, Deserialize)]
struct HeadRepository {
    full_name: String,
    #[serde(default)]
    fork: bool,
}

struct PreviewRow {
    team: String,
    service: String,
    head_sha: String,
    state: String,
    url: Option<String>,
    outcome: String,
    expires_at: time::OffsetDateTime,
}

impl Github {
    pub(super) async fn process_pull_request(
        &self,
        delivery: &str,
        repo: &RepoName,
        payload: &serde_json::Value,
    ) -> Result<Processed> {
        let event: PullRequestEvent = match serde_json::from_value(payload.clone()) {
            Ok(event) => event,
            Err(error) => {
                return Ok(Processed::Finished {
                    deployed: false,
                    summary: format!("the pull_request payload could not be read: {error}"),
                })
            }
        };
        let number = event.number;
        if !(1..=Environment::MAX_PREVIEW).contains(&number) {
            return Ok(Processed::Finished {
                deployed: false,
                summary: format!("pull request #{number} is beyond what previews are named for"),
            });
        }
        let from = event.pull_request.head.repo.as_ref();
        let fork = from.is_none_or(|head| {
            head.fork || !head.full_name.eq_ignore_ascii_case(&repo.to_string())
        });
        if fork {
            return Ok(Processed::Finished {
                deployed: false,
                summary: format!(
                    "refused: pull request #{number} ({}) comes from a fork ({}); code from forks never runs with the team's secrets",
                    event.action,
                    from.map_or("a deleted repository", |head| head.full_name.as_str())
                ),
            });
        }
        match event.action.as_str() {
            "opened" | "synchronize" | "reopened" => {
                let sha = event.pull_request.head.sha;
                if !is_commit_sha(&sha) {
                    return Err(GithubError::Unexpected(format!(
                        "pull request #{number} has no head commit ({sha:?})"
                    )));
                }
                self.open_previews(delivery, repo, number, &sha, &event.pull_request.title)
                    .await
            }
            "closed" => {
                let ended = self.end_previews(repo, number, "the pull request was closed").await?;
                Ok(Processed::Finished {
                    deployed: false,
                    summary: if ended == 0 {
                        format!("pull request #{number} closed; it had no preview")
                    } else {
                        format!("pull request #{number} closed: removed {ended} preview(s)")
                    },
                })
            }
            other => Ok(Processed::Finished {
                deployed: false,
                summary: format!(
                    "pull request #{number} {other}: previews follow opened, synchronize, reopened and closed"
                ),
            }),
        }
    }

    async fn open_previews(
        &self,
        delivery: &str,
        repo: &RepoName,
        number: u32,
        sha: &str,
        title: &str,
    ) -> Result<Processed> {
        // One preview per linked service (its first link: dev, when it has one).
        let mut links = self.links_to(repo).await?;
        links.dedup_by_key(|link| link.service_id);
        if links.is_empty() {
            return Ok(Processed::Finished {
                deployed: false,
                summary: format!("no service is linked to {repo}"),
            });
        }
        let done = self.actions_done(delivery).await?;
        let mut deployed_any = false;
        let mut summaries = Vec::new();
        let mut installation = None;
        for link in &links {
            installation.get_or_insert(link.installation_id);
            let preview = Link {
                of: ServiceRef {
                    environment: Environment::Preview(number),
                    ..link.of.clone()
                },
                ..link.clone()
            };
            if let Some((deployed, outcome)) =
                done.get(&(preview.service_id, preview.of.environment.to_string()))
            {
                deployed_any |= deployed;
                summaries.push(format!("{}/{}: {outcome}", link.of.team, link.of.service));
                continue;
            }
            let (action, url) = self.deploy_preview(&preview, sha, title).await?;
            if action.wait {
                // The service's previous preview is still rolling out: try again shortly.
                return Ok(Processed::Wait(action.outcome));
            }
            deployed_any |= action.deployed;
            summaries.push(format!(
                "{}/{}: {}",
                link.of.team, link.of.service, action.outcome
            ));
            self.record_action(delivery, &preview, &action).await?;
            sqlx::query!(
                r#"INSERT INTO github_previews (owner, repo, number, service_id, head_sha, state, url,
                                                outcome, expires_at)
                   VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, now() + make_interval(secs => $8))
                   ON CONFLICT (owner, repo, number, service_id) DO UPDATE SET
                     head_sha = EXCLUDED.head_sha, state = 'active', url = EXCLUDED.url,
                     outcome = EXCLUDED.outcome, expires_at = EXCLUDED.expires_at,
                     updated_at = now()"#,
                repo.owner().to_lowercase(),
                repo.name().to_lowercase(),
                number as i32,
                preview.service_id,
                sha,
                url,
                action.outcome,
                self.settings.preview_ttl.as_secs_f64()
            )
            .execute(&self.pool)
            .await?;
        }
        if let Some(installation) = installation {
            self.write_comment(installation, repo, number).await?;
        }
        self.statuses_wake.notify_one();
        Ok(Processed::Finished {
            deployed: deployed_any,
            summary: summaries.join("; "),
        })
    }

    /// Deploys the preview of `link` (whose environment is the preview's); the action and the
    /// preview's URL.
    async fn deploy_preview(
        &self,
        link: &Link,
        sha: &str,
        title: &str,
    ) -> Result<(Action, Option<String>)> {
        let short = &sha[..7];
        let Environment::Preview(number) = link.of.environment else {
            return Err(GithubError::Unexpected(
                "a preview without a number".to_owned(),
            ));
        };
        let via = format!("GitHub pull request #{number}");
        let Some(who) = self.acting_for(link, &via).await? else {
            return Ok((
                Action::ignored(format!(
                    "no preview: {} who linked this repository may no longer deploy for team {}",
                    link.linked_by_name, link.of.team
                )),
                None,
            ));
        };
        let reader = self.client.writer(link.installation_id).await?;
        let git_ref = GitRef::parse("ref", sha)?;
        let Some(text) = reader.file(&link.repo, &git_ref, &link.path).await? else {
            return Ok((
                Action::ignored(format!(
                    "no preview: {} has no {} at {short}",
                    link.repo, link.path
                )),
                None,
            ));
        };
        let file = CanopyFile::parse(&text, link.of.team.as_str(), "dev");
        let Some(mut raw) = file.raw.clone().filter(|_| file.problems.is_empty()) else {
            let problems: Vec<String> = file.problems.iter().map(ToString::to_string).collect();
            return Ok((
                Action::ignored(format!(
                    "no preview: {} at {short} has problems: {}",
                    link.path,
                    problems.join("; ")
                )),
                None,
            ));
        };
        // The link decides where it goes and what runs; previews are the smallest size.
        raw.team = link.of.team.to_string();
        raw.name = link.of.service.to_string();
        raw.environment = link.of.environment.to_string();
        raw.size = "S".to_owned();
        raw.replicas = Some(1);
        raw.autoscaling = None;
        if let Some(route) = raw.route.as_mut() {
            route.host = format!("pr-{number}-{}", route.host);
        }
        raw.image = match link.image_template.image_for(sha) {
            Ok(image) => image.to_string(),
            Err(error) => return Ok((Action::ignored(format!("no preview: {error}")), None)),
        };
        let spec = match raw.validate() {
            Ok(spec) => spec,
            Err(errors) => return Ok((Action::ignored(format!("no preview: {errors}")), None)),
        };
        let url = match &spec.route {
            Some(route) => format!("https://{}{}", route.host, route.path),
            None => format!(
                "{}/services/{}/{}?env={}",
                self.base_url, link.of.team, link.of.service, link.of.environment
            ),
        };
        let reason = format!("GitHub pull request #{number} at {short}: {title}");
        match self
            .commands
            .deploy_commit(
                &who,
                spec,
                BTreeMap::new(),
                Some(reason),
                Some(sha.to_owned()),
            )
            .await
        {
            Ok(record) => Ok((
                Action {
                    deployed: true,
                    outcome: format!(
                        "preview {} of {} as revision {} ({})",
                        link.of.environment,
                        record.image,
                        record.revision,
                        record.status.label()
                    ),
                    deploy_id: Some(record.id),
                    wait: false,
                },
                Some(url),
            )),
            Err(app::api::AppError::Conflict { message, .. }) => Ok((
                Action {
                    wait: true,
                    ..Action::ignored(format!("waiting: {message}"))
                },
                None,
            )),
            Err(error) => Ok((Action::ignored(format!("no preview: {error}")), None)),
        }
    }

    /// Removes the active previews of pull request `number`; how many.
    pub(super) async fn end_previews(
        &self,
        repo: &RepoName,
        number: u32,
        why: &str,
    ) -> Result<usize> {
        let ended = sqlx::query_scalar!(
            r#"UPDATE github_previews SET state = 'closed', updated_at = now()
               WHERE owner = $1 AND repo = $2 AND number = $3 AND state = 'active'
               RETURNING service_id"#,
            repo.owner().to_lowercase(),
            repo.name().to_lowercase(),
            number as i32
        )
        .fetch_all(&self.pool)
        .await?;
        for service_id in &ended {
            self.remove_preview(repo, number, *service_id, why).await?;
        }
        if !ended.is_empty() {
            if let Some(link) = self.links_to(repo).await?.first() {
                self.write_comment(link.installation_id, repo, number)
                    .await?;
            }
        }
        Ok(ended.len())
    }

    /// Ends previews whose time ran out (called by the delivery worker between deliveries).
    pub(super) async fn expire_previews(&self) -> Result<usize> {
        let expired = sqlx::query!(
            r#"UPDATE github_previews SET state = 'expired', updated_at = now()
               WHERE state = 'active' AND expires_at < now()
               RETURNING owner, repo, number, service_id"#
        )
        .fetch_all(&self.pool)
        .await?;
        for row in &expired {
            let repo = RepoName::new(&row.owner, &row.repo)?;
            let number = u32::try_from(row.number).unwrap_or_default();
            self.remove_preview(&repo, number, row.service_id, "its time ran out")
                .await?;
            if let Some(link) = self.links_to(&repo).await?.first() {
                self.write_comment(link.installation_id, &repo, number)
                    .await?;
            }
        }
        Ok(expired.len())
    }

    async fn remove_preview(
        &self,
        repo: &RepoName,
        number: u32,
        service_id: i64,
        why: &str,
    ) -> Result<()> {
        let names = sqlx::query!(
            "SELECT t.name AS team, s.name AS service FROM services s
             JOIN teams t ON t.id = s.team_id WHERE s.id = $1",
            service_id
        )
        .fetch_one(&self.pool)
        .await?;
        let of = ServiceRef {
            team: TeamName::parse(&names.team)
                .map_err(|e| GithubError::Unexpected(format!("team {}: {e}", names.team)))?,
            service: ServiceName::parse(&names.service)
                .map_err(|e| GithubError::Unexpected(format!("service {}: {e}", names.service)))?,
            environment: Environment::Preview(number),
        };
        // Removing a preview is Canopy's own housekeeping, not a deploy: it acts as itself.
        let mut canopy = crate::auth::bootstrap_principal();
        canopy.username = format!("canopy ({repo}#{number}: {why})");
        let outcome = match self.commands.end_preview(&canopy, &of).await {
            Ok(deleted) if deleted.is_empty() => format!("removed ({why}); nothing was running"),
            Ok(deleted) => format!("removed ({why}): {}", deleted.join(", ")),
            Err(error) => format!("could not be removed ({why}): {error}"),
        };
        sqlx::query!(
            "UPDATE github_previews SET outcome = $5
             WHERE owner = $1 AND repo = $2 AND number = $3 AND service_id = $4",
            repo.owner().to_lowercase(),
            repo.name().to_lowercase(),
            number as i32,
            service_id,
            outcome
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Creates Canopy's one comment on the pull request, or edits it.
    async fn write_comment(&self, installation: u64, repo: &RepoName, number: u32) -> Result<()> {
        let rows = sqlx::query_as!(
            PreviewRow,
            r#"SELECT t.name AS team, s.name AS service, p.head_sha, p.state, p.url,
                      p.outcome, p.expires_at
               FROM github_previews p
               JOIN services s ON s.id = p.service_id JOIN teams t ON t.id = s.team_id
               WHERE p.owner = $1 AND p.repo = $2 AND p.number = $3
               ORDER BY t.name, s.name"#,
            repo.owner().to_lowercase(),
            repo.name().to_lowercase(),
            number as i32
        )
        .fetch_all(&self.pool)
        .await?;
        let body = comment_body(number, &rows);
        let writer = self.client.writer(installation).await?;
        let existing = sqlx::query_scalar!(
            "SELECT comment_id FROM github_pr_comments WHERE owner = $1 AND repo = $2 AND number = $3",
            repo.owner().to_lowercase(),
            repo.name().to_lowercase(),
            number as i32
        )
        .fetch_optional(&self.pool)
        .await?;
        match existing.and_then(|id| u64::try_from(id).ok()) {
            Some(comment) => writer.update_comment(repo, comment, &body).await,
            None => {
                let comment = writer
                    .create_comment(repo, u64::from(number), &body)
                    .await?;
                sqlx::query!(
                    "INSERT INTO github_pr_comments (owner, repo, number, comment_id)
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    repo.owner().to_lowercase(),
                    repo.name().to_lowercase(),
                    number as i32,
                    comment as i64
                )
                .execute(&self.pool)
                .await?;
                Ok(())
            }
        }
    }
}

fn comment_body(number: u32, rows: &[PreviewRow]) -> String {
    let mut body = format!(
        "### Canopy preview of #{number}\n\n| Service | Preview | State |\n| --- | --- | --- |\n"
    );
    let mut expires = None;
    for row in rows {
        let short: String = row.head_sha.chars().take(7).collect();
        let url = match (&row.url, row.state.as_str()) {
            (Some(url), "active") => url.clone(),
            _ => "—".to_owned(),
        };
        body.push_str(&format!(
            "| {}/{} | {url} | {} (`{short}`) |\n",
            row.team,
            row.service,
            row.outcome.replace('|', "\\|")
        ));
        if row.state == "active" {
            expires = Some(expires.map_or(row.expires_at, |e: time::OffsetDateTime| {
                e.max(row.expires_at)
            }));
        }
    }
    match expires {
        Some(at) => body.push_str(&format!(
            "\nRemoved when this pull request is closed or merged, or at {} UTC, whichever comes first.\n",
            at.format(&time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]"))
                .unwrap_or_default()
        )),
        None => body.push_str("\nNo preview is running any more.\n"),
    }
    body.push_str(COMMENT_MARK);
    body
}
