//! The crates.io sparse index: `<index>/<prefix>/<name>`, one JSON line per published
//! version with `vers`, `yanked` and (for versions published since 2023) `pubtime`.

use std::sync::Arc;

use serde::Deserialize;
use url::Url;

use super::http::{join, HttpLayer};
use super::{parse_time, DatasourceError, Release, Releases};
use crate::model::Ecosystem;

/// A client of a sparse crate index.
pub struct CratesIndex {
    base: Url,
    http: Arc<HttpLayer>,
}

#[derive(Deserialize)]
struct IndexLine {
    vers: String,
    #[serde(default)]
    yanked: bool,
    #[serde(default)]
    pubtime: Option<String>,
}

impl CratesIndex {
    pub fn new(base: Url, http: Arc<HttpLayer>) -> Self {
        CratesIndex { base, http }
    }

    /// Every published version of `name`.
    pub async fn releases(&self, name: &str) -> Result<Releases, DatasourceError> {
        let url = join(&self.base, &index_path(name)?)?;
        let answer = self.http.get(Ecosystem::Cargo, &url, &[]).await?;
        match answer.status {
            200 => parse(&answer.body),
            404 | 410 => Err(DatasourceError::NotFound),
            status => Err(DatasourceError::Denied(status)),
        }
    }
}

/// The index path of a crate: `1/a`, `2/ab`, `3/a/abc`, `se/rd/serde`.
pub fn index_path(name: &str) -> Result<String, DatasourceError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(DatasourceError::InvalidName(name.to_owned()));
    }
    let name = name.to_ascii_lowercase();
    Ok(match name.len() {
        1 => format!("1/{name}"),
        2 => format!("2/{name}"),
        3 => format!("3/{}/{name}", &name[..1]),
        _ => format!("{}/{}/{name}", &name[..2], &name[2..4]),
    })
}

fn parse(body: &str) -> Result<Releases, DatasourceError> {
    let mut versions = Vec::new();
    for line in body.lines().filter(|l| !l.trim().is_empty()) {
        let entry: IndexLine = serde_json::from_str(line)
            .map_err(|e| DatasourceError::InvalidResponse(format!("index line: {e}")))?;
        versions.push(Release {
            released_at: parse_time(entry.pubtime.as_deref()),
            yanked: entry.yanked,
            ..Release::new(entry.vers)
        });
    }
    Ok(Releases {
        versions,
        latest: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_paths() {
        assert_eq!(index_path("a").unwrap(), "1/a");
        assert_eq!(index_path("cc").unwrap(), "2/cc");
        assert_eq!(index_path("syn").unwrap(), "3/s/syn");
        assert_eq!(index_path("Serde_JSON").unwrap(), "se/rd/serde_json");
        assert!(index_path("../etc").is_err());
    }
}
