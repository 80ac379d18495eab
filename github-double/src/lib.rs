//! A local, stateful double of GitHub's REST API for Canopy's GitHub App integration.
//!
//! It plays `https://api.github.com` for the parts Canopy uses, and behaves as GitHub's REST
//! documentation describes, including its strictness about credentials:
//!
//! - every request needs a `User-Agent` (403 otherwise);
//! - App endpoints (`GET /app`, `GET /repos/{o}/{r}/installation`,
//!   `POST /app/installations/{id}/access_tokens`) need an RS256 App JWT signed with the App's
//!   key, `iss` the App id, at most ten minutes long (plus a minute of clock drift) — 401
//!   otherwise;
//! - repository endpoints take an installation token the double issued (`token` or `Bearer`),
//!   unexpired; refused credentials are 401, a private repository the caller cannot see is 404,
//!   public repositories are readable anonymously;
//! - repositories and file contents at a branch or sha, check runs, deployments and their
//!   statuses, issue comments;
//! - webhooks signed like GitHub's, with builders for `push` and `pull_request` payloads;
//! - fault injection (the next N requests under a path answer 502, 503, ...) and a log of
//!   every request, for tests.
//!
//! Tests use [`GithubDouble`] in-process; the `canopy-github-double` binary serves the same on a
//! fixed port with the control API under `/_double/` (see README.md).

// serde_json's `json!` recurses per field; GitHub's repository objects have many.
#![recursion_limit = "256"]

mod api;
mod auth;
mod control;
mod double;
mod error;
mod events;
mod payloads;
mod records;
mod seed;
mod server;
mod state;
mod webhooks;

pub use double::GithubDouble;
pub use error::{DoubleError, Result};
pub use events::{PullRequestEvent, FORK_OWNER_LOGIN};
pub use payloads::APP_SLUG;
pub use records::{
    AddedRepo, AuthKind, CheckConclusion, CheckStatus, DeploymentState, RecordedCheckRun,
    RecordedComment, RecordedDeployment, RecordedDeploymentStatus, RecordedRequest, RepoOptions,
};
pub use seed::{
    BranchHead, Installed, NewCheckRun, NewFault, NewRepo, PutFile, Seed, SeedBranch, SeedFile,
};
pub use webhooks::{sign, WebhookDelivery, WebhookResponse, HOOK_ID};

/// The test App's id.
pub const APP_ID: u64 = 424242;

/// The test App's private key (PKCS#1 PEM). Test-only: it is public in this repository.
pub const APP_PRIVATE_KEY_PEM: &str = include_str!("../fixtures/app-private-key.pem");

/// The public half of [`APP_PRIVATE_KEY_PEM`] (SPKI PEM), which the double verifies JWTs with.
pub const APP_PUBLIC_KEY_PEM: &str = include_str!("../fixtures/app-public-key.pem");

/// The secret webhooks are signed with. Test-only.
pub const WEBHOOK_SECRET: &str = "canopy-test-webhook-secret";
