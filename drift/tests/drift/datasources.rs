//! Datasources against the registry double: recorded answers parsed as the registries write
//! them, ETag revalidation (304 reuses the cached body), a fresh cache answering without a
//! request, the on-disk cache across clients, Docker's token flow, and a registry that is down.

use std::sync::Arc;
use std::time::Duration;

use canopy_drift::{
    DatasourceError, Dependency, DependencyKind, DiskCache, Ecosystem, MemoryCache, Outcome,
    Registries, RegistrySettings,
};
use time::macros::datetime;
use url::Url;

use crate::support::RegistryDouble;

fn version<'a>(releases: &'a canopy_drift::Releases, v: &str) -> &'a canopy_drift::Release {
    releases.versions.iter().find(|r| r.version == v).unwrap()
}

#[tokio::test]
async fn recorded_answers_parse_like_the_registries_write_them() {
    let double = RegistryDouble::start().await;
    let registries = Registries::new(double.settings()).unwrap();

    let serde = registries
        .releases(Ecosystem::Cargo, "serde")
        .await
        .unwrap();
    assert_eq!(serde.versions.len(), 6);
    assert_eq!(version(&serde, "1.0.189").released_at, None);
    assert_eq!(
        version(&serde, "1.0.190").released_at,
        Some(datetime!(2023-10-19 04:03:15 UTC))
    );
    assert!(version(&serde, "1.0.211").yanked);

    let react = registries.releases(Ecosystem::Npm, "react").await.unwrap();
    assert_eq!(react.latest.as_deref(), Some("19.0.0"));
    assert!(version(&react, "18.3.1").released_at.is_some());
    let request = registries
        .releases(Ecosystem::Npm, "request")
        .await
        .unwrap();
    assert!(version(&request, "2.88.2")
        .deprecated
        .as_deref()
        .unwrap()
        .contains("deprecated"));

    let requests = registries
        .releases(Ecosystem::Pypi, "Requests")
        .await
        .unwrap();
    assert!(version(&requests, "2.32.0").yanked);
    assert!(
        !requests.versions.iter().any(|r| r.version == "0.0.1"),
        "no files, no release"
    );
    assert_eq!(
        version(&requests, "2.31.0").released_at,
        Some(datetime!(2023-05-22 15:12:44.175 UTC))
    );

    let uuid = registries
        .releases(Ecosystem::Go, "github.com/google/uuid")
        .await
        .unwrap();
    assert_eq!(uuid.versions.len(), 2);

    let node = registries
        .releases(Ecosystem::Docker, "node")
        .await
        .unwrap();
    assert!(node.versions.iter().any(|r| r.version == "22.11.0-alpine"));

    let checkout = registries
        .releases(Ecosystem::GithubActions, "actions/checkout")
        .await
        .unwrap();
    assert_eq!(
        version(&checkout, "v4.2.2").digest.as_deref(),
        Some("11bd71901bbe5b1630ceea73d27597364c9af683")
    );

    let missing = registries.releases(Ecosystem::Npm, "no-such-package").await;
    assert_eq!(missing, Err(DatasourceError::NotFound));
}

#[tokio::test]
async fn stale_entries_are_revalidated_with_etag_and_304_reuses_the_body() {
    let double = RegistryDouble::start().await;
    let settings = RegistrySettings {
        cache_ttl: Duration::ZERO,
        ..double.settings()
    };
    let registries = Registries::new(settings).unwrap();
    let first = registries.releases(Ecosystem::Npm, "lodash").await.unwrap();
    let second = registries.releases(Ecosystem::Npm, "lodash").await.unwrap();
    assert_eq!(first, second);
    let requests = double.server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    assert!(requests[0].headers.get("if-none-match").is_none());
    assert!(requests[1].headers.get("if-none-match").is_some());
    assert_eq!(registries.request_counts()[&Ecosystem::Npm], 2);
}

