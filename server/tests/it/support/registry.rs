//! The registry double for drift tests: a wiremock server serving every recorded registry
//! answer of the drift crate's fixtures (`drift/tests/fixtures/registry/`) at the same path,
//! Docker tag lists behind the Bearer token flow, as `canopy-drift`'s own tests do.

use std::path::{Path, PathBuf};

use walkdir::WalkDir;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "test-token";

/// The drift crate's fixtures.
pub fn drift_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../drift/tests/fixtures")
}

/// A fixture repository (`shop`: Cargo workspace, npm, Python, Go, Dockerfile, actions).
pub fn fixture_repo(name: &str) -> PathBuf {
    drift_fixtures()
        .join("repos")
        .join(name)
        .canonicalize()
        .expect("fixture repository")
}

pub struct RegistryDouble {
    pub server: MockServer,
}

impl RegistryDouble {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let root = drift_fixtures().join("registry");
        for entry in WalkDir::new(&root).into_iter().filter_map(Result::ok) {
            if !entry.file_type().is_file() {
                continue;
            }
            let relative = entry.path().strip_prefix(&root).expect("under root");
            let url_path = format!("/{}", relative.to_string_lossy().replace('\\', "/"));
            let body = std::fs::read_to_string(entry.path()).expect("fixture");
            let mut full = Mock::given(method("GET")).and(path(url_path.as_str()));
            if url_path.starts_with("/docker/") {
                let bearer = format!("Bearer {TOKEN}");
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
                            .insert_header("www-authenticate", challenge.as_str()),
                    )
                    .with_priority(10)
                    .mount(&server)
                    .await;
            }
            full.respond_with(
                ResponseTemplate::new(200)
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
                r#"{{"token":"{TOKEN}","access_token":"{TOKEN}","expires_in":300}}"#
            )))
            .mount(&server)
            .await;
        RegistryDouble { server }
    }

    /// Drift settings with every registry at this double, no schedule, one quick retry.
    pub fn settings(&self) -> canopy_server::config::DriftSettings {
        let mut settings =
            canopy_server::config::DriftSettings::all_at(&self.server.uri()).expect("settings");
        settings.scan_every = None;
        settings.retries = 0;
        settings
    }
}
