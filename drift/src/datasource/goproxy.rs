//! The Go module proxy: `<proxy>/<module>/@v/list` for the versions (upper case escaped as
//! `!lower`), `@v/<version>.info` for one version's `Time` (asked only for the versions a
//! report needs), `@latest` when the list is empty.

use std::sync::Arc;

use serde::Deserialize;
use time::OffsetDateTime;
use url::Url;

use super::http::{join, HttpLayer};
use super::{parse_time, DatasourceError, Release, Releases};
use crate::model::Ecosystem;

/// A client of a Go module proxy.
pub struct GoProxy {
    base: Url,
    http: Arc<HttpLayer>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Info {
    version: String,
    #[serde(default)]
    time: Option<String>,
}

impl GoProxy {
    pub fn new(base: Url, http: Arc<HttpLayer>) -> Self {
        GoProxy { base, http }
    }

    /// The released versions of `module` (without dates: see [`GoProxy::release_time`]).
    pub async fn releases(&self, module: &str) -> Result<Releases, DatasourceError> {
        let escaped = escape(module)?;
        let url = join(&self.base, &format!("{escaped}/@v/list"))?;
        let answer = self.http.get(Ecosystem::Go, &url, &[]).await?;
        let versions: Vec<Release> = match answer.status {
            200 => answer.body.split_whitespace().map(Release::new).collect(),
            404 | 410 => return Err(DatasourceError::NotFound),
            status => return Err(DatasourceError::Denied(status)),
        };
        if !versions.is_empty() {
            return Ok(Releases {
                versions,
                latest: None,
            });
        }
        let info = self.info(&format!("{escaped}/@latest")).await?;
        Ok(Releases {
            versions: vec![Release {
                released_at: parse_time(info.time.as_deref()),
                ..Release::new(info.version)
            }],
            latest: None,
        })
    }

    /// When `version` of `module` was published.
    pub async fn release_time(
        &self,
        module: &str,
        version: &str,
    ) -> Result<Option<OffsetDateTime>, DatasourceError> {
        let path = format!("{}/@v/{}.info", escape(module)?, escape(version)?);
        Ok(parse_time(self.info(&path).await?.time.as_deref()))
    }

    async fn info(&self, path: &str) -> Result<Info, DatasourceError> {
        let url = join(&self.base, path)?;
        let answer = self.http.get(Ecosystem::Go, &url, &[]).await?;
        match answer.status {
            200 => serde_json::from_str(&answer.body)
                .map_err(|e| DatasourceError::InvalidResponse(format!("info: {e}"))),
            404 | 410 => Err(DatasourceError::NotFound),
            status => Err(DatasourceError::Denied(status)),
        }
    }
}

/// Module path escaping: every upper-case letter becomes `!` and its lower case.
pub fn escape(path: &str) -> Result<String, DatasourceError> {
    let valid = !path.is_empty()
        && !path.contains("..")
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~/+".contains(c));
    if !valid {
        return Err(DatasourceError::InvalidName(path.to_owned()));
    }
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_upper_case() {
        assert_eq!(
            escape("github.com/BurntSushi/toml").unwrap(),
            "github.com/!burnt!sushi/toml"
        );
        assert!(escape("../x").is_err());
    }
}
