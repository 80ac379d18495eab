//! The HTTP layer every datasource goes through: a fresh cached answer is used without a
//! request; a stale one is revalidated with `If-None-Match`; requests per registry are
//! bounded by a semaphore, retried with exponential backoff (`backon`) on connection errors,
//! timeouts, 429 and 5xx, and counted. A registry that stays unreachable is marked down for a
//! while, so that its other packages fail fast instead of each waiting for retries.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use reqwest::header::{HeaderMap, HeaderValue, ETAG, IF_NONE_MATCH, LINK, WWW_AUTHENTICATE};
use reqwest::StatusCode;
use time::OffsetDateTime;
use tokio::sync::Semaphore;
use url::Url;

use super::cache::{Cache, CachedResponse};
use super::DatasourceError;
use crate::model::Ecosystem;

/// How the HTTP layer behaves.
#[derive(Clone)]
pub struct HttpSettings {
    pub cache: Arc<dyn Cache>,
    /// A cached answer younger than this is used without asking the registry.
    pub cache_ttl: Duration,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Concurrent requests per registry.
    pub max_concurrent_per_registry: usize,
    /// Retries after the first attempt.
    pub retries: usize,
    pub retry_min_delay: Duration,
    /// How long a registry found unreachable is not asked again.
    pub down_for: Duration,
}

/// An answer: from the registry, or from the cache (status 200).
#[derive(Debug, Clone)]
pub struct Fetched {
    pub status: u16,
    pub body: String,
    pub link: Option<String>,
    pub www_authenticate: Option<String>,
}

impl Fetched {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The shared HTTP client, cache and counters.
pub struct HttpLayer {
    client: reqwest::Client,
    settings: HttpSettings,
    limits: HashMap<Ecosystem, Arc<Semaphore>>,
    requests: HashMap<Ecosystem, AtomicU64>,
    down_until: Mutex<HashMap<Ecosystem, (Instant, String)>>,
}

/// The certificates of the PEM bundle named by `SSL_CERT_FILE` (OpenSSL's convention), trusted
/// besides the built-in roots: registries reached through a TLS-inspecting proxy or a private
/// CA. Unset or empty: none. A file that cannot be read or parsed is an error, not a silent
/// fallback.
fn extra_roots() -> Result<Vec<reqwest::Certificate>, DatasourceError> {
    let Some(path) = std::env::var_os("SSL_CERT_FILE").filter(|p| !p.is_empty()) else {
        return Ok(Vec::new());
    };
    let pem = std::fs::read(&path).map_err(|e| {
        DatasourceError::InvalidResponse(format!("SSL_CERT_FILE {}: {e}", path.to_string_lossy()))
    })?;
    reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        DatasourceError::InvalidResponse(format!("SSL_CERT_FILE {}: {e}", path.to_string_lossy()))
    })
}

enum Attempt {
    Transient(String),
    Fatal(String),
}

