//! The delivery worker: takes recorded webhook deliveries from PostgreSQL (one replica each,
//! with a lease), and for each linked service they concern, decides what to do and why:
//! a push to the linked branch deploys the image template's image for that commit (after the
//! named check passed, when one is required); anything else is recorded as ignored, with the
//! reason. Each delivery's outcome is kept for the service's deliveries page.

use std::{collections::BTreeMap, time::Duration};

use app::api::{auth::Principal, ServiceRef};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::{
    canopy_file::CanopyFile,
    links::Link,
    repo::{is_commit_sha, GitRef},
    Github, GithubError, RepoName, Result,
};

/// How long one replica owns a delivery it claimed.
const LEASE: Duration = Duration::from_secs(120);
/// How often a push waits again for its required check (and for how many tries).
const CHECK_WAIT: Duration = Duration::from_secs(30);
const CHECK_TRIES: i32 = 120;
/// Transient failures (GitHub or the database down) are retried this many times.
const MAX_ATTEMPTS: i32 = 8;

/// One delivery as the deliveries page shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub delivery_id: String,
    pub event: String,
    pub action: Option<String>,
    /// RFC 3339, UTC.
    pub received_at: String,
    pub state: String,
    pub attempts: i32,
    /// What Canopy did for this service and why.
    pub outcome: Option<String>,
    pub deployed: bool,
    pub revision: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct PushEvent {
    #[serde(rename = "ref")]
    git_ref: String,
    after: String,
    #[serde(default)]
    deleted: bool,
    #[serde(default)]
    head_commit: Option<HeadCommit>,
}

#[derive(Debug, Deserialize)]
struct HeadCommit {
    #[serde(default)]
    message: String,
}

/// What processing a delivery came to.
pub(super) enum Processed {
    /// Finished: `done` when something was deployed, else `ignored`; the summary.
    Finished { deployed: bool, summary: String },
    /// Try again later (a required check is still running).
    Wait(String),
}

/// What happened for one link.
pub(super) struct Action {
    pub(super) deployed: bool,
    pub(super) outcome: String,
    pub(super) deploy_id: Option<i64>,
    pub(super) wait: bool,
}

impl Action {
    pub(super) fn ignored(outcome: impl Into<String>) -> Self {
        Self {
            deployed: false,
            outcome: outcome.into(),
            deploy_id: None,
            wait: false,
        }
    }
}

pub(super) fn spawn(github: Github, shutdown: CancellationToken) {
    tokio::spawn(async move {
        loop {
            match github.process_next().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "GitHub delivery worker"),
            }
            if let Err(error) = github.expire_previews().await {
                tracing::warn!(%error, "GitHub previews whose time ran out");
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = github.deliveries_wake.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
    });
}

