//! GitHub deployments for Canopy deploys of linked services: every deploy of a linked service
//! gets a GitHub deployment (environment = the Canopy environment) with `in_progress`, then
//! `success` or `failure` (with the plain reason), `environment_url` (the service's route, else
//! its Canopy page) and `log_url` (the Canopy deploy page). A worker posts them from PostgreSQL,
//! so GitHub being down never blocks or fails a deploy: posts are retried with backoff and the
//! last error is shown on the service's GitHub page.

use std::time::Duration;

use app::api::{deploys::DeployStatus, spec::ServiceSpec};
use tokio_util::sync::CancellationToken;

use super::{
    client::{NewDeployment, NewStatus},
    Github, GithubError, RepoName, Result,
};

const LEASE: Duration = Duration::from_secs(60);
/// Posts are tried again after 4 s, 8 s, 16 s, ... up to an hour between tries, this many times.
const MAX_ATTEMPTS: i32 = 20;

/// One GitHub deployment as the service's GitHub page shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeploymentView {
    pub revision: i64,
    pub git_ref: String,
    pub github_id: Option<i64>,
    /// The last state GitHub has (`none` until the deployment is created).
    pub posted: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
}

pub(super) fn spawn(github: Github, shutdown: CancellationToken) {
    tokio::spawn(async move {
        loop {
            match github.post_statuses().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "GitHub deployment statuses"),
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = github.statuses_wake.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
    });
}

struct Due {
    deploy_id: i64,
    owner: String,
    repo: String,
    git_ref: String,
    environment: String,
    github_id: Option<i64>,
    posted: String,
    attempts: i32,
    installation_id: Option<i64>,
    team: String,
    service: String,
    revision: i64,
    status: String,
    failure_reason: Option<String>,
    requested_by: String,
    spec: serde_json::Value,
}

