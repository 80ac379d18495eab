//! Services linked to repositories: a service's environment follows a branch of a repository.
//! Linking checks that the GitHub App is installed there and says what to do when it is not.

use app::api::{
    auth::{Permission, Principal},
    spec::Environment,
    ServiceName, ServiceRef, TeamName,
};
use time::OffsetDateTime;

use super::{require, GitRef, Github, GithubError, ImageTemplate, RepoName, RepoPath, Result};

/// What a person asks for when linking (every field as typed).
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct LinkInput {
    /// `owner/name`.
    #[schema(example = "acme/web")]
    pub repo: String,
    /// The branch whose pushes deploy.
    #[schema(example = "main")]
    pub branch: String,
    /// Where `canopy.yaml` is in the repository (default: the root).
    #[serde(default)]
    pub path: String,
    /// The image a push deploys; `{sha}` becomes the commit.
    #[schema(example = "ghcr.io/acme/web:{sha}")]
    pub image_template: String,
    /// A check run that must pass before a push deploys (empty: none).
    #[serde(default)]
    pub required_check: String,
}

/// A stored link.
#[derive(Debug, Clone)]
pub struct Link {
    pub of: ServiceRef,
    pub service_id: i64,
    pub repo: RepoName,
    pub branch: GitRef,
    pub path: RepoPath,
    pub image_template: ImageTemplate,
    pub required_check: Option<String>,
    pub installation_id: u64,
    pub linked_by: i64,
    pub linked_by_name: String,
    pub linked_at: OffsetDateTime,
}

struct LinkRow {
    team: String,
    service: String,
    environment: String,
    service_id: i64,
    owner: String,
    repo: String,
    branch: String,
    path: String,
    image_template: String,
    required_check: Option<String>,
    installation_id: i64,
    linked_by: i64,
    linked_by_name: String,
    linked_at: OffsetDateTime,
}

impl LinkRow {
    fn into_link(self) -> Result<Link> {
        let corrupt = |what: &str| GithubError::Unexpected(format!("a stored link has {what}"));
        Ok(Link {
            of: ServiceRef {
                team: TeamName::parse(&self.team).map_err(|_| corrupt("a bad team"))?,
                service: ServiceName::parse(&self.service).map_err(|_| corrupt("a bad service"))?,
                environment: Environment::parse(&self.environment)
                    .ok_or_else(|| corrupt("a bad environment"))?,
            },
            service_id: self.service_id,
            repo: RepoName::new(&self.owner, &self.repo)?,
            branch: GitRef::parse("branch", &self.branch)?,
            path: RepoPath::parse(&self.path)?,
            image_template: ImageTemplate::parse(&self.image_template)?,
            required_check: self.required_check,
            installation_id: u64::try_from(self.installation_id)
                .map_err(|_| corrupt("a bad installation id"))?,
            linked_by: self.linked_by,
            linked_by_name: self.linked_by_name,
            linked_at: self.linked_at,
        })
    }
}

