//! Parsers on realistic fixture repositories: every manifest kind, lockfiles, workspaces,
//! skipped directories, and malformed files that name their file and line while the rest of
//! the repository is still scanned.

use std::path::Path;

use canopy_drift::{scan_directory, Dependency, DependencyKind, Ecosystem, SkipReason};

use crate::support::repo;

fn find<'a>(deps: &'a [Dependency], file: &str, name: &str) -> &'a Dependency {
    deps.iter()
        .find(|d| d.file == Path::new(file) && d.name == name)
        .unwrap_or_else(|| panic!("{name} in {file} not found in {deps:#?}"))
}

#[test]
fn shop_repository_scans_every_ecosystem() {
    let scan = scan_directory(&repo("shop"));
    assert!(scan.errors.is_empty(), "{:#?}", scan.errors);
    let deps = &scan.dependencies;
    for ecosystem in Ecosystem::ALL {
        assert!(deps.iter().any(|d| d.ecosystem == ecosystem), "{ecosystem}");
    }
    // Skipped directories: build output, installed packages, vendored code.
    assert!(deps.iter().all(|d| d.name != "junk"), "{deps:#?}");
}

#[test]
fn cargo_workspace_inheritance_locks_and_skips() {
    let deps = scan_directory(&repo("shop")).dependencies;
    let root_serde = find(&deps, "Cargo.toml", "serde");
    assert_eq!(
        (root_serde.declared.as_str(), root_serde.line),
        ("1.0.190", 9)
    );
    assert_eq!(root_serde.locked.as_deref(), Some("1.0.190"));
    assert_eq!(root_serde.skip_reason, None);

    let inherited = find(&deps, "crates/api/Cargo.toml", "serde");
    assert_eq!(
        inherited.skip_reason,
        Some(SkipReason::InheritedFromWorkspace)
    );
    assert_eq!(
        (inherited.declared.as_str(), inherited.line),
        ("1.0.190", 7)
    );

    let root_core = find(&deps, "Cargo.toml", "shop-core");
    assert_eq!(root_core.skip_reason, Some(SkipReason::Path));
    let git = find(&deps, "crates/api/Cargo.toml", "patched");
    assert_eq!(
        (git.skip_reason.clone(), git.line),
        (Some(SkipReason::Git), 12)
    );

    let anyhow = find(&deps, "crates/api/Cargo.toml", "anyhow");
    assert_eq!(anyhow.locked.as_deref(), Some("1.0.86"));
    let syn = find(&deps, "crates/api/Cargo.toml", "syn");
    assert_eq!(syn.condition.as_deref(), Some("cfg(unix)"));
    assert_eq!(syn.line, 15);

    let dev_tokio = deps
        .iter()
        .find(|d| d.file == Path::new("crates/core/Cargo.toml") && d.kind == DependencyKind::Dev)
        .unwrap();
    assert_eq!(dev_tokio.name, "tokio");
    assert_eq!(dev_tokio.declared, "1.35");
}

#[test]
fn npm_package_and_lock() {
    let deps = scan_directory(&repo("shop")).dependencies;
    let react = find(&deps, "web/package.json", "react");
    assert_eq!((react.declared.as_str(), react.line), ("^18.2.0", 10));
    assert_eq!(react.locked.as_deref(), Some("18.2.0"));
    let lodash = find(&deps, "web/package.json", "lodash");
    assert_eq!(lodash.locked.as_deref(), Some("4.17.20"));
    let typescript = find(&deps, "web/package.json", "typescript");
    assert_eq!(
        (typescript.kind, typescript.line),
        (DependencyKind::Dev, 17)
    );
    assert_eq!(
        find(&deps, "web/package.json", "design-system").skip_reason,
        Some(SkipReason::Path)
    );
    assert_eq!(
        find(&deps, "web/package.json", "shop-shared").skip_reason,
        Some(SkipReason::WorkspacePackage)
    );
    // The alias is looked up under the real name.
    let alias = deps
        .iter()
        .find(|d| d.file == Path::new("web/package.json") && d.line == 18)
        .unwrap();
    assert_eq!(
        (alias.name.as_str(), alias.declared.as_str()),
        ("react", "^17.0.2")
    );
}

