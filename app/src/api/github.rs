//! GitHub-linked delivery as the pages see it: the deploy button's prefilled form, and a
//! service's GitHub card (its link, its badges and the snippets to paste into a README).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use super::{auth::Permission, ServiceRef};
use super::{deploy_fns::DeployForm, AppError};

/// One problem with a repository's `canopy.yaml`: the field, the line (when known) and what
/// is allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileProblem {
    pub field: String,
    pub line: Option<u32>,
    pub message: String,
}

impl std::fmt::Display for FileProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}, {}: {}", self.field, self.message),
            None => write!(f, "{}: {}", self.field, self.message),
        }
    }
}

/// What `/deploy?repo=owner/name[&ref=][&path=]` shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployButton {
    /// `owner/name` as given.
    pub repo: String,
    pub git_ref: String,
    pub path: String,
    /// Where the file is on GitHub.
    pub file_url: String,
    /// Why the file cannot be used at all (no repository, private without the App, no file,
    /// GitHub down), in words; the form is not shown then.
    pub problem: Option<String>,
    /// The form prefilled from the file (every field editable).
    pub form: Option<DeployForm>,
    /// What is wrong in the file, by field and line; the form shows them next to the fields.
    pub file_problems: Vec<FileProblem>,
    /// The teams the person may deploy for (the form offers only these).
    pub teams: Vec<String>,
}

/// A service environment's GitHub card on the service page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GithubCard {
    /// `owner/name@branch` when linked.
    pub linked: Option<String>,
    /// The status badge's URL and the deploy button's, absolute.
    pub status_badge_url: String,
    pub deploy_badge_url: String,
    /// Markdown and HTML to paste into a README.
    pub status_markdown: String,
    pub deploy_markdown: Option<String>,
    pub deploy_html: Option<String>,
    /// The GitHub settings and deliveries page of this service.
    pub settings_url: String,
}

#[server(prefix = "/api/fn", endpoint = "load_deploy_button")]
pub async fn load_deploy_button(
    repo: String,
    git_ref: Option<String>,
    path: Option<String>,
) -> Result<DeployButton, AppError> {
    let who = super::auth::principal()?;
    super::backend::github_backend()?
        .deploy_button(&who, repo, git_ref, path)
        .await
}

#[server(prefix = "/api/fn", endpoint = "load_github_card")]
pub async fn load_github_card(
    team: String,
    service: String,
    environment: String,
) -> Result<GithubCard, AppError> {
    let who = super::auth::principal()?;
    let of = ServiceRef::parse(&team, &service, &environment)?;
    who.require(&of.team, Permission::Read)?;
    super::backend::github_backend()?.card(&who, of).await
}