impl Github {
    /// Links `of` to a repository's branch; needs the deployer role (pushes deploy on behalf of
    /// the person who linked, whose role is checked again at every push).
    pub async fn link(&self, who: &Principal, of: &ServiceRef, input: &LinkInput) -> Result<Link> {
        require(who, of, Permission::Deploy)?;
        let repo = RepoName::parse(&input.repo)?;
        let branch = GitRef::parse("branch", &input.branch)?;
        let path = RepoPath::parse(&input.path)?;
        let image_template = ImageTemplate::parse(&input.image_template)?;
        let required_check = Some(input.required_check.trim().to_owned()).filter(|c| !c.is_empty());
        if required_check.as_ref().is_some_and(|c| c.len() > 200) {
            return Err(GithubError::InvalidInput {
                field: "required_check",
                message: "a check name has at most 200 characters".to_owned(),
            });
        }
        if !self.client.has_app() {
            return Err(GithubError::NotConfigured);
        }
        let installation_id = self
            .client
            .installation(&repo)
            .await?
            .ok_or_else(|| GithubError::NotInstalled(repo.clone()))?;
        let service_id = self.service_id(of).await?;
        sqlx::query!(
            r#"INSERT INTO github_links (service_id, environment, owner, repo, branch, path,
                                         image_template, required_check, installation_id, linked_by)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
               ON CONFLICT (service_id, environment) DO UPDATE SET
                 owner = EXCLUDED.owner, repo = EXCLUDED.repo, branch = EXCLUDED.branch,
                 path = EXCLUDED.path, image_template = EXCLUDED.image_template,
                 required_check = EXCLUDED.required_check,
                 installation_id = EXCLUDED.installation_id, linked_by = EXCLUDED.linked_by,
                 linked_at = now()"#,
            service_id,
            &*of.environment.as_str(),
            repo.owner(),
            repo.name(),
            branch.as_str(),
            path.as_str(),
            image_template.as_str(),
            required_check,
            installation_id as i64,
            who.user_id,
        )
        .execute(&self.pool)
        .await?;
        if let Some(drift) = &self.drift {
            // The repository becomes the service's drift source (a local path set by someone
            // stays); a failure here does not undo the link.
            if let Err(error) = drift
                .use_github_source(service_id, &repo.to_string(), branch.as_str(), &who.actor())
                .await
            {
                tracing::warn!(%error, %repo, "could not make the linked repository the drift source");
            }
        }
        self.link_of(of)
            .await?
            .ok_or_else(|| GithubError::NotFound(format!("the link of {}", of.service)))
    }

    pub async fn unlink(&self, who: &Principal, of: &ServiceRef) -> Result<()> {
        require(who, of, Permission::Deploy)?;
        let service_id = self.service_id(of).await?;
        sqlx::query!(
            "DELETE FROM github_links WHERE service_id = $1 AND environment = $2",
            service_id,
            &*of.environment.as_str()
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn link_of(&self, of: &ServiceRef) -> Result<Option<Link>> {
        let row = sqlx::query_as!(
            LinkRow,
            r#"SELECT t.name AS team, s.name AS service, l.environment, l.service_id, l.owner,
                      l.repo, l.branch, l.path, l.image_template, l.required_check,
                      l.installation_id, l.linked_by, u.username AS linked_by_name, l.linked_at
               FROM github_links l
               JOIN services s ON s.id = l.service_id
               JOIN teams t ON t.id = s.team_id
               JOIN users u ON u.id = l.linked_by
               WHERE t.name = $1 AND s.name = $2 AND l.environment = $3"#,
            of.team.as_str(),
            of.service.as_str(),
            &*of.environment.as_str()
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(LinkRow::into_link).transpose()
    }

    /// Every link to `repo` (GitHub names are case-insensitive).
    pub async fn links_to(&self, repo: &RepoName) -> Result<Vec<Link>> {
        let rows = sqlx::query_as!(
            LinkRow,
            r#"SELECT t.name AS team, s.name AS service, l.environment, l.service_id, l.owner,
                      l.repo, l.branch, l.path, l.image_template, l.required_check,
                      l.installation_id, l.linked_by, u.username AS linked_by_name, l.linked_at
               FROM github_links l
               JOIN services s ON s.id = l.service_id
               JOIN teams t ON t.id = s.team_id
               JOIN users u ON u.id = l.linked_by
               WHERE lower(l.owner) = lower($1) AND lower(l.repo) = lower($2)
               ORDER BY t.name, s.name, l.environment"#,
            repo.owner(),
            repo.name()
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(LinkRow::into_link).collect()
    }

    pub(crate) async fn service_id(&self, of: &ServiceRef) -> Result<i64> {
        sqlx::query_scalar!(
            "SELECT s.id FROM services s JOIN teams t ON t.id = s.team_id
             WHERE t.name = $1 AND s.name = $2",
            of.team.as_str(),
            of.service.as_str()
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| GithubError::NotFound(format!("Service {} in team {}", of.service, of.team)))
    }
}
