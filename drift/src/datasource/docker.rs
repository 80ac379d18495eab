//! Docker Registry v2: `GET /v2/<repository>/tags/list` (paginated by `Link`), with the
//! Bearer token flow: a 401 names the token service in `WWW-Authenticate: Bearer
//! realm=...,service=...,scope=...`, the token comes from the realm and the list is asked
//! again with it. Images without a registry host are on Docker Hub (`library/` for official
//! images). Registries give no tag dates.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use url::Url;

use super::http::{join, next_link, HttpLayer};
use super::{DatasourceError, Release, Releases};
use crate::model::Ecosystem;

const MAX_PAGES: usize = 20;
const DOCKER_HUB_HOSTS: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// A client of Docker Registry v2 APIs.
pub struct DockerRegistry {
    default: Url,
    overrides: BTreeMap<String, Url>,
    http: Arc<HttpLayer>,
    tokens: Mutex<HashMap<String, String>>,
}

#[derive(Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

impl DockerRegistry {
    /// `default` serves images without a host (Docker Hub); `overrides` maps other registry
    /// hosts to base URLs (others are `https://<host>`).
    pub fn new(default: Url, overrides: BTreeMap<String, Url>, http: Arc<HttpLayer>) -> Self {
        DockerRegistry {
            default,
            overrides,
            http,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// Every tag of `image` (`node`, `bitnami/redis`, `ghcr.io/org/app`).
    pub async fn releases(&self, image: &str) -> Result<Releases, DatasourceError> {
        let (base, repository) = self.locate(image)?;
        let mut url = join(&base, &format!("v2/{repository}/tags/list?n=1000"))?;
        let mut versions = Vec::new();
        for _ in 0..MAX_PAGES {
            let answer = self.get_authorised(&url, &repository).await?;
            match answer.status {
                200 => {}
                404 => return Err(DatasourceError::NotFound),
                status => return Err(DatasourceError::Denied(status)),
            }
            let list: TagList = serde_json::from_str(&answer.body)
                .map_err(|e| DatasourceError::InvalidResponse(format!("tag list: {e}")))?;
            versions.extend(list.tags.unwrap_or_default().into_iter().map(Release::new));
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

    /// The registry base URL and repository path of an image reference.
    fn locate(&self, image: &str) -> Result<(Url, String), DatasourceError> {
        let valid = !image.is_empty()
            && !image.contains("..")
            && image
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._/:".contains(c));
        if !valid {
            return Err(DatasourceError::InvalidName(image.to_owned()));
        }
        let (first, rest) = image.split_once('/').unwrap_or(("", image));
        let has_host = first.contains('.') || first.contains(':') || first == "localhost";
        let (host, path) = if has_host {
            (Some(first), rest)
        } else {
            (None, image)
        };
        let base = match host {
            None => self.default.clone(),
            Some(host) if DOCKER_HUB_HOSTS.contains(&host) => self.default.clone(),
            Some(host) => match self.overrides.get(host) {
                Some(url) => url.clone(),
                None => Url::parse(&format!("https://{host}"))
                    .map_err(|e| DatasourceError::InvalidName(format!("{host}: {e}")))?,
            },
        };
        let on_hub = host.is_none_or(|h| DOCKER_HUB_HOSTS.contains(&h));
        let repository = if on_hub && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_owned()
        };
        Ok((base, repository))
    }

    async fn get_authorised(
        &self,
        url: &Url,
        repository: &str,
    ) -> Result<super::http::Fetched, DatasourceError> {
        let host = url.host_str().unwrap_or_default().to_owned();
        let token_key = format!("{host}/{repository}");
        let known = self
            .tokens
            .lock()
            .ok()
            .and_then(|t| t.get(&token_key).cloned());
        let auth = |token: &str| vec![("authorization", format!("Bearer {token}"))];
        let first = self
            .http
            .get(
                Ecosystem::Docker,
                url,
                &known.as_deref().map(auth).unwrap_or_default(),
            )
            .await?;
        if first.status != 401 {
            return Ok(first);
        }
        let Some(challenge) = first.www_authenticate.as_deref().and_then(parse_challenge) else {
            return Ok(first);
        };
        let token = self.fetch_token(&challenge).await?;
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.insert(token_key, token.clone());
        }
        self.http.get(Ecosystem::Docker, url, &auth(&token)).await
    }

    async fn fetch_token(&self, challenge: &Challenge) -> Result<String, DatasourceError> {
        let mut url = Url::parse(&challenge.realm)
            .map_err(|e| DatasourceError::InvalidResponse(format!("token realm: {e}")))?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = &challenge.service {
                query.append_pair("service", service);
            }
            if let Some(scope) = &challenge.scope {
                query.append_pair("scope", scope);
            }
        }
        let answer = self.http.get(Ecosystem::Docker, &url, &[]).await?;
        if !answer.is_success() {
            return Err(DatasourceError::Denied(answer.status));
        }
        let parsed: TokenAnswer = serde_json::from_str(&answer.body)
            .map_err(|e| DatasourceError::InvalidResponse(format!("token: {e}")))?;
        parsed
            .token
            .or(parsed.access_token)
            .ok_or_else(|| DatasourceError::InvalidResponse("token answer without a token".into()))
    }
}

/// A Bearer challenge's parameters.
#[derive(Debug, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub service: Option<String>,
    pub scope: Option<String>,
}

/// Parses `Bearer realm="...",service="...",scope="..."`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let rest = header.trim();
    let rest = rest
        .get(..7)
        .filter(|s| s.eq_ignore_ascii_case("bearer "))?;
    let params = &header.trim()[rest.len()..];
    let mut values: HashMap<String, String> = HashMap::new();
    let mut remaining = params.trim();
    while !remaining.is_empty() {
        let (key, after) = remaining.split_once('=')?;
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        values.insert(key.trim().to_ascii_lowercase(), value.to_owned());
        remaining = next.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge {
        realm: values.remove("realm")?,
        service: values.remove("service"),
        scope: values.remove("scope"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_hub_challenge() {
        let header = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/node:pull""#;
        assert_eq!(
            parse_challenge(header).unwrap(),
            Challenge {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/node:pull".into()),
            }
        );
        assert!(parse_challenge("Basic realm=\"x\"").is_none());
    }
}
