//! Dependency drift from a linked repository: the file tree at the head of the branch (one
//! request), then each manifest by its blob sha, read from GitHub only when PostgreSQL does not
//! have that blob yet (`github_blobs`): one request per changed file at most.

use std::path::PathBuf;

use canopy_drift::{manifest::kind_of, SourceFile, SKIPPED_DIRS};
use sqlx::PgPool;

use super::{client::GithubClient, GitRef, GithubError, RepoName, Result};

/// At most this many manifests are read from one repository.
const MAX_FILES: usize = 500;
/// Larger files are skipped (as a local scan does).
const MAX_BYTES: u64 = 10 * 1024 * 1024;

/// Reads linked repositories for dependency drift (`crate::drift::RepoFiles`).
#[derive(Clone)]
pub struct RepoReader {
    pub(super) client: GithubClient,
    pub(super) pool: PgPool,
}

impl RepoReader {
    async fn read(&self, repository: &str, branch: &str) -> Result<(String, Vec<SourceFile>)> {
        let repo = RepoName::parse(repository)?;
        let branch = GitRef::parse("branch", branch)?;
        let installation = self
            .client
            .installation(&repo)
            .await?
            .ok_or_else(|| GithubError::NotInstalled(repo.clone()))?;
        let reader = self.client.writer(installation).await?;
        let tree = reader
            .tree(&repo, &branch)
            .await?
            .ok_or_else(|| GithubError::NotFound(format!("branch {branch} of {repo}")))?;
        let manifests = tree
            .tree
            .iter()
            .filter(|entry| entry.kind == "blob")
            .filter(|entry| entry.size.is_none_or(|size| size <= MAX_BYTES))
            .filter(|entry| {
                !entry
                    .path
                    .split('/')
                    .any(|part| SKIPPED_DIRS.contains(&part))
            })
            .filter(|entry| kind_of(std::path::Path::new(&entry.path)).is_some())
            .take(MAX_FILES);
        let mut files = Vec::new();
        for entry in manifests {
            let cached =
                sqlx::query_scalar!("SELECT content FROM github_blobs WHERE sha = $1", entry.sha)
                    .fetch_optional(&self.pool)
                    .await?;
            let contents = match cached {
                Some(contents) => contents,
                None => {
                    let contents = reader.blob(&repo, &entry.sha).await?;
                    sqlx::query!(
                        "INSERT INTO github_blobs (sha, content) VALUES ($1, $2)
                         ON CONFLICT (sha) DO NOTHING",
                        entry.sha,
                        contents
                    )
                    .execute(&self.pool)
                    .await?;
                    contents
                }
            };
            files.push(SourceFile {
                path: PathBuf::from(&entry.path),
                contents,
            });
        }
        if tree.truncated {
            tracing::warn!(%repo, %branch, "GitHub truncated the file tree; some manifests may be missing");
        }
        Ok((tree.sha, files))
    }
}

#[async_trait::async_trait]
impl crate::drift::RepoFiles for RepoReader {
    async fn manifest_files(
        &self,
        repository: &str,
        branch: &str,
    ) -> std::result::Result<(String, Vec<SourceFile>), String> {
        self.read(repository, branch)
            .await
            .map_err(|error| error.to_string())
    }
}
