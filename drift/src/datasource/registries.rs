//! The registries together: settings (base URLs, cache, limits), one client per ecosystem,
//! and `lookup_all`, which asks each registry once per distinct package, concurrently, and
//! judges every dependency. A registry that fails leaves its dependencies `Unknown` with the
//! reason; the rest of the scan completes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use secrecy::SecretString;
use url::Url;

use super::cache::{Cache, MemoryCache};
use super::crates::CratesIndex;
use super::docker::DockerRegistry;
use super::github::GithubTags;
use super::goproxy::GoProxy;
use super::http::{HttpLayer, HttpSettings};
use super::npm::NpmRegistry;
use super::pypi::PypiRegistry;
use super::{DatasourceError, Releases};
use crate::lookup::judge;
use crate::manifest::pyproject::normalise;
use crate::model::{Dependency, Ecosystem};
use crate::report::{DependencyReport, Outcome};

/// Packages asked for at once across all registries (each registry has its own limit too).
const PACKAGES_IN_FLIGHT: usize = 64;

/// Where the registries are and how to talk to them.
#[derive(Clone)]
pub struct RegistrySettings {
    pub crates_index: Url,
    pub npm: Url,
    pub pypi: Url,
    pub go_proxy: Url,
    /// Docker Hub (images without a registry host).
    pub docker: Url,
    /// Other registry hosts mapped to base URLs (`ghcr.io` -> `https://ghcr.io`).
    pub docker_registries: BTreeMap<String, Url>,
    pub github_api: Url,
    pub github_token: Option<SecretString>,
    pub cache: Arc<dyn Cache>,
    pub cache_ttl: Duration,
    pub timeout: Duration,
    pub max_concurrent_per_registry: usize,
    pub retries: usize,
    pub retry_min_delay: Duration,
    /// How long a registry found unreachable is not asked again.
    pub down_for: Duration,
}

/// A default registry URL. The defaults are literals that parse (see the test below).
#[allow(clippy::expect_used)]
fn url(raw: &str) -> Url {
    Url::parse(raw).expect("default registry URLs are valid")
}

impl Default for RegistrySettings {
    /// The public registries, an in-memory cache kept for an hour, 30 s timeouts, 8
    /// concurrent requests per registry, 3 retries.
    fn default() -> Self {
        RegistrySettings {
            crates_index: url("https://index.crates.io"),
            npm: url("https://registry.npmjs.org"),
            pypi: url("https://pypi.org"),
            go_proxy: url("https://proxy.golang.org"),
            docker: url("https://registry-1.docker.io"),
            docker_registries: BTreeMap::new(),
            github_api: url("https://api.github.com"),
            github_token: None,
            cache: Arc::new(MemoryCache::new()),
            cache_ttl: Duration::from_secs(3600),
            timeout: Duration::from_secs(30),
            max_concurrent_per_registry: 8,
            retries: 3,
            retry_min_delay: Duration::from_millis(200),
            down_for: Duration::from_secs(60),
        }
    }
}

impl RegistrySettings {
    /// Every registry served from one base URL (a local double in tests and benchmarks):
    /// `<base>/crates`, `<base>/npm`, `<base>/pypi`, `<base>/go`, `<base>/docker`,
    /// `<base>/github`.
    pub fn all_at(base: &Url) -> Result<Self, DatasourceError> {
        let at = |path: &str| super::http::join(base, path);
        Ok(RegistrySettings {
            crates_index: at("crates")?,
            npm: at("npm")?,
            pypi: at("pypi")?,
            go_proxy: at("go")?,
            docker: at("docker")?,
            github_api: at("github")?,
            ..RegistrySettings::default()
        })
    }
}

/// The registry clients and the lookups over them.
pub struct Registries {
    http: Arc<HttpLayer>,
    crates: CratesIndex,
    npm: NpmRegistry,
    pypi: PypiRegistry,
    go: GoProxy,
    docker: DockerRegistry,
    github: GithubTags,
}

impl Registries {
    pub fn new(settings: RegistrySettings) -> Result<Self, DatasourceError> {
        let http = Arc::new(HttpLayer::new(HttpSettings {
            cache: settings.cache.clone(),
            cache_ttl: settings.cache_ttl,
            timeout: settings.timeout,
            max_concurrent_per_registry: settings.max_concurrent_per_registry,
            retries: settings.retries,
            retry_min_delay: settings.retry_min_delay,
            down_for: settings.down_for,
        })?);
        Ok(Registries {
            crates: CratesIndex::new(settings.crates_index, http.clone()),
            npm: NpmRegistry::new(settings.npm, http.clone()),
            pypi: PypiRegistry::new(settings.pypi, http.clone()),
            go: GoProxy::new(settings.go_proxy, http.clone()),
            docker: DockerRegistry::new(settings.docker, settings.docker_registries, http.clone()),
            github: GithubTags::new(settings.github_api, settings.github_token, http.clone()),
            http,
        })
    }