impl HttpLayer {
    pub fn new(settings: HttpSettings) -> Result<Self, DatasourceError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("canopy-drift/", env!("CARGO_PKG_VERSION")))
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)));
        for certificate in extra_roots()? {
            builder = builder.add_root_certificate(certificate);
        }
        let client = builder
            .build()
            .map_err(|e| DatasourceError::InvalidResponse(format!("HTTP client: {e}")))?;
        let permits = settings.max_concurrent_per_registry.max(1);
        Ok(HttpLayer {
            client,
            limits: Ecosystem::ALL
                .iter()
                .map(|e| (*e, Arc::new(Semaphore::new(permits))))
                .collect(),
            requests: Ecosystem::ALL
                .iter()
                .map(|e| (*e, AtomicU64::new(0)))
                .collect(),
            down_until: Mutex::new(HashMap::new()),
            settings,
        })
    }

    /// Requests sent so far, per registry (retries and token requests included).
    pub fn request_counts(&self) -> BTreeMap<Ecosystem, u64> {
        self.requests
            .iter()
            .map(|(e, n)| (*e, n.load(Ordering::Relaxed)))
            .collect()
    }

    /// GET `url` for `registry`, through the cache. Answers other than 2xx/304 are returned
    /// as they are (the datasource decides what a 401 or 404 means) and not cached.
    pub async fn get(
        &self,
        registry: Ecosystem,
        url: &Url,
        headers: &[(&'static str, String)],
    ) -> Result<Fetched, DatasourceError> {
        let key = url.as_str();
        let cached = self.settings.cache.get(key).await;
        if let Some(hit) = &cached {
            let age = OffsetDateTime::now_utc() - hit.stored_at;
            if age >= time::Duration::ZERO && age < self.settings.cache_ttl {
                return Ok(from_cache(hit));
            }
        }
        self.check_up(registry)?;
        let permit = match self.limits.get(&registry) {
            Some(limit) => Some(limit.clone().acquire_owned().await),
            None => None,
        };
        let mut request_headers = HeaderMap::new();
        for (name, value) in headers {
            let value = HeaderValue::from_str(value)
                .map_err(|_| DatasourceError::InvalidName(format!("header {name}")))?;
            request_headers.insert(*name, value);
        }
        if let Some(etag) = cached.as_ref().and_then(|c| c.etag.as_deref()) {
            if let Ok(value) = HeaderValue::from_str(etag) {
                request_headers.insert(IF_NONE_MATCH, value);
            }
        }
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.settings.retry_min_delay)
            .with_max_times(self.settings.retries)
            .with_jitter();
        let attempt = || self.attempt(registry, url, request_headers.clone());
        let answer = attempt
            .retry(backoff)
            .when(|e| matches!(e, Attempt::Transient(_)))
            .await;
        drop(permit);
        let response = match answer {
            Ok(response) => response,
            Err(Attempt::Transient(message)) => {
                self.mark_down(registry, &message);
                return Err(DatasourceError::Unreachable(message));
            }
            Err(Attempt::Fatal(message)) => return Err(DatasourceError::InvalidResponse(message)),
        };
        let stored_at = OffsetDateTime::now_utc();
        match (response.status, cached) {
            (304, Some(mut hit)) => {
                hit.stored_at = stored_at;
                let fetched = from_cache(&hit);
                self.settings.cache.put(key, hit).await;
                Ok(fetched)
            }
            (200, _) => {
                let entry = CachedResponse {
                    body: response.fetched.body.clone(),
                    etag: response.etag,
                    link: response.fetched.link.clone(),
                    stored_at,
                };
                self.settings.cache.put(key, entry).await;
                Ok(response.fetched)
            }
            _ => Ok(response.fetched),
        }
    }

    fn check_up(&self, registry: Ecosystem) -> Result<(), DatasourceError> {
        let Ok(mut down) = self.down_until.lock() else {
            return Ok(());
        };
        match down.get(&registry) {
            Some((until, message)) if Instant::now() < *until => {
                Err(DatasourceError::Unreachable(message.clone()))
            }
            Some(_) => {
                down.remove(&registry);
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn mark_down(&self, registry: Ecosystem, message: &str) {
        tracing::warn!(%registry, error = message, "registry unreachable; marked down");
        if let Ok(mut down) = self.down_until.lock() {
            let until = Instant::now() + self.settings.down_for;
            down.insert(registry, (until, message.to_owned()));
        }
    }

    async fn attempt(
        &self,
        registry: Ecosystem,
        url: &Url,
        headers: HeaderMap,
    ) -> Result<Response, Attempt> {
        if let Some(counter) = self.requests.get(&registry) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let response = self
            .client
            .get(url.clone())
            .headers(headers)
            .send()
            .await
            .map_err(|e| {
                let message = format!("{}: {}", url_host(url), error_chain(&e));
                if e.is_builder() {
                    Attempt::Fatal(message)
                } else {
                    Attempt::Transient(message)
                }
            })?;
        let status = response.status();
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            return Err(Attempt::Transient(format!(
                "{} answered {status}",
                url_host(url)
            )));
        }
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let etag = header(ETAG);
        let link = header(LINK);
        let www_authenticate = header(WWW_AUTHENTICATE);
        let body = response
            .text()
            .await
            .map_err(|e| Attempt::Transient(format!("{}: {}", url_host(url), error_chain(&e))))?;
        Ok(Response {
            status: status.as_u16(),
            etag,
            fetched: Fetched {
                status: status.as_u16(),
                body,
                link,
                www_authenticate,
            },
        })
    }
}

struct Response {
    status: u16,
    etag: Option<String>,
    fetched: Fetched,
}

fn from_cache(hit: &CachedResponse) -> Fetched {
    Fetched {
        status: 200,
        body: hit.body.clone(),
        link: hit.link.clone(),
        www_authenticate: None,
    }
}

fn url_host(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        _ => url.to_string(),
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// The `rel="next"` target of a `Link` header, resolved against `base`.
pub fn next_link(link: Option<&str>, base: &Url) -> Option<Url> {
    link?.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"));
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| base.join(target).ok()).flatten()
    })
}

/// `base` joined with a path of segments that are already escaped.
pub fn join(base: &Url, path: &str) -> Result<Url, DatasourceError> {
    let joined = format!(
        "{}/{}",
        base.as_str().trim_end_matches('/'),
        path.trim_start_matches('/')
    );
    Url::parse(&joined).map_err(|e| DatasourceError::InvalidName(format!("{path}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_next_links() {
        let base = Url::parse("https://registry.example/v2/library/node/tags/list").unwrap();
        let link = r#"</v2/library/node/tags/list?last=20&n=2>; rel="next""#;
        assert_eq!(
            next_link(Some(link), &base).unwrap().as_str(),
            "https://registry.example/v2/library/node/tags/list?last=20&n=2"
        );
        let github = r#"<https://api.github.com/repositories/1/tags?page=2>; rel="next", <https://api.github.com/repositories/1/tags?page=5>; rel="last""#;
        assert!(next_link(Some(github), &base)
            .unwrap()
            .as_str()
            .ends_with("page=2"));
        assert!(next_link(Some(r#"<x>; rel="last""#), &base).is_none());
    }
}