impl Github {
    /// Notes new deploys of linked services, then advances one due GitHub deployment by a step;
    /// `false` when nothing was due.
    pub async fn post_statuses(&self) -> Result<bool> {
        sqlx::query!(
            r#"INSERT INTO github_deployments (deploy_id, owner, repo, git_ref, environment)
               SELECT d.id, l.owner, l.repo, COALESCE(d.git_sha, l.branch), d.environment
               FROM deploys d
               JOIN github_links l ON l.service_id = d.service_id AND l.environment = d.environment
               WHERE d.started_at >= l.linked_at
                 AND NOT EXISTS (SELECT 1 FROM github_deployments g WHERE g.deploy_id = d.id)
               ON CONFLICT (deploy_id) DO NOTHING"#
        )
        .execute(&self.pool)
        .await?;
        // Pull-request previews: their deploys always come from a commit.
        sqlx::query!(
            r#"INSERT INTO github_deployments (deploy_id, owner, repo, git_ref, environment)
               SELECT d.id, p.owner, p.repo, d.git_sha, d.environment
               FROM deploys d
               JOIN github_previews p
                 ON p.service_id = d.service_id AND d.environment = 'pr-' || p.number
               WHERE d.git_sha IS NOT NULL
                 AND NOT EXISTS (SELECT 1 FROM github_deployments g WHERE g.deploy_id = d.id)
               ON CONFLICT (deploy_id) DO NOTHING"#
        )
        .execute(&self.pool)
        .await?;
        let due = sqlx::query_as!(
            Due,
            r#"WITH claimed AS (
                 UPDATE github_deployments SET lease_until = now() + make_interval(secs => $1)
                 WHERE deploy_id = (
                     SELECT g.deploy_id FROM github_deployments g
                     JOIN deploys d ON d.id = g.deploy_id
                     WHERE g.posted NOT IN ('success', 'failure')
                       AND g.next_attempt_at <= now()
                       AND (g.lease_until IS NULL OR g.lease_until < now())
                       -- a finished deploy still to post, or one in progress not yet marked so
                       AND (d.status IN ('succeeded', 'failed') OR g.posted <> 'in_progress')
                     ORDER BY g.created_at LIMIT 1 FOR UPDATE OF g SKIP LOCKED)
                 RETURNING *)
               SELECT c.deploy_id, c.owner, c.repo, c.git_ref, c.environment, c.github_id,
                      c.posted, c.attempts,
                      (SELECT l.installation_id FROM github_links l
                        WHERE l.service_id = d.service_id
                        ORDER BY l.environment = d.environment DESC, l.environment LIMIT 1)
                        AS "installation_id?",
                      t.name AS team, s.name AS service, d.revision, d.status,
                      d.failure_reason, d.requested_by, d.spec
               FROM claimed c
               JOIN deploys d ON d.id = c.deploy_id
               JOIN services s ON s.id = d.service_id
               JOIN teams t ON t.id = s.team_id"#,
            LEASE.as_secs_f64()
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(due) = due else {
            return Ok(false);
        };
        match self.advance(&due).await {
            Ok(()) => {}
            Err(error) => {
                let attempts = due.attempts + 1;
                let wait = Duration::from_secs(2 * 2u64.pow(attempts.min(11) as u32))
                    .min(Duration::from_secs(3600));
                let give_up = attempts >= MAX_ATTEMPTS || !error.is_transient();
                tracing::warn!(%error, deploy = due.deploy_id, attempts, give_up, "GitHub deployment status not posted");
                sqlx::query!(
                    r#"UPDATE github_deployments SET attempts = $2, last_error = $3,
                              lease_until = NULL,
                              next_attempt_at = CASE WHEN $5 THEN 'infinity'::timestamptz
                                                     ELSE now() + make_interval(secs => $4) END
                       WHERE deploy_id = $1"#,
                    due.deploy_id,
                    attempts,
                    if give_up {
                        format!("gave up after {attempts} tries: {error}")
                    } else {
                        format!("{error} (try {attempts}; next in {} s)", wait.as_secs())
                    },
                    wait.as_secs_f64(),
                    give_up
                )
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(true)
    }

    /// One step: create the deployment, then `in_progress`, then the final state.
    async fn advance(&self, due: &Due) -> Result<()> {
        let repo = RepoName::new(&due.owner, &due.repo)?;
        let installation = due
            .installation_id
            .and_then(|id| u64::try_from(id).ok())
            .ok_or_else(|| GithubError::NotFound(format!("the link of {}", due.service)))?;
        let writer = self.client.writer(installation).await?;
        let status = DeployStatus::parse(&due.status)
            .ok_or_else(|| GithubError::Unexpected(format!("deploy status {}", due.status)))?;
        let (github_id, posted) = match due.github_id.and_then(|id| u64::try_from(id).ok()) {
            Some(id) => (id, due.posted.as_str()),
            None => {
                let id = writer
                    .create_deployment(
                        &repo,
                        &NewDeployment {
                            git_ref: due.git_ref.clone(),
                            environment: due.environment.clone(),
                            description: format!(
                                "Canopy revision {} of {}, by {}",
                                due.revision, due.service, due.requested_by
                            ),
                            auto_merge: false,
                            required_contexts: Vec::new(),
                            transient_environment: due.environment.starts_with("pr-"),
                            production_environment: due.environment == "prod",
                        },
                    )
                    .await?;
                self.mark(due.deploy_id, Some(id), "created").await?;
                (id, "created")
            }
        };
        let log_url = format!(
            "{}/services/{}/{}?env={}",
            self.base_url, due.team, due.service, due.environment
        );
        let environment_url = serde_json::from_value::<ServiceSpec>(due.spec.clone())
            .ok()
            .and_then(|spec| spec.route)
            .map(|route| format!("https://{}{}", route.host, route.path))
            .or_else(|| Some(log_url.clone()));
        if posted == "created" {
            writer
                .post_status(
                    &repo,
                    github_id,
                    &NewStatus::new(
                        "in_progress",
                        &format!("Canopy is rolling out revision {}", due.revision),
                        environment_url.clone(),
                        log_url.clone(),
                    ),
                )
                .await?;
            self.mark(due.deploy_id, None, "in_progress").await?;
        }
        let last = match status {
            DeployStatus::Succeeded => {
                Some(("success", format!("Revision {} is running", due.revision)))
            }
            DeployStatus::Failed => Some((
                "failure",
                due.failure_reason
                    .clone()
                    .unwrap_or_else(|| format!("Revision {} failed", due.revision)),
            )),
            DeployStatus::Applying | DeployStatus::RollingOut => None,
        };
        if let Some((state, description)) = last {
            writer
                .post_status(
                    &repo,
                    github_id,
                    &NewStatus::new(state, &description, environment_url, log_url),
                )
                .await?;
            self.mark(due.deploy_id, None, state).await?;
        }
        Ok(())
    }

    async fn mark(&self, deploy_id: i64, github_id: Option<u64>, posted: &str) -> Result<()> {
        sqlx::query!(
            r#"UPDATE github_deployments SET posted = $2,
                      github_id = COALESCE($3, github_id), last_error = NULL, attempts = 0,
                      next_attempt_at = now(), lease_until = NULL
               WHERE deploy_id = $1"#,
            deploy_id,
            posted,
            github_id.map(|id| id as i64)
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The GitHub deployments of `of`, newest first.
    pub async fn deployments(
        &self,
        of: &app::api::ServiceRef,
        limit: i64,
    ) -> Result<Vec<DeploymentView>> {
        let rows = sqlx::query!(
            r#"SELECT d.revision, g.git_ref, g.github_id, g.posted, g.attempts, g.last_error,
                      g.created_at
               FROM github_deployments g
               JOIN deploys d ON d.id = g.deploy_id
               JOIN services s ON s.id = d.service_id
               JOIN teams t ON t.id = s.team_id
               WHERE t.name = $1 AND s.name = $2 AND d.environment = $3
               ORDER BY g.created_at DESC LIMIT $4"#,
            of.team.as_str(),
            of.service.as_str(),
            &*of.environment.as_str(),
            limit
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| DeploymentView {
                revision: r.revision,
                git_ref: r.git_ref,
                github_id: r.github_id,
                posted: r.posted,
                attempts: r.attempts,
                last_error: r.last_error,
                created_at: r
                    .created_at
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
            })
            .collect())
    }
}