    /// Requests sent so far, per registry.
    pub fn request_counts(&self) -> BTreeMap<Ecosystem, u64> {
        self.http.request_counts()
    }

    /// What the registry of `ecosystem` knows about `name`.
    pub async fn releases(
        &self,
        ecosystem: Ecosystem,
        name: &str,
    ) -> Result<Releases, DatasourceError> {
        match ecosystem {
            Ecosystem::Cargo => self.crates.releases(name).await,
            Ecosystem::Npm => self.npm.releases(name).await,
            Ecosystem::Pypi => self.pypi.releases(name).await,
            Ecosystem::Go => self.go.releases(name).await,
            Ecosystem::Docker => self.docker.releases(name).await,
            Ecosystem::GithubActions => self.github.releases(name).await,
        }
    }

    /// Judges one dependency.
    pub async fn lookup(&self, dependency: &Dependency) -> DependencyReport {
        self.lookup_all(std::slice::from_ref(dependency))
            .await
            .pop()
            .unwrap_or_else(|| DependencyReport {
                dependency: dependency.clone(),
                outcome: Outcome::Unknown("no report".into()),
            })
    }

    /// Judges every dependency, in the order given. Each distinct package is asked for once.
    pub async fn lookup_all(&self, dependencies: &[Dependency]) -> Vec<DependencyReport> {
        let mut wanted: Vec<(Ecosystem, String)> = dependencies
            .iter()
            .filter(|d| needs_releases(d))
            .map(package_key)
            .collect();
        wanted.sort();
        wanted.dedup();
        let fetched: HashMap<(Ecosystem, String), Result<Releases, DatasourceError>> =
            stream::iter(wanted)
                .map(|key| async move {
                    let answer = self.releases(key.0, &key.1).await;
                    (key, answer)
                })
                .buffer_unordered(PACKAGES_IN_FLIGHT)
                .collect()
                .await;

        // The futures are built first (not in a `map` closure over `&Dependency`), so the whole
        // future stays `Send` for callers that spawn it (rustc #102211 otherwise).
        let reports: Vec<_> = dependencies
            .iter()
            .map(|dependency| self.report(dependency, fetched.get(&package_key(dependency))))
            .collect();
        stream::iter(reports)
            .buffered(PACKAGES_IN_FLIGHT)
            .collect()
            .await
    }

    async fn report(
        &self,
        dependency: &Dependency,
        answer: Option<&Result<Releases, DatasourceError>>,
    ) -> DependencyReport {
        let outcome = match (&dependency.skip_reason, answer) {
            (Some(_), _) | (None, None) => judge(dependency, &Releases::default()),
            (None, Some(Err(error))) => Outcome::Unknown(error.to_string()),
            (None, Some(Ok(releases))) => {
                let outcome = judge(dependency, releases);
                if dependency.ecosystem == Ecosystem::Go {
                    self.with_go_dates(dependency, releases, outcome).await
                } else {
                    outcome
                }
            }
        };
        DependencyReport {
            dependency: dependency.clone(),
            outcome,
        }
    }

    /// The Go proxy's list has no dates: ask `.info` for the two versions libyears needs.
    async fn with_go_dates(
        &self,
        dependency: &Dependency,
        releases: &Releases,
        outcome: Outcome,
    ) -> Outcome {
        let Some(outdated) = outcome.outdated() else {
            return outcome;
        };
        let mut dated = releases.clone();
        for version in [&outdated.current, &outdated.newest_stable] {
            let Some(release) = dated.versions.iter_mut().find(|r| &r.version == version) else {
                continue;
            };
            if release.released_at.is_none() {
                match self.go.release_time(&dependency.name, version).await {
                    Ok(time) => release.released_at = time,
                    Err(e) => {
                        tracing::debug!(error = %e, module = %dependency.name, "no Go release time")
                    }
                }
            }
        }
        judge(dependency, &dated)
    }
}

/// Whether judging `dependency` needs its registry: not when it is skipped either way (a
/// path dependency, a Docker tag that is not a version, ...).
fn needs_releases(dependency: &Dependency) -> bool {
    !matches!(judge(dependency, &Releases::default()), Outcome::Skipped(_))
}

/// The registry's name for a dependency's package.
fn package_key(dependency: &Dependency) -> (Ecosystem, String) {
    let name = match dependency.ecosystem {
        Ecosystem::Pypi => normalise(&dependency.name),
        _ => dependency.name.clone(),
    };
    (dependency.ecosystem, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_public_registries() {
        let settings = RegistrySettings::default();
        assert_eq!(settings.crates_index.as_str(), "https://index.crates.io/");
        assert_eq!(settings.pypi.host_str(), Some("pypi.org"));
        let local = RegistrySettings::all_at(&Url::parse("http://127.0.0.1:1/").unwrap()).unwrap();
        assert_eq!(local.npm.as_str(), "http://127.0.0.1:1/npm");
        assert!(Registries::new(settings).is_ok());
    }
}