#[tokio::test]
async fn fresh_entries_need_no_request_and_the_disk_cache_outlives_the_client() {
    let double = RegistryDouble::start().await;
    let dir = tempfile::tempdir().unwrap();
    let settings = || RegistrySettings {
        cache: Arc::new(DiskCache::new(dir.path())),
        ..double.settings()
    };
    let first = Registries::new(settings()).unwrap();
    first.releases(Ecosystem::Cargo, "tokio").await.unwrap();
    first.releases(Ecosystem::Cargo, "tokio").await.unwrap();
    assert_eq!(first.request_counts()[&Ecosystem::Cargo], 1);

    let second = Registries::new(settings()).unwrap();
    let tokio = second.releases(Ecosystem::Cargo, "tokio").await.unwrap();
    assert_eq!(tokio.versions.len(), 5);
    assert_eq!(second.request_counts()[&Ecosystem::Cargo], 0);
    assert_eq!(double.requests_to("/crates/").await, 1);
}

#[tokio::test]
async fn docker_tags_need_a_bearer_token_from_the_challenge() {
    let double = RegistryDouble::start().await;
    let settings = RegistrySettings {
        cache_ttl: Duration::ZERO,
        ..double.settings()
    };
    let registries = Registries::new(settings).unwrap();
    let python = registries
        .releases(Ecosystem::Docker, "python")
        .await
        .unwrap();
    assert!(python.versions.iter().any(|r| r.version == "3.13-slim"));
    // 401, token, list with the token.
    assert_eq!(double.requests_to("/token").await, 1);
    assert_eq!(double.requests_to("/docker/").await, 2);
    let token_request = double
        .server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.url.path() == "/token")
        .unwrap();
    assert!(token_request
        .url
        .query()
        .unwrap()
        .contains("scope=repository%3Alibrary%2Fpython%3Apull"));

    // The token is kept: revalidation goes straight to the list.
    registries
        .releases(Ecosystem::Docker, "docker.io/library/python")
        .await
        .unwrap();
    assert_eq!(double.requests_to("/token").await, 1);
    assert_eq!(double.requests_to("/docker/").await, 3);
}

#[tokio::test]
async fn a_registry_that_is_down_leaves_its_dependencies_unknown() {
    let double = RegistryDouble::start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = Url::parse(&format!("http://{}", closed.local_addr().unwrap())).unwrap();
    drop(closed);
    let settings = RegistrySettings {
        pypi: down,
        ..double.settings()
    };
    let registries = Registries::new(settings).unwrap();
    let dependency = |ecosystem, name: &str, declared: &str| {
        Dependency::new(
            ecosystem,
            name,
            declared,
            "manifest",
            1,
            DependencyKind::Normal,
        )
    };
    let reports = registries
        .lookup_all(&[
            dependency(Ecosystem::Pypi, "requests", "==2.31.0"),
            dependency(Ecosystem::Pypi, "django", ">=4.2,<5"),
            dependency(Ecosystem::Npm, "lodash", "4.17.20"),
        ])
        .await;
    for report in &reports[..2] {
        match &report.outcome {
            Outcome::Unknown(reason) => {
                assert!(reason.starts_with("registry unreachable"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        reports[2].outcome.outdated().unwrap().newest_stable,
        "4.17.21"
    );
    // Each package in flight tried once and retried once; then PyPI is marked down and the
    // next package fails without a request.
    let sent = registries.request_counts()[&Ecosystem::Pypi];
    assert!((2..=4).contains(&sent), "{sent}");
    let next = registries.releases(Ecosystem::Pypi, "flask").await;
    assert!(
        matches!(next, Err(DatasourceError::Unreachable(_))),
        "{next:?}"
    );
    assert_eq!(registries.request_counts()[&Ecosystem::Pypi], sent);
}

#[tokio::test]
async fn memory_cache_is_shared_between_lookups() {
    let double = RegistryDouble::start().await;
    let cache = Arc::new(MemoryCache::new());
    let settings = RegistrySettings {
        cache: cache.clone(),
        ..double.settings()
    };
    let registries = Registries::new(settings).unwrap();
    registries
        .releases(Ecosystem::Go, "golang.org/x/net")
        .await
        .unwrap();
    assert_eq!(cache.len(), 1);
}
