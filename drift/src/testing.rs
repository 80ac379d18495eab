//! Test support (feature `testing`), shared by this crate's tests and the server's: the registry
//! double, a wiremock server that serves every recorded answer under the crate's
//! `tests/fixtures/registry/` at the same path, with an ETag (and 304 for a matching
//! `If-None-Match`), and Docker tag lists only behind the Bearer token flow. Failing here is
//! failing the test, so it panics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::RegistrySettings;
use url::Url;
use walkdir::WalkDir;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const TOKEN: &str = "test-token";

/// The crate's fixtures: recorded registry answers and fixture repositories.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A fixture repository (`shop`: Cargo workspace, npm, Python, Go, Dockerfile, actions).
pub fn repo(name: &str) -> PathBuf {
    fixtures().join("repos").join(name)
}

pub struct RegistryDouble {
    pub server: MockServer,
}

impl RegistryDouble {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let root = fixtures().join("registry");
        for entry in WalkDir::new(&root).into_iter().filter_map(Result::ok) {
            if !entry.file_type().is_file() {
                continue;
            }
            let relative = entry.path().strip_prefix(&root).unwrap();
            let url_path = format!("/{}", relative.to_string_lossy().replace('\\', "/"));
            let body = std::fs::read_to_string(entry.path()).unwrap();
            let etag = format!("\"{:x}-{}\"", body.len(), relative.components().count());
            let docker = url_path.starts_with("/docker/");
            let mut revalidated = Mock::given(method("GET"))
                .and(path(url_path.as_str()))
                .and(header("if-none-match", etag.as_str()));
            let mut full = Mock::given(method("GET")).and(path(url_path.as_str()));
            if docker {
                let bearer = format!("Bearer {TOKEN}");
                revalidated = revalidated.and(header("authorization", bearer.as_str()));
                full = full.and(header("authorization", bearer.as_str()));
                let repository = url_path
                    .trim_start_matches("/docker/v2/")
                    .trim_end_matches("/tags/list");
                let challenge = format!(
                    "Bearer realm=\"{}/token\",service=\"registry.docker.io\",scope=\"repository:{repository}:pull\"",
                    server.uri()
                );
                Mock::given(method("GET"))
                    .and(path(url_path.as_str()))
                    .respond_with(
                        ResponseTemplate::new(401)
                            .insert_header("www-authenticate", challenge.as_str())
                            .set_body_string(r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#),
                    )
                    .with_priority(10)
                    .mount(&server)
                    .await;
            }
            revalidated
                .respond_with(ResponseTemplate::new(304).insert_header("etag", etag.as_str()))
                .with_priority(1)
                .mount(&server)
                .await;
            full.respond_with(
                ResponseTemplate::new(200)
                    .insert_header("etag", etag.as_str())
                    .insert_header("content-type", "application/json")
                    .set_body_string(body),
            )
            .with_priority(5)
            .mount(&server)
            .await;
        }
        Mock::given(method("GET"))
            .and(path("/token"))
            .and(query_param("service", "registry.docker.io"))
            .respond_with(ResponseTemplate::new(200).set_body_string(format!(
                r#"{{"token":"{TOKEN}","access_token":"{TOKEN}","expires_in":300,"issued_at":"2024-12-01T10:00:00Z"}}"#
            )))
            .mount(&server)
            .await;
        RegistryDouble { server }
    }

    pub fn url(&self) -> Url {
        Url::parse(&self.server.uri()).unwrap()
    }

    /// Every registry at the double; quick retries.
    pub fn settings(&self) -> RegistrySettings {
        RegistrySettings {
            retries: 1,
            retry_min_delay: Duration::from_millis(5),
            timeout: Duration::from_secs(5),
            ..RegistrySettings::all_at(&self.url()).unwrap()
        }
    }

    pub async fn requests_to(&self, prefix: &str) -> usize {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path().starts_with(prefix))
            .count()
    }
}
