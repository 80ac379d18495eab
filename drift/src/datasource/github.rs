//! GitHub tags: `GET /repos/{owner}/{repo}/tags` (100 per page, `Link` pagination), each tag
//! with the commit SHA it points to, for actions and their SHA pins. Tags carry no dates.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::http::{join, next_link, HttpLayer};
use super::{DatasourceError, Release, Releases};
use crate::model::Ecosystem;

const MAX_PAGES: usize = 10;

/// A client of the GitHub REST API's tag listing.
pub struct GithubTags {
    base: Url,
    token: Option<SecretString>,
    http: Arc<HttpLayer>,
}

#[derive(Deserialize)]
struct Tag {
    name: String,
    commit: Commit,
}

#[derive(Deserialize)]
struct Commit {
    sha: String,
}

impl GithubTags {
    pub fn new(base: Url, token: Option<SecretString>, http: Arc<HttpLayer>) -> Self {
        GithubTags { base, token, http }
    }

    /// Every tag of `owner/repo`, with its commit.
    pub async fn releases(&self, repository: &str) -> Result<Releases, DatasourceError> {
        let valid = repository.split('/').count() == 2
            && !repository.contains("..")
            && repository
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._/".contains(c));
        if !valid {
            return Err(DatasourceError::InvalidName(repository.to_owned()));
        }
        let mut headers = vec![
            ("accept", "application/vnd.github+json".to_owned()),
            ("x-github-api-version", "2022-11-28".to_owned()),
        ];
        if let Some(token) = &self.token {
            headers.push(("authorization", format!("Bearer {}", token.expose_secret())));
        }
        let mut url = join(&self.base, &format!("repos/{repository}/tags?per_page=100"))?;
        let mut versions = Vec::new();
        for _ in 0..MAX_PAGES {
            let answer = self
                .http
                .get(Ecosystem::GithubActions, &url, &headers)
                .await?;
            match answer.status {
                200 => {}
                404 => return Err(DatasourceError::NotFound),
                status => return Err(DatasourceError::Denied(status)),
            }
            let tags: Vec<Tag> = serde_json::from_str(&answer.body)
                .map_err(|e| DatasourceError::InvalidResponse(format!("tags: {e}")))?;
            versions.extend(tags.into_iter().map(|t| Release {
                digest: Some(t.commit.sha),
                ..Release::new(t.name)
            }));
            match next_link(answer.link.as_deref(), &url) {
                Some(next) => url = next,
                None => break,
            }
        }
        Ok(Releases {
            versions,
            latest: None,
        })
    }
}
