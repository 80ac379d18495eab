//! Opt-in live tests, one per registry: `cargo test -p canopy-drift --test drift -- --ignored
//! live`. They ask the real registries (only crates.io, npm and PyPI are reachable from
//! Canopy's build machines), so they never run by default.

use canopy_drift::{Ecosystem, Registries, RegistrySettings};

async fn newest(ecosystem: Ecosystem, name: &str) -> usize {
    let registries = Registries::new(RegistrySettings::default()).unwrap();
    let releases = registries.releases(ecosystem, name).await.unwrap();
    assert!(!releases.versions.is_empty(), "{ecosystem} {name}");
    releases.versions.len()
}

#[tokio::test]
#[ignore = "reaches the real crates.io index"]
async fn live_crates_io() {
    assert!(newest(Ecosystem::Cargo, "serde").await > 100);
}

#[tokio::test]
#[ignore = "reaches the real npm registry"]
async fn live_npm() {
    assert!(newest(Ecosystem::Npm, "react").await > 100);
}

#[tokio::test]
#[ignore = "reaches the real PyPI"]
async fn live_pypi() {
    assert!(newest(Ecosystem::Pypi, "requests").await > 50);
}

#[tokio::test]
#[ignore = "reaches the real Go module proxy"]
async fn live_go_proxy() {
    assert!(newest(Ecosystem::Go, "golang.org/x/net").await > 10);
}

#[tokio::test]
#[ignore = "reaches the real Docker Hub"]
async fn live_docker_hub() {
    assert!(newest(Ecosystem::Docker, "alpine").await > 10);
}

#[tokio::test]
#[ignore = "reaches the real GitHub API"]
async fn live_github_tags() {
    assert!(newest(Ecosystem::GithubActions, "actions/checkout").await > 10);
}
