//! Benchmark (figures, not a test): 100 generated repositories × 50 dependencies each
//! (Cargo, npm, PyPI, Go, Docker, Actions), looked up against a local registry double that
//! answers like the real registries. Prints the cold-cache and warm-cache scan times and the
//! registry requests of each, and a revalidation run (TTL 0: every answer an ETag 304).
//!
//! Run: `cargo bench -p canopy-drift --bench scan` (add `-- --repos N` to change the size).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use canopy_drift::{
    scan_directory, summarise, Ecosystem, MemoryCache, Registries, RegistrySettings,
};
use url::Url;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const DEPS_PER_REPO: usize = 50;
/// Distinct packages per ecosystem: repositories share most of their dependencies.
const POOL: usize = 120;

#[tokio::main]
async fn main() {
    let repos: usize = std::env::args()
        .skip_while(|a| a != "--repos")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100);
    let dir = tempfile::tempdir().unwrap();
    for index in 0..repos {
        write_repo(&dir.path().join(format!("repo-{index:03}")), index);
    }
    let server = start_double().await;
    let base = Url::parse(&server.uri()).unwrap();

    let cache = Arc::new(MemoryCache::new());
    let settings = RegistrySettings {
        cache: cache.clone(),
        max_concurrent_per_registry: 16,
        ..RegistrySettings::all_at(&base).unwrap()
    };
    let registries = Registries::new(settings.clone()).unwrap();

    println!("canopy-drift scan benchmark: {repos} repositories × {DEPS_PER_REPO} dependencies");
    let (cold, cold_requests, libyears) = run(&registries, dir.path(), repos).await;
    println!(
        "cold cache : {:>8.1} ms, {cold_requests:>5} registry requests ({})",
        cold.as_secs_f64() * 1000.0,
        counts(&registries)
    );
    let before = total(&registries);
    let (warm, _, _) = run(&registries, dir.path(), repos).await;
    println!(
        "warm cache : {:>8.1} ms, {:>5} registry requests",
        warm.as_secs_f64() * 1000.0,
        total(&registries) - before
    );
    let revalidating = Registries::new(RegistrySettings {
        cache_ttl: Duration::ZERO,
        ..settings
    })
    .unwrap();
    let (stale, stale_requests, _) = run(&revalidating, dir.path(), repos).await;
    println!(
        "stale cache: {:>8.1} ms, {stale_requests:>5} registry requests (each revalidated: ETag, 304)",
        stale.as_secs_f64() * 1000.0
    );
    println!("total libyears over all repositories: {libyears:.1}");
}

/// Scans and looks up every repository, one after the other (as the server's schedule does).
async fn run(registries: &Registries, root: &Path, repos: usize) -> (Duration, u64, f64) {
    let before = total(registries);
    let started = Instant::now();
    let mut libyears = 0.0;
    for index in 0..repos {
        let scan = scan_directory(&root.join(format!("repo-{index:03}")));
        assert!(scan.errors.is_empty(), "{:?}", scan.errors);
        let reports = registries.lookup_all(&scan.dependencies).await;
        libyears += summarise(&reports).totals.libyears;
    }
    (started.elapsed(), total(registries) - before, libyears)
}

fn total(registries: &Registries) -> u64 {
    registries.request_counts().values().sum()
}

