//! Canopy's implementation of the UI's `GithubBackend`.

use app::api::{
    auth::Principal,
    backend::GithubBackend,
    github::{DeployButton, GithubCard},
    AppError, ServiceRef,
};

use super::Github;

pub struct CanopyGithubBackend {
    pub github: Github,
}

#[async_trait::async_trait]
impl GithubBackend for CanopyGithubBackend {
    async fn deploy_button(
        &self,
        who: &Principal,
        repo: String,
        git_ref: Option<String>,
        path: Option<String>,
    ) -> Result<DeployButton, AppError> {
        Ok(self
            .github
            .deploy_button(who, &repo, git_ref.as_deref(), path.as_deref())
            .await?)
    }

    async fn card(&self, _who: &Principal, of: ServiceRef) -> Result<GithubCard, AppError> {
        Ok(self.github.card(&of).await?)
    }
}