impl Github {
    /// Claims and processes one due delivery; `false` when there was none.
    pub async fn process_next(&self) -> Result<bool> {
        let claimed = sqlx::query!(
            r#"UPDATE github_deliveries SET state = 'processing', attempts = attempts + 1,
                      lease_until = now() + make_interval(secs => $1)
               WHERE delivery_id = (
                   SELECT delivery_id FROM github_deliveries
                   WHERE (state = 'pending' AND next_attempt_at <= now())
                      OR (state = 'processing' AND lease_until < now())
                   ORDER BY received_at
                   LIMIT 1 FOR UPDATE SKIP LOCKED)
               RETURNING delivery_id, event, owner, repo, payload, attempts"#,
            LEASE.as_secs_f64()
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(delivery) = claimed else {
            return Ok(false);
        };
        let repo = RepoName::new(&delivery.owner, &delivery.repo)?;
        let result = match delivery.event.as_str() {
            "push" => {
                self.process_push(&delivery.delivery_id, &repo, delivery.payload)
                    .await
            }
            "pull_request" => {
                self.process_pull_request(&delivery.delivery_id, &repo, &delivery.payload)
                    .await
            }
            other => Ok(Processed::Finished {
                deployed: false,
                summary: format!("Canopy does not act on {other} events"),
            }),
        };
        match result {
            Ok(Processed::Finished { deployed, summary }) => {
                sqlx::query!(
                    r#"UPDATE github_deliveries SET state = $2, outcome = $3, finished_at = now(),
                              lease_until = NULL
                       WHERE delivery_id = $1"#,
                    delivery.delivery_id,
                    if deployed { "done" } else { "ignored" },
                    summary
                )
                .execute(&self.pool)
                .await?;
            }
            Ok(Processed::Wait(why)) if delivery.attempts < CHECK_TRIES => {
                self.retry_later(&delivery.delivery_id, &why, CHECK_WAIT)
                    .await?;
            }
            Ok(Processed::Wait(why)) => {
                self.fail_delivery(&delivery.delivery_id, &format!("gave up: {why}"))
                    .await?;
            }
            Err(error) if error.is_transient() && delivery.attempts < MAX_ATTEMPTS => {
                let wait = Duration::from_secs(15 * 2u64.pow(delivery.attempts as u32));
                self.retry_later(
                    &delivery.delivery_id,
                    &format!("will try again: {error}"),
                    wait,
                )
                .await?;
            }
            Err(error) => {
                self.fail_delivery(&delivery.delivery_id, &error.to_string())
                    .await?;
            }
        }
        Ok(true)
    }

    async fn retry_later(&self, delivery: &str, why: &str, wait: Duration) -> Result<()> {
        sqlx::query!(
            r#"UPDATE github_deliveries SET state = 'pending', outcome = $2, lease_until = NULL,
                      next_attempt_at = now() + make_interval(secs => $3)
               WHERE delivery_id = $1"#,
            delivery,
            why,
            wait.as_secs_f64()
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn fail_delivery(&self, delivery: &str, why: &str) -> Result<()> {
        tracing::warn!(delivery, reason = why, "GitHub delivery failed");
        sqlx::query!(
            r#"UPDATE github_deliveries SET state = 'failed', outcome = $2, lease_until = NULL,
                      finished_at = now()
               WHERE delivery_id = $1"#,
            delivery,
            why
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn process_push(
        &self,
        delivery: &str,
        repo: &RepoName,
        payload: serde_json::Value,
    ) -> Result<Processed> {
        let push: PushEvent = serde_json::from_value(payload)
            .map_err(|e| GithubError::Unexpected(format!("a push payload: {e}")))?;
        let Some(branch) = push.git_ref.strip_prefix("refs/heads/") else {
            return Ok(Processed::Finished {
                deployed: false,
                summary: format!(
                    "{} is not a branch; only branch pushes deploy",
                    push.git_ref
                ),
            });
        };
        if push.deleted || !is_commit_sha(&push.after) || push.after.chars().all(|c| c == '0') {
            return Ok(Processed::Finished {
                deployed: false,
                summary: format!("branch {branch} was deleted; nothing to deploy"),
            });
        }
        let links = self.links_to(repo).await?;
        if links.is_empty() {
            return Ok(Processed::Finished {
                deployed: false,
                summary: format!("no service is linked to {repo}"),
            });
        }
        let message = push
            .head_commit
            .map(|c| c.message.lines().next().unwrap_or_default().to_owned())
            .unwrap_or_default();
        // A delivery tried again (it waited for a check) does not redo what it already did.
        let done = self.actions_done(delivery).await?;
        let mut summaries = Vec::new();
        let mut deployed_any = false;
        let mut waiting = None;
        for link in &links {
            if let Some((deployed, outcome)) =
                done.get(&(link.service_id, link.of.environment.to_string()))
            {
                deployed_any |= deployed;
                summaries.push(format!(
                    "{}/{} {}: {outcome}",
                    link.of.team,
                    link.of.service,
                    &*link.of.environment.as_str()
                ));
                continue;
            }
            let action = if link.branch.as_str() != branch {
                Action::ignored(format!(
                    "push to {branch}; {} {} follows {}",
                    link.of.service,
                    &*link.of.environment.as_str(),
                    link.branch
                ))
            } else {
                if let Some(drift) = &self.drift {
                    let scan = drift
                        .scan_after_push(
                            link.service_id,
                            &link.repo.to_string(),
                            branch,
                            &format!("GitHub push {}", &push.after[..7]),
                        )
                        .await;
                    if let Err(error) = scan {
                        tracing::warn!(%error, "could not queue the drift scan after a push");
                    }
                }
                self.deploy_push(link, &push.after, &message).await?
            };
            if action.wait {
                waiting = Some(action.outcome.clone());
                continue;
            }
            deployed_any |= action.deployed;
            summaries.push(format!(
                "{}/{} {}: {}",
                link.of.team,
                link.of.service,
                &*link.of.environment.as_str(),
                action.outcome
            ));
            self.record_action(delivery, link, &action).await?;
        }
        if let Some(why) = waiting {
            return Ok(Processed::Wait(why));
        }
        Ok(Processed::Finished {
            deployed: deployed_any,
            summary: summaries.join("; "),
        })
    }

    /// Deploys commit `sha` for `link`, on behalf of the person who linked it.
    async fn deploy_push(&self, link: &Link, sha: &str, message: &str) -> Result<Action> {
        let short = &sha[..7];
        let reader = self.client.writer(link.installation_id).await?;
        if let Some(check) = &link.required_check {
            let runs = reader.check_runs(&link.repo, sha).await?;
            match runs.iter().find(|r| &r.name == check) {
                Some(run) if run.status == "completed" => {
                    let conclusion = run.conclusion.as_deref().unwrap_or("none");
                    if conclusion != "success" {
                        return Ok(Action::ignored(format!(
                            "not deployed: the check {check:?} concluded {conclusion} on {short}"
                        )));
                    }
                }
                Some(run) => {
                    return Ok(Action {
                        wait: true,
                        ..Action::ignored(format!(
                            "waiting for the check {check:?} on {short} ({})",
                            run.status
                        ))
                    })
                }
                None => {
                    return Ok(Action {
                        wait: true,
                        ..Action::ignored(format!(
                            "waiting for the check {check:?} to report on {short}"
                        ))
                    })
                }
            }
        }
        let Some(who) = self
            .acting_for(link, &format!("GitHub push {short}"))
            .await?
        else {
            return Ok(Action::ignored(format!(
                "not deployed: {} who linked this repository may no longer deploy for team {}; \
                 a deployer must link it again",
                link.linked_by_name, link.of.team
            )));
        };
        let git_ref = GitRef::parse("ref", sha)?;
        let Some(text) = reader.file(&link.repo, &git_ref, &link.path).await? else {
            return Ok(Action::ignored(format!(
                "not deployed: {} has no {} at {short}",
                link.repo, link.path
            )));
        };
        let file = CanopyFile::parse(&text, link.of.team.as_str(), &link.of.environment.as_str());
        let Some(raw) = file.raw.clone().filter(|_| file.problems.is_empty()) else {
            let problems: Vec<String> = file.problems.iter().map(ToString::to_string).collect();
            return Ok(Action::ignored(format!(
                "not deployed: {} at {short} has problems: {}",
                link.path,
                problems.join("; ")
            )));
        };
        let mut raw = raw;
        // The link decides where it goes and what runs; the file describes how.
        raw.team = link.of.team.to_string();
        raw.name = link.of.service.to_string();
        raw.environment = link.of.environment.to_string();
        raw.image = match link.image_template.image_for(sha) {
            Ok(image) => image.to_string(),
            Err(error) => return Ok(Action::ignored(format!("not deployed: {error}"))),
        };
        let spec = match raw.validate() {
            Ok(spec) => spec,
            Err(errors) => return Ok(Action::ignored(format!("not deployed: {errors}"))),
        };
        let reason = format!("GitHub push {short} to {}: {message}", link.branch);
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
            Ok(record) => {
                self.statuses_wake.notify_one();
                Ok(Action {
                    deployed: true,
                    outcome: format!(
                        "deployed {} as revision {} ({})",
                        record.image,
                        record.revision,
                        record.status.label()
                    ),
                    deploy_id: Some(record.id),
                    wait: false,
                })
            }
            // The previous deploy is still rolling out: this push waits its turn.
            Err(app::api::AppError::Conflict { message, .. }) => Ok(Action {
                wait: true,
                ..Action::ignored(format!("waiting: {message}"))
            }),
            Err(error) => Ok(Action::ignored(format!("not deployed: {error}"))),
        }
    }

    /// The principal a push acts as: the person who linked, still a deployer of the team.
    pub(super) async fn acting_for(&self, link: &Link, via: &str) -> Result<Option<Principal>> {
        let principal = self.accounts.principal(link.linked_by).await.map_err(|e| {
            GithubError::Unexpected(format!("reading {}: {e}", link.linked_by_name))
        })?;
        Ok(principal
            .map(|(mut who, _)| {
                who.username = format!("{} ({via})", who.username);
                who
            })
            .filter(|who| who.may(&link.of.team, app::api::auth::Permission::Deploy)))
    }

    /// What an earlier try of `delivery` already did, per service and environment (a delivery
    /// tried again does not redo it).
    pub(super) async fn actions_done(
        &self,
        delivery: &str,
    ) -> Result<std::collections::HashMap<(i64, String), (bool, String)>> {
        Ok(sqlx::query!(
            "SELECT service_id, environment, deployed, outcome FROM github_delivery_actions
             WHERE delivery_id = $1",
            delivery
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| ((r.service_id, r.environment), (r.deployed, r.outcome)))
        .collect())
    }

    pub(super) async fn record_action(
        &self,
        delivery: &str,
        link: &Link,
        action: &Action,
    ) -> Result<()> {
        sqlx::query!(
            r#"INSERT INTO github_delivery_actions
                 (delivery_id, service_id, environment, deployed, outcome, deploy_id)
               VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (delivery_id, service_id, environment) DO UPDATE SET
                 deployed = EXCLUDED.deployed, outcome = EXCLUDED.outcome,
                 deploy_id = EXCLUDED.deploy_id"#,
            delivery,
            link.service_id,
            &*link.of.environment.as_str(),
            action.deployed,
            action.outcome,
            action.deploy_id
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The deliveries of the repository linked to `of`, newest first, with what each did for
    /// this service.
    pub async fn deliveries(&self, of: &ServiceRef, limit: i64) -> Result<Vec<DeliveryView>> {
        let Some(link) = self.link_of(of).await? else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query!(
            r#"SELECT d.delivery_id, d.event, d.action, d.received_at, d.state, d.attempts,
                      COALESCE(a.outcome, d.outcome) AS outcome,
                      COALESCE(a.deployed, false) AS "deployed!", dep.revision AS "revision?"
               FROM github_deliveries d
               LEFT JOIN github_delivery_actions a
                 ON a.delivery_id = d.delivery_id AND a.service_id = $3 AND a.environment = $4
               LEFT JOIN deploys dep ON dep.id = a.deploy_id
               WHERE lower(d.owner) = lower($1) AND lower(d.repo) = lower($2)
               ORDER BY d.received_at DESC
               LIMIT $5"#,
            link.repo.owner(),
            link.repo.name(),
            link.service_id,
            &*of.environment.as_str(),
            limit
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| DeliveryView {
                delivery_id: r.delivery_id,
                event: r.event,
                action: r.action,
                received_at: r
                    .received_at
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
                state: r.state,
                attempts: r.attempts,
                outcome: r.outcome,
                deployed: r.deployed,
                revision: r.revision,
            })
            .collect())
    }

    /// "Process again": queues a finished delivery of `of`'s repository once more (what it
    /// did before stays in the deploy history; a push deploys again).
    pub async fn process_again(
        &self,
        who: &Principal,
        of: &ServiceRef,
        delivery: &str,
    ) -> Result<()> {
        super::require(who, of, app::api::auth::Permission::Deploy)?;
        let link = self
            .link_of(of)
            .await?
            .ok_or_else(|| GithubError::NotFound(format!("a GitHub link for {}", of.service)))?;
        let updated = sqlx::query!(
            r#"UPDATE github_deliveries SET state = 'pending', attempts = 0, outcome = NULL,
                      next_attempt_at = now(), lease_until = NULL, finished_at = NULL
               WHERE delivery_id = $1 AND lower(owner) = lower($2) AND lower(repo) = lower($3)
                 AND state IN ('done', 'ignored', 'failed')"#,
            delivery,
            link.repo.owner(),
            link.repo.name()
        )
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(GithubError::NotFound(format!(
                "a finished delivery {delivery} of {}",
                link.repo
            )));
        }
        sqlx::query!(
            "DELETE FROM github_delivery_actions WHERE delivery_id = $1",
            delivery
        )
        .execute(&self.pool)
        .await?;
        self.deliveries_wake.notify_one();
        Ok(())
    }
}
