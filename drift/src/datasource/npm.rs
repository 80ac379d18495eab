//! The npm registry: the package document `<registry>/<name>` (scoped names escaped as
//! `@scope%2fname`) with `versions` (and their `deprecated` messages), the `time` map and
//! the `latest` dist-tag.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::http::{join, HttpLayer};
use super::{parse_time, DatasourceError, Release, Releases};
use crate::model::Ecosystem;

/// A client of an npm registry.
pub struct NpmRegistry {
    base: Url,
    http: Arc<HttpLayer>,
}

#[derive(Deserialize)]
struct Packument {
    #[serde(default)]
    versions: BTreeMap<String, Value>,
    #[serde(default)]
    time: BTreeMap<String, Value>,
    #[serde(default, rename = "dist-tags")]
    dist_tags: BTreeMap<String, String>,
}

impl NpmRegistry {
    pub fn new(base: Url, http: Arc<HttpLayer>) -> Self {
        NpmRegistry { base, http }
    }

    /// Every published version of `name`.
    pub async fn releases(&self, name: &str) -> Result<Releases, DatasourceError> {
        let url = join(&self.base, &escape(name)?)?;
        let headers = [("accept", "application/json".to_owned())];
        let answer = self.http.get(Ecosystem::Npm, &url, &headers).await?;
        match answer.status {
            200 => parse(&answer.body),
            404 => Err(DatasourceError::NotFound),
            status => Err(DatasourceError::Denied(status)),
        }
    }
}

fn escape(name: &str) -> Result<String, DatasourceError> {
    let valid = !name.is_empty()
        && name.len() <= 214
        && !name.contains("..")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@/~".contains(c));
    if !valid {
        return Err(DatasourceError::InvalidName(name.to_owned()));
    }
    Ok(name.replace('/', "%2f"))
}

fn parse(body: &str) -> Result<Releases, DatasourceError> {
    let doc: Packument = serde_json::from_str(body)
        .map_err(|e| DatasourceError::InvalidResponse(format!("package document: {e}")))?;
    let versions = doc
        .versions
        .iter()
        .map(|(version, manifest)| Release {
            released_at: parse_time(doc.time.get(version).and_then(Value::as_str)),
            deprecated: manifest
                .get("deprecated")
                .and_then(Value::as_str)
                .filter(|m| !m.is_empty())
                .map(str::to_owned),
            ..Release::new(version.clone())
        })
        .collect();
    Ok(Releases {
        versions,
        latest: doc.dist_tags.get("latest").cloned(),
    })
}
