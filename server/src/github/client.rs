//! The GitHub App client (octocrab): the App's JWT finds a repository's installation, each
//! installation gets its own client whose token octocrab mints and caches until it is about to
//! expire (one client per installation, kept here), and public repositories without the App are
//! read anonymously. Every call names what it does in its errors.

use std::{collections::HashMap, sync::Arc, time::Duration};

use base64::Engine;
use octocrab::{models::AppId, Octocrab};
use secrecy::ExposeSecret;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use tokio::sync::Mutex;

use super::{
    repo::{GitRef, RepoName, RepoPath},
    GithubAppSettings, GithubError,
};

/// How long one GitHub call may take before it counts as GitHub being unreachable.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct GithubClient {
    /// Authenticated as the App (its JWT); `None` without `CANOPY_GITHUB_APP_ID`.
    app: Option<Octocrab>,
    anonymous: Octocrab,
    /// Shared, not cloned: an `Octocrab` clone copies its token cache rather than sharing it,
    /// so each installation's one client is handed out behind an `Arc`.
    installations: Arc<Mutex<HashMap<u64, Arc<Octocrab>>>>,
}

/// Who reads a repository: its installation, or nobody (a public repository).
#[derive(Clone)]
pub struct Reader {
    crab: Arc<Octocrab>,
    pub installation: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RepositoryInfo {
    pub full_name: String,
    pub private: bool,
    pub default_branch: String,
    pub html_url: String,
}

#[derive(Debug, Clone, Deserialize)]
struct Installation {
    id: u64,
}

#[derive(Debug, Deserialize)]
struct FileContent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    encoding: Option<String>,
    #[serde(default)]
    content: Option<String>,
}

