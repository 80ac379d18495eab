//! The deploy button: `/deploy?repo=owner/name[&ref=][&path=]` reads the repository's
//! `canopy.yaml` at that ref (through the App's installation, or anonymously for a public
//! repository) and prefills the deploy form; a repository that does not exist, is private
//! without the App, or has no or a broken file gets a page that says exactly that.

use app::api::{
    auth::{Permission, Principal},
    github::{DeployButton, GithubCard},
    ServiceRef, TeamName,
};

use super::{canopy_file::CanopyFile, GitRef, Github, GithubError, RepoName, RepoPath, Result};

impl Github {
    pub async fn deploy_button(
        &self,
        who: &Principal,
        repo: &str,
        git_ref: Option<&str>,
        path: Option<&str>,
    ) -> Result<DeployButton> {
        let repo = RepoName::parse(repo)?;
        let path = RepoPath::parse(path.unwrap_or_default())?;
        let wanted_ref = match git_ref.map(str::trim).filter(|r| !r.is_empty()) {
            Some(raw) => Some(GitRef::parse("ref", raw)?),
            None => None,
        };
        let teams = self.deployable_teams(who).await?;
        let mut button = DeployButton {
            repo: repo.to_string(),
            git_ref: wanted_ref
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            path: path.to_string(),
            file_url: String::new(),
            problem: None,
            form: None,
            file_problems: Vec::new(),
            teams: teams.iter().map(ToString::to_string).collect(),
        };
        let reader = self.client.reader(&repo).await?;
        let Some(info) = reader.repository(&repo).await? else {
            button.problem = Some(if self.client.has_app() {
                format!(
                    "{repo} does not exist on GitHub, or it is private and the Canopy GitHub App \
                     is not installed on it. Check the name; for a private repository, ask an \
                     owner of {} to install the App on it.",
                    repo.owner()
                )
            } else {
                format!(
                    "{repo} does not exist on GitHub, or it is private. Canopy has no GitHub App \
                     configured, so it can read public repositories only."
                )
            });
            return Ok(button);
        };
        let git_ref = match wanted_ref {
            Some(r) => r,
            None => GitRef::parse("ref", &info.default_branch)?,
        };
        button.git_ref = git_ref.to_string();
        button.file_url = format!("{}/blob/{git_ref}/{path}", info.html_url);
        let Some(text) = reader.file(&repo, &git_ref, &path).await? else {
            button.problem = Some(format!(
                "{repo} has no {path} at {git_ref}. Add one (docs/CANOPY_YAML.md describes it), or \
                 point the button at it with &path= and &ref=."
            ));
            return Ok(button);
        };
        // The file may leave the team out: the first team the person may deploy for fills it
        // (someone who may deploy nowhere is told so and sees no form).
        let default_team = teams
            .first()
            .map_or_else(|| "team".to_owned(), ToString::to_string);
        let file = CanopyFile::parse(&text, &default_team, "dev");
        if file.raw.is_none() {
            button.problem = Some(format!(
                "{path} in {repo} at {git_ref} cannot be read as a service: {}",
                file.problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        button.form = file.form();
        button.file_problems = file.problems;
        Ok(button)
    }

    /// The teams where `who` may deploy.
    async fn deployable_teams(&self, who: &Principal) -> Result<Vec<TeamName>> {
        let mut teams: Vec<TeamName> = who.teams.keys().cloned().collect();
        if who.org_admin {
            let names = sqlx::query_scalar!("SELECT name FROM teams ORDER BY name")
                .fetch_all(&self.pool)
                .await?;
            teams.extend(names.iter().filter_map(|name| TeamName::parse(name).ok()));
        }
        teams.sort();
        teams.dedup();
        teams.retain(|team| who.may(team, Permission::Deploy));
        Ok(teams)
    }

    /// The service page's GitHub card.
    pub async fn card(&self, of: &ServiceRef) -> Result<GithubCard> {
        let link = self.link_of(of).await?;
        Ok(self.card_for(of, link.as_ref()))
    }

    /// The card of `of`, whose link (if any) was read already.
    pub fn card_for(&self, of: &ServiceRef, link: Option<&super::links::Link>) -> GithubCard {
        let base = &self.base_url;
        let env = of.environment.as_str();
        let status_badge_url = format!("{base}/badge/{}/{}/{env}.svg", of.team, of.service);
        let service_url = format!("{base}/services/{}/{}?env={env}", of.team, of.service);
        let deploy_badge_url = format!("{base}/badge/deploy.svg");
        let deploy_url = link.map(|l| {
            let path = if l.path.as_str() == RepoPath::DEFAULT {
                String::new()
            } else {
                format!("&path={}", l.path)
            };
            format!("{base}/deploy?repo={}{path}", l.repo)
        });
        GithubCard {
            linked: link.map(|l| format!("{}@{}", l.repo, l.branch)),
            status_markdown: format!(
                "[![{} on Canopy ({env})]({status_badge_url})]({service_url})",
                of.service
            ),
            deploy_markdown: deploy_url
                .as_ref()
                .map(|url| format!("[![Deploy to Canopy]({deploy_badge_url})]({url})")),
            deploy_html: deploy_url.as_ref().map(|url| {
                format!(
                    r#"<a href="{url}"><img src="{deploy_badge_url}" alt="Deploy to Canopy"></a>"#
                )
            }),
            status_badge_url,
            deploy_badge_url,
            settings_url: format!("/services/{}/{}/github?env={env}", of.team, of.service),
        }
    }
}

impl From<GithubError> for app::api::AppError {
    fn from(error: GithubError) -> Self {
        crate::error::from_github(error)
    }
}
