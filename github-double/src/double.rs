//! `GithubDouble`: the double served in-process on loopback, with the calls tests use to set it
//! up, break it and read what it was asked.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::DecodingKey;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::error::Result;
use crate::events::{self, PullRequestEvent};
use crate::records::{
    AddedRepo, CheckConclusion, CheckStatus, RecordedComment, RecordedDeployment, RecordedRequest,
    RepoOptions,
};
use crate::seed::Seed;
use crate::server::{router, Shared};
use crate::state::Fault;
use crate::webhooks::{self, WebhookDelivery, WebhookResponse};
use crate::{APP_ID, APP_PRIVATE_KEY_PEM, APP_PUBLIC_KEY_PEM, WEBHOOK_SECRET};

/// A running GitHub double. Dropping it aborts the server; `stop` ends it gracefully.
pub struct GithubDouble {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl GithubDouble {
    /// Serves on `127.0.0.1` at a free port, in a tokio task.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// Serves on `addr` (port 0 picks a free port).
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<Self> {
        let decoding_key = DecodingKey::from_rsa_pem(APP_PUBLIC_KEY_PEM.as_bytes())
            .map_err(std::io::Error::other)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(std::io::Error::other)?;
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(
            format!("http://{local_addr}"),
            APP_ID,
            decoding_key,
            WEBHOOK_SECRET.to_owned(),
            http,
        ));
        let app = router(shared.clone());
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
            if let Err(error) = served {
                tracing::error!(%error, "the GitHub double stopped serving");
            }
        });
        Ok(Self {
            shared,
            local_addr,
            shutdown: Some(shutdown),
            task: Some(task),
        })
    }

    /// The base URL standing in for `https://api.github.com`, with a trailing slash
    /// (`http://127.0.0.1:PORT/`), ready for `Octocrab::builder().base_uri(..)`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.local_addr)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn app_id(&self) -> u64 {
        self.shared.app_id
    }

    /// The App's private key (PKCS#1 PEM), to sign App JWTs with.
    pub fn private_key_pem(&self) -> &'static str {
        APP_PRIVATE_KEY_PEM
    }

    pub fn public_key_pem(&self) -> &'static str {
        APP_PUBLIC_KEY_PEM
    }

    pub fn webhook_secret(&self) -> &str {
        &self.shared.webhook_secret
    }

    /// The App's installation on `owner` (one per account, made with the account's first
    /// repository).
    pub fn installation_id(&self, owner: &str) -> Option<u64> {
        self.shared
            .lock()
            .owner(owner)
            .map(|account| account.installation_id)
    }

    pub fn add_repo(&self, owner: &str, name: &str, options: RepoOptions) -> Result<AddedRepo> {
        self.shared.lock().add_repo(owner, name, options)
    }

    /// Writes a file at a branch or commit sha; returns its blob sha.
    pub fn put_file(
        &self,
        owner: &str,
        repo: &str,
        git_ref: &str,
        path: &str,
        content: &str,
    ) -> Result<String> {
        self.shared
            .lock()
            .put_file(owner, repo, Some(git_ref), path, content.as_bytes())
    }

    /// Points a branch at a commit sha (the new commit starts with the branch's files).
    pub fn set_branch_head(&self, owner: &str, repo: &str, branch: &str, sha: &str) -> Result<()> {
        self.shared.lock().set_branch_head(owner, repo, branch, sha)
    }

    pub fn set_installed(&self, owner: &str, repo: &str, installed: bool) -> Result<()> {
        self.shared.lock().set_installed(owner, repo, installed)
    }

    /// Sets a check run (replacing one of the same name on that commit); returns its id.
    pub fn set_check_run(
        &self,
        owner: &str,
        repo: &str,
        sha: &str,
        name: &str,
        status: CheckStatus,
        conclusion: Option<CheckConclusion>,
    ) -> Result<u64> {
        self.shared
            .lock()
            .set_check_run(owner, repo, sha, name, status, conclusion)
    }

    pub fn apply_seed(&self, seed: &Seed) -> Result<()> {
        seed.apply(&mut self.shared.lock())
    }

    /// The next `count` API requests whose path starts with `path_prefix` are answered `status`
    /// with a GitHub-like error body.
    pub fn fail_next(&self, path_prefix: &str, status: u16, count: usize) {
        self.shared.lock().faults.push(Fault {
            path_prefix: path_prefix.to_owned(),
            status,
            remaining: count,
        });
    }

    /// How long installation tokens issued from now on last (GitHub: one hour).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.shared.lock().token_lifetime = lifetime;
    }

    /// Every GitHub API request received, in order of arrival.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// How many installation tokens were issued for an installation.
    pub fn tokens_issued(&self, installation_id: u64) -> usize {
        self.shared
            .lock()
            .tokens_issued
            .get(&installation_id)
            .copied()
            .unwrap_or(0)
    }

    /// Deployments created in a repository, newest first, each with its statuses (newest first).
    pub fn deployments(&self, owner: &str, repo: &str) -> Vec<RecordedDeployment> {
        self.shared
            .lock()
            .repo(owner, repo)
            .map(|found| found.deployments.iter().rev().cloned().collect())
            .unwrap_or_default()
    }

    /// Comments on one issue or pull request, oldest first.
    pub fn comments(&self, owner: &str, repo: &str, number: u64) -> Vec<RecordedComment> {
        self.shared
            .lock()
            .repo(owner, repo)
            .map(|found| {
                found
                    .comments
                    .iter()
                    .filter(|comment| comment.issue_number == number)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `X-Hub-Signature-256` for `body` under the webhook secret: `sha256=<hex>`.
    pub fn sign(&self, body: &[u8]) -> String {
        webhooks::sign(&self.shared.webhook_secret, body)
    }

    /// POSTs `payload` to `target` as GitHub delivers `event`, signed, with a fresh delivery id.
    pub async fn send_webhook(
        &self,
        target: &str,
        event: &str,
        payload: &serde_json::Value,
    ) -> Result<WebhookResponse> {
        self.deliver_webhook(WebhookDelivery {
            target_url: target.to_owned(),
            event: event.to_owned(),
            payload: payload.clone(),
            secret: None,
            delivery: None,
        })
        .await
    }

    /// A delivery with a chosen secret or delivery id.
    pub async fn deliver_webhook(&self, delivery: WebhookDelivery) -> Result<WebhookResponse> {
        webhooks::deliver(
            &self.shared.http,
            self.shared.app_id,
            &self.shared.webhook_secret,
            delivery,
        )
        .await
    }

    /// A `push` event payload for a repository the double knows.
    pub fn push_event(
        &self,
        owner: &str,
        repo: &str,
        branch: &str,
        after_sha: &str,
    ) -> Result<serde_json::Value> {
        events::push_event(
            &self.shared.lock(),
            &self.shared.api,
            owner,
            repo,
            branch,
            after_sha,
        )
    }

    /// A `pull_request` event payload for a repository the double knows.
    pub fn pull_request_event(&self, event: &PullRequestEvent<'_>) -> Result<serde_json::Value> {
        events::pull_request_event(&self.shared.lock(), &self.shared.api, event)
    }

    /// Stops serving and waits for the server task to end.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for GithubDouble {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