#[test]
fn python_requirements_pyproject_and_poetry_lock() {
    let deps = scan_directory(&repo("shop")).dependencies;
    let requests = find(&deps, "ml/requirements.txt", "requests");
    assert_eq!((requests.declared.as_str(), requests.line), ("==2.31.0", 5));
    let django = find(&deps, "ml/requirements.txt", "django");
    assert_eq!((django.declared.as_str(), django.line), (">=4.2, <5", 7));
    let flask = find(&deps, "ml/requirements.txt", "flask");
    assert_eq!(flask.extras, vec!["async"]);
    assert!(flask.condition.as_deref().unwrap().contains("python"));
    assert_eq!(
        find(&deps, "ml/requirements.txt", "internal-tools").skip_reason,
        Some(SkipReason::Git)
    );
    assert_eq!(
        deps.iter()
            .filter(|d| d.file == Path::new("ml/requirements.txt"))
            .count(),
        4
    );

    let sqlalchemy = find(&deps, "ml/pyproject.toml", "sqlalchemy");
    assert_eq!(sqlalchemy.declared, "^2.0.25");
    assert_eq!(sqlalchemy.locked.as_deref(), Some("2.0.25"));
    assert_eq!(sqlalchemy.extras, vec!["asyncio"]);
    let black = find(&deps, "ml/pyproject.toml", "black");
    assert_eq!((black.kind, black.line), (DependencyKind::Dev, 13));
    assert_eq!(
        find(&deps, "ml/pyproject.toml", "shop-ml-utils").skip_reason,
        Some(SkipReason::Path)
    );
}

#[test]
fn go_dockerfile_and_actions() {
    let deps = scan_directory(&repo("shop")).dependencies;
    let uuid = find(&deps, "svc/go.mod", "github.com/google/uuid");
    assert_eq!((uuid.declared.as_str(), uuid.line), ("v1.5.0", 7));
    let net = find(&deps, "svc/go.mod", "golang.org/x/net");
    assert_eq!(net.kind, DependencyKind::Indirect);
    assert_eq!(
        find(&deps, "svc/go.mod", "github.com/example/unreleased").skip_reason,
        Some(SkipReason::PseudoVersion)
    );

    let node = find(&deps, "Dockerfile", "node");
    assert_eq!((node.declared.as_str(), node.line), ("20.11.0-alpine", 4));
    let stage = find(&deps, "Dockerfile", "web");
    assert_eq!(
        (stage.skip_reason.clone(), stage.line),
        (Some(SkipReason::BuildStage), 12)
    );
    let distroless = find(&deps, "Dockerfile", "gcr.io/distroless/nodejs20-debian12");
    assert!(distroless.digest.as_deref().unwrap().starts_with("sha256:"));

    let workflow = ".github/workflows/ci.yml";
    assert_eq!(find(&deps, workflow, "actions/checkout").declared, "v3");
    let setup = find(&deps, workflow, "actions/setup-node");
    assert_eq!((setup.declared.as_str(), setup.line), ("v4.0.2", 13));
    assert_eq!(
        setup.digest.as_deref(),
        Some("60edb5dd545a775178f52524783378180af0d1f8")
    );
    assert_eq!(
        find(&deps, workflow, "./.github/actions/cache-deps").skip_reason,
        Some(SkipReason::Path)
    );
    assert_eq!(
        find(&deps, workflow, "docker://hadolint/hadolint:v2.12.0").skip_reason,
        Some(SkipReason::DockerReference)
    );
}

#[test]
fn malformed_files_name_file_and_line_and_the_rest_is_scanned() {
    let scan = scan_directory(&repo("broken"));
    let mut errors: Vec<(String, Option<u32>)> = scan
        .errors
        .iter()
        .map(|e| (e.file.to_string_lossy().into_owned(), e.line))
        .collect();
    errors.sort();
    assert_eq!(
        errors,
        vec![
            (".github/workflows/ci.yml".to_owned(), Some(5)),
            ("Cargo.toml".to_owned(), Some(6)),
            ("app/package.json".to_owned(), Some(7)),
            ("app/requirements.txt".to_owned(), Some(2)),
        ],
        "{:#?}",
        scan.errors
    );
    assert!(scan.errors.iter().all(|e| !e.message.is_empty()));
    let node = find(&scan.dependencies, "Dockerfile", "node");
    assert_eq!(node.declared, "20.11.0-alpine");
}