fn counts(registries: &Registries) -> String {
    let counts = registries.request_counts();
    Ecosystem::ALL
        .iter()
        .map(|e| format!("{e} {}", counts.get(e).copied().unwrap_or(0)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A package of the pool, picked so that repositories overlap.
fn pick(repo: usize, slot: usize) -> usize {
    (repo * 7 + slot * 13) % POOL
}

fn write_repo(dir: &Path, repo: usize) {
    std::fs::create_dir_all(dir.join(".github/workflows")).unwrap();
    let mut cargo =
        String::from("[package]\nname = \"svc\"\nversion = \"0.1.0\"\n\n[dependencies]\n");
    for slot in 0..12 {
        writeln!(cargo, "crate{} = \"1.{}\"", pick(repo, slot), slot % 4).unwrap();
    }
    std::fs::write(dir.join("Cargo.toml"), cargo).unwrap();

    let npm: Vec<String> = (0..15)
        .map(|slot| format!("    \"pkg{}\": \"^1.{}.0\"", pick(repo, slot), slot % 3))
        .collect();
    let package = format!(
        "{{\n  \"name\": \"web\",\n  \"dependencies\": {{\n{}\n  }}\n}}\n",
        npm.join(",\n")
    );
    std::fs::write(dir.join("package.json"), package).unwrap();

    let mut requirements = String::new();
    for slot in 0..10 {
        writeln!(requirements, "py{}==1.{}.0", pick(repo, slot), slot % 5).unwrap();
    }
    std::fs::write(dir.join("requirements.txt"), requirements).unwrap();

    let mut gomod = String::from("module example.com/svc\n\ngo 1.22\n\nrequire (\n");
    for slot in 0..5 {
        writeln!(gomod, "\texample.com/mod{} v1.{}.0", pick(repo, slot), slot).unwrap();
    }
    gomod.push_str(")\n");
    std::fs::write(dir.join("go.mod"), gomod).unwrap();

    let mut dockerfile = String::new();
    for slot in 0..3 {
        writeln!(
            dockerfile,
            "FROM image{}:1.{}.0-alpine AS s{slot}",
            pick(repo, slot) % 20,
            slot
        )
        .unwrap();
    }
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();

    let mut workflow =
        String::from("on: push\njobs:\n  ci:\n    runs-on: ubuntu-latest\n    steps:\n");
    for slot in 0..5 {
        writeln!(
            workflow,
            "      - uses: org/action{}@v1.{}.0",
            pick(repo, slot) % 30,
            slot
        )
        .unwrap();
    }
    std::fs::write(dir.join(".github/workflows/ci.yml"), workflow).unwrap();
}

/// Versions 1.0.0 to 1.9.2 and 2.0.0, released a month apart, for every package.
fn versions() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut month = 0;
    for minor in 0..10 {
        for patch in 0..3 {
            out.push((format!("1.{minor}.{patch}"), date(month)));
            month += 1;
        }
    }
    out.push(("2.0.0".into(), date(month)));
    out
}

fn date(month: usize) -> String {
    format!("{}-{:02}-15T12:00:00Z", 2020 + month / 12, month % 12 + 1)
}

fn ok(body: String) -> ResponseTemplate {
    let etag = format!("\"{:x}\"", body.len());
    ResponseTemplate::new(200)
        .insert_header("etag", etag.as_str())
        .set_body_string(body)
}

fn not_modified_or(request: &Request, body: String) -> ResponseTemplate {
    let etag = format!("\"{:x}\"", body.len());
    if request
        .headers
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return ResponseTemplate::new(304).insert_header("etag", etag.as_str());
    }
    ok(body)
}

async fn start_double() -> MockServer {
    let server = MockServer::start().await;
    let versions = versions();
    let crates = {
        let versions = versions.clone();
        move |request: &Request| {
            let name = request
                .url
                .path()
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned();
            let lines: Vec<String> = versions
                .iter()
                .map(|(v, t)| format!(r#"{{"name":"{name}","vers":"{v}","deps":[],"cksum":"00","features":{{}},"yanked":false,"pubtime":"{t}","v":2}}"#))
                .collect();
            not_modified_or(request, lines.join("\n"))
        }
    };
    let npm = {
        let versions = versions.clone();
        move |request: &Request| {
            let entries: Vec<String> = versions
                .iter()
                .map(|(v, _)| format!(r#""{v}":{{"version":"{v}"}}"#))
                .collect();
            let times: Vec<String> = versions
                .iter()
                .map(|(v, t)| format!(r#""{v}":"{t}""#))
                .collect();
            let body = format!(
                r#"{{"dist-tags":{{"latest":"2.0.0"}},"versions":{{{}}},"time":{{{}}}}}"#,
                entries.join(","),
                times.join(",")
            );
            not_modified_or(request, body)
        }
    };
    let pypi = {
        let versions = versions.clone();
        move |request: &Request| {
            let releases: Vec<String> = versions
                .iter()
                .map(|(v, t)| format!(r#""{v}":[{{"upload_time_iso_8601":"{t}","yanked":false}}]"#))
                .collect();
            not_modified_or(
                request,
                format!(r#"{{"releases":{{{}}}}}"#, releases.join(",")),
            )
        }
    };
    let go = {
        let versions = versions.clone();
        move |request: &Request| {
            let path = request.url.path();
            if let Some(info) = path.strip_suffix(".info") {
                let version = info.rsplit('/').next().unwrap_or_default();
                let time = versions
                    .iter()
                    .find(|(v, _)| format!("v{v}") == version)
                    .map(|(_, t)| t.clone());
                return match time {
                    Some(t) => not_modified_or(
                        request,
                        format!(r#"{{"Version":"{version}","Time":"{t}"}}"#),
                    ),
                    None => ResponseTemplate::new(404),
                };
            }
            let list: Vec<String> = versions.iter().map(|(v, _)| format!("v{v}")).collect();
            not_modified_or(request, list.join("\n"))
        }
    };
    let docker = {
        let versions = versions.clone();
        move |request: &Request| {
            let tags: Vec<String> = versions
                .iter()
                .map(|(v, _)| format!("\"{v}-alpine\""))
                .collect();
            not_modified_or(
                request,
                format!(r#"{{"name":"x","tags":[{}]}}"#, tags.join(",")),
            )
        }
    };
    let github = {
        let versions = versions.clone();
        move |request: &Request| {
            let tags: Vec<String> = versions
                .iter()
                .map(|(v, _)| {
                    format!(
                        r#"{{"name":"v{v}","commit":{{"sha":"{:0>40}"}}}}"#,
                        v.replace('.', "")
                    )
                })
                .collect();
            not_modified_or(request, format!("[{}]", tags.join(",")))
        }
    };
    for (pattern, responder) in [
        (
            "^/crates/",
            Box::new(crates) as Box<dyn Fn(&Request) -> ResponseTemplate + Send + Sync>,
        ),
        ("^/npm/", Box::new(npm)),
        ("^/pypi/", Box::new(pypi)),
        ("^/go/", Box::new(go)),
        ("^/docker/", Box::new(docker)),
        ("^/github/", Box::new(github)),
    ] {
        Mock::given(method("GET"))
            .and(path_regex(pattern))
            .respond_with(move |request: &Request| responder(request))
            .mount(&server)
            .await;
    }
    server
}