/// One entry of `GET /repos/{o}/{r}/git/trees/{ref}?recursive=1`.
#[derive(Debug, Clone, Deserialize)]
pub struct TreeEntry {
    pub path: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub sha: String,
    #[serde(default)]
    pub size: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub struct Tree {
    /// The commit the tree is of.
    pub sha: String,
    pub tree: Vec<TreeEntry>,
    #[serde(default)]
    pub truncated: bool,
}

#[derive(Debug, Deserialize)]
struct Blob {
    content: String,
    #[serde(default)]
    encoding: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CheckRun {
    pub name: String,
    pub status: String,
    pub conclusion: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CheckRuns {
    check_runs: Vec<CheckRun>,
}

#[derive(Debug, Deserialize)]
struct Created {
    id: u64,
}

/// `POST /repos/{owner}/{repo}/deployments`.
#[derive(Debug, Clone, Serialize)]
pub struct NewDeployment {
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub environment: String,
    pub description: String,
    pub auto_merge: bool,
    /// Empty: Canopy deploys what it was asked to; GitHub's status checks are not re-checked.
    pub required_contexts: Vec<String>,
    pub transient_environment: bool,
    pub production_environment: bool,
}

/// `POST /repos/{owner}/{repo}/deployments/{id}/statuses`.
#[derive(Debug, Clone, Serialize)]
pub struct NewStatus {
    pub state: &'static str,
    /// At most 140 characters (GitHub's limit); [`NewStatus::new`] cuts it.
    pub description: String,
    pub environment_url: Option<String>,
    pub log_url: String,
    pub auto_inactive: bool,
}

impl NewStatus {
    pub fn new(
        state: &'static str,
        description: &str,
        environment_url: Option<String>,
        log_url: String,
    ) -> Self {
        let description = if description.chars().count() > 140 {
            let mut cut: String = description.chars().take(139).collect();
            cut.push('…');
            cut
        } else {
            description.to_owned()
        };
        Self {
            state,
            description,
            environment_url,
            log_url,
            auto_inactive: true,
        }
    }
}

impl GithubClient {
    pub fn new(settings: &GithubAppSettings) -> Result<Self, GithubError> {
        let base = settings.api_url.as_str();
        let builder = || {
            Octocrab::builder()
                .base_uri(base)
                .map(|b| {
                    // No immediate re-sends: a POST GitHub answered 5xx may still have been
                    // done (a second deployment); the workers retry with backoff instead, and
                    // pages say GitHub failed.
                    b.add_retry_config(octocrab::service::middleware::retry::RetryConfig::None)
                        .set_connect_timeout(Some(CALL_TIMEOUT))
                        .set_read_timeout(Some(CALL_TIMEOUT))
                        .set_write_timeout(Some(CALL_TIMEOUT))
                })
                .map_err(|e| GithubError::Setup(format!("the GitHub API URL {base}: {e}")))
        };
        let anonymous = builder()?
            .build()
            .map_err(|e| GithubError::Setup(format!("the GitHub client: {e}")))?;
        let app = match &settings.app {
            Some(app) => {
                let key = octocrab::EncodingKey::from_rsa_pem(
                    app.private_key.expose_secret().as_bytes(),
                )
                .map_err(|e| {
                    GithubError::Setup(format!(
                        "CANOPY_GITHUB_APP_PRIVATE_KEY_FILE is not an RSA private key in PEM form ({e})"
                    ))
                })?;
                Some(
                    builder()?
                        .app(AppId(app.app_id), key)
                        .build()
                        .map_err(|e| GithubError::Setup(format!("the GitHub App client: {e}")))?,
                )
            }
            None => None,
        };
        Ok(Self {
            app,
            anonymous,
            installations: Arc::default(),
        })
    }

    pub fn has_app(&self) -> bool {
        self.app.is_some()
    }

    /// The App's installation on `repo`, or `None` when the App is not installed there.
    pub async fn installation(&self, repo: &RepoName) -> Result<Option<u64>, GithubError> {
        let Some(app) = &self.app else {
            return Ok(None);
        };
        let route = format!("/repos/{}/{}/installation", repo.owner(), repo.name());
        match app.get::<Installation, _, ()>(route, None).await {
            Ok(installation) => Ok(Some(installation.id)),
            Err(error) if status_of(&error) == Some(404) => Ok(None),
            Err(error) => Err(GithubError::api("find the App's installation", repo, error)),
        }
    }

    /// The client of installation `id` (its token is minted on first use and renewed by
    /// octocrab shortly before it expires).
    pub async fn installation_client(&self, id: u64) -> Result<Arc<Octocrab>, GithubError> {
        let Some(app) = &self.app else {
            return Err(GithubError::NotConfigured);
        };
        let mut installations = self.installations.lock().await;
        if let Some(crab) = installations.get(&id) {
            return Ok(crab.clone());
        }
        let crab = Arc::new(
            app.installation(id.into())
                .map_err(|e| GithubError::Setup(format!("the installation {id} client: {e}")))?,
        );
        installations.insert(id, crab.clone());
        Ok(crab)
    }

    /// A reader for `repo`: its installation when the App is installed there, anonymous
    /// otherwise (which sees public repositories only).
    pub async fn reader(&self, repo: &RepoName) -> Result<Reader, GithubError> {
        match self.installation(repo).await? {
            Some(id) => Ok(Reader {
                crab: self.installation_client(id).await?,
                installation: Some(id),
            }),
            None => Ok(Reader {
                crab: Arc::new(self.anonymous.clone()),
                installation: None,
            }),
        }
    }

    /// The client for writing to `repo` through installation `id`.
    pub async fn writer(&self, id: u64) -> Result<Reader, GithubError> {
        Ok(Reader {
            crab: self.installation_client(id).await?,
            installation: Some(id),
        })
    }
}

impl Reader {
    /// The repository, or `None` when it does not exist or cannot be seen by this reader.
    pub async fn repository(&self, repo: &RepoName) -> Result<Option<RepositoryInfo>, GithubError> {
        let route = format!("/repos/{}/{}", repo.owner(), repo.name());
        self.get_optional("read the repository", repo, route, None)
            .await
    }

    /// The text of `path` at `git_ref`, or `None` when there is no such file (or ref).
    pub async fn file(
        &self,
        repo: &RepoName,
        git_ref: &GitRef,
        path: &RepoPath,
    ) -> Result<Option<String>, GithubError> {
        let route = format!("/repos/{}/{}/contents/{}", repo.owner(), repo.name(), path);
        let Some(file) = self
            .get_optional::<FileContent>(
                "read a file",
                repo,
                route,
                Some(&[("ref", git_ref.as_str())]),
            )
            .await?
        else {
            return Ok(None);
        };
        if file.kind != "file" {
            return Err(GithubError::InvalidInput {
                field: "path",
                message: format!("{path} in {repo} is a {}, not a file", file.kind),
            });
        }
        if file.encoding.as_deref() != Some("base64") {
            return Err(GithubError::Unexpected(format!(
                "GitHub sent {path} in {repo} encoded as {:?}, not base64",
                file.encoding
            )));
        }
        let packed: String = file
            .content
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(packed)
            .map_err(|e| GithubError::Unexpected(format!("{path} in {repo}: bad base64 ({e})")))?;
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| GithubError::InvalidInput {
                field: "path",
                message: format!("{path} in {repo} is not UTF-8 text"),
            })
    }

    /// Every file and directory of `git_ref` (a branch or commit), or `None` when there is no
    /// such ref.
    pub async fn tree(
        &self,
        repo: &RepoName,
        git_ref: &GitRef,
    ) -> Result<Option<Tree>, GithubError> {
        let route = format!(
            "/repos/{}/{}/git/trees/{git_ref}",
            repo.owner(),
            repo.name()
        );
        self.get_optional(
            "read the file tree",
            repo,
            route,
            Some(&[("recursive", "1")]),
        )
        .await
    }

    /// A file's text by its blob sha.
    pub async fn blob(&self, repo: &RepoName, sha: &str) -> Result<String, GithubError> {
        let route = format!("/repos/{}/{}/git/blobs/{sha}", repo.owner(), repo.name());
        let blob: Blob = self
            .crab
            .get(route, None::<&()>)
            .await
            .map_err(|e| GithubError::api("read a file", repo, e))?;
        if blob.encoding != "base64" {
            return Err(GithubError::Unexpected(format!(
                "GitHub sent blob {sha} of {repo} encoded as {:?}, not base64",
                blob.encoding
            )));
        }
        decode_base64_text(&blob.content).ok_or_else(|| {
            GithubError::Unexpected(format!("blob {sha} of {repo} is not UTF-8 base64 text"))
        })
    }

    /// The check runs of commit `sha`.
    pub async fn check_runs(
        &self,
        repo: &RepoName,
        sha: &str,
    ) -> Result<Vec<CheckRun>, GithubError> {
        let route = format!(
            "/repos/{}/{}/commits/{sha}/check-runs",
            repo.owner(),
            repo.name()
        );
        let runs: CheckRuns = self
            .crab
            .get(route, Some(&[("per_page", "100")]))
            .await
            .map_err(|e| GithubError::api("read the commit's checks", repo, e))?;
        Ok(runs.check_runs)
    }

    /// Creates a deployment; its id.
    pub async fn create_deployment(
        &self,
        repo: &RepoName,
        deployment: &NewDeployment,
    ) -> Result<u64, GithubError> {
        let route = format!("/repos/{}/{}/deployments", repo.owner(), repo.name());
        let created: Created = self
            .crab
            .post(route, Some(deployment))
            .await
            .map_err(|e| GithubError::api("create a deployment", repo, e))?;
        Ok(created.id)
    }

    pub async fn post_status(
        &self,
        repo: &RepoName,
        deployment: u64,
        status: &NewStatus,
    ) -> Result<(), GithubError> {
        let route = format!(
            "/repos/{}/{}/deployments/{deployment}/statuses",
            repo.owner(),
            repo.name()
        );
        let _: Created = self
            .crab
            .post(route, Some(status))
            .await
            .map_err(|e| GithubError::api("post a deployment status", repo, e))?;
        Ok(())
    }

    /// Creates a comment on issue or pull request `number`; its id.
    pub async fn create_comment(
        &self,
        repo: &RepoName,
        number: u64,
        body: &str,
    ) -> Result<u64, GithubError> {
        let route = format!(
            "/repos/{}/{}/issues/{number}/comments",
            repo.owner(),
            repo.name()
        );
        let created: Created = self
            .crab
            .post(route, Some(&serde_json::json!({ "body": body })))
            .await
            .map_err(|e| GithubError::api("comment on the pull request", repo, e))?;
        Ok(created.id)
    }

    pub async fn update_comment(
        &self,
        repo: &RepoName,
        comment: u64,
        body: &str,
    ) -> Result<(), GithubError> {
        let route = format!(
            "/repos/{}/{}/issues/comments/{comment}",
            repo.owner(),
            repo.name()
        );
        let _: Created = self
            .crab
            .patch(route, Some(&serde_json::json!({ "body": body })))
            .await
            .map_err(|e| GithubError::api("update the pull request comment", repo, e))?;
        Ok(())
    }

    async fn get_optional<T: DeserializeOwned>(
        &self,
        what: &'static str,
        repo: &RepoName,
        route: String,
        query: Option<&[(&str, &str)]>,
    ) -> Result<Option<T>, GithubError> {
        match self.crab.get::<T, _, _>(route, query).await {
            Ok(value) => Ok(Some(value)),
            Err(error) if status_of(&error) == Some(404) => Ok(None),
            Err(error) => Err(GithubError::api(what, repo, error)),
        }
    }
}

/// The HTTP status GitHub answered with, when it answered.
pub fn status_of(error: &octocrab::Error) -> Option<u16> {
    match error {
        octocrab::Error::GitHub { source, .. } => Some(source.status_code.as_u16()),
        _ => None,
    }
}

/// GitHub's base64 (wrapped in lines) as text.
fn decode_base64_text(wrapped: &str) -> Option<String> {
    let packed: String = wrapped.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(packed)
        .ok()?;
    String::from_utf8(bytes).ok()
}
