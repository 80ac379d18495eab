//! PyPI's JSON API: `<pypi>/pypi/<name>/json`, `releases` mapping each version to its files;
//! a release's time is its earliest file's `upload_time_iso_8601`, and it is yanked when all
//! its files are.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use url::Url;

use super::http::{join, HttpLayer};
use super::{parse_time, DatasourceError, Release, Releases};
use crate::manifest::pyproject::normalise;
use crate::model::Ecosystem;

/// A client of the PyPI JSON API.
pub struct PypiRegistry {
    base: Url,
    http: Arc<HttpLayer>,
}

#[derive(Deserialize)]
struct Project {
    #[serde(default)]
    releases: BTreeMap<String, Vec<File>>,
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    upload_time_iso_8601: Option<String>,
    #[serde(default)]
    yanked: bool,
}

impl PypiRegistry {
    pub fn new(base: Url, http: Arc<HttpLayer>) -> Self {
        PypiRegistry { base, http }
    }

    /// Every release of `name` that has files.
    pub async fn releases(&self, name: &str) -> Result<Releases, DatasourceError> {
        let name = normalise(name);
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(DatasourceError::InvalidName(name));
        }
        let url = join(&self.base, &format!("pypi/{name}/json"))?;
        let answer = self.http.get(Ecosystem::Pypi, &url, &[]).await?;
        match answer.status {
            200 => parse(&answer.body),
            404 => Err(DatasourceError::NotFound),
            status => Err(DatasourceError::Denied(status)),
        }
    }
}

fn parse(body: &str) -> Result<Releases, DatasourceError> {
    let project: Project = serde_json::from_str(body)
        .map_err(|e| DatasourceError::InvalidResponse(format!("project JSON: {e}")))?;
    let versions = project
        .releases
        .into_iter()
        .filter(|(_, files)| !files.is_empty())
        .map(|(version, files)| Release {
            released_at: files
                .iter()
                .filter_map(|f| parse_time(f.upload_time_iso_8601.as_deref()))
                .min(),
            yanked: files.iter().all(|f| f.yanked),
            ..Release::new(version)
        })
        .collect();
    Ok(Releases {
        versions,
        latest: None,
    })
}
