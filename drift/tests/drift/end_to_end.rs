//! End to end: scan the shop fixture repository, look everything up against the registry
//! double, and check results a Renovate user would recognise, then the summary.

use canopy_drift::{
    scan_directory, summarise, DependencyReport, Ecosystem, Outcome, Outdated, Registries,
    UpdateType,
};

use crate::support::{repo, RegistryDouble};

fn report<'a>(reports: &'a [DependencyReport], file: &str, name: &str) -> &'a DependencyReport {
    reports
        .iter()
        .find(|r| r.dependency.file.to_string_lossy() == file && r.dependency.name == name)
        .unwrap_or_else(|| panic!("{name} in {file}"))
}

fn outdated<'a>(reports: &'a [DependencyReport], file: &str, name: &str) -> &'a Outdated {
    let found = report(reports, file, name);
    found
        .outcome
        .outdated()
        .unwrap_or_else(|| panic!("{name}: {:?}", found.outcome))
}

fn short(o: &Outdated) -> (&str, Option<&str>, &str, UpdateType) {
    (
        o.current.as_str(),
        o.newest_in_range.as_deref(),
        o.newest_stable.as_str(),
        o.update_type,
    )
}

#[tokio::test]
async fn shop_repository_drift_like_renovate() {
    let double = RegistryDouble::start().await;
    let registries = Registries::new(double.settings()).unwrap();
    let scan = scan_directory(&repo("shop"));
    let reports = registries.lookup_all(&scan.dependencies).await;
    assert_eq!(reports.len(), scan.dependencies.len());

    // Cargo: locked versions; in-range updates only touch Cargo.lock.
    let serde = outdated(&reports, "Cargo.toml", "serde");
    assert_eq!(
        short(serde),
        ("1.0.190", Some("1.0.210"), "1.0.210", UpdateType::Patch)
    );
    assert!(serde.lockfile_only);
    assert_eq!(serde.versions_behind, 3, "1.0.211 is yanked");
    assert!(serde.libyears.unwrap() > 0.8);
    let tokio = outdated(&reports, "Cargo.toml", "tokio");
    assert_eq!(
        short(tokio),
        ("1.35.1", Some("1.40.0"), "1.40.0", UpdateType::Minor)
    );
    let rand = outdated(&reports, "crates/api/Cargo.toml", "rand");
    assert_eq!(
        short(rand),
        ("0.8.5", Some("0.8.5"), "0.9.0", UpdateType::Minor)
    );
    assert!(rand.breaking && !rand.lockfile_only);
    assert!(matches!(
        report(&reports, "crates/api/Cargo.toml", "anyhow").outcome,
        Outcome::UpToDate(_)
    ));
    assert!(matches!(
        report(&reports, "crates/api/Cargo.toml", "serde").outcome,
        Outcome::Skipped(_)
    ));

    // npm: the newest major, with the newest in range beside it; `latest` caps TypeScript.
    let react = outdated(&reports, "web/package.json", "react");
    assert_eq!(
        short(react),
        ("18.2.0", Some("18.3.1"), "19.0.0", UpdateType::Major)
    );
    let lodash = outdated(&reports, "web/package.json", "lodash");
    assert_eq!(
        short(lodash),
        ("4.17.20", Some("4.17.20"), "4.17.21", UpdateType::Patch)
    );
    let typescript = outdated(&reports, "web/package.json", "typescript");
    assert_eq!(
        short(typescript),
        ("5.3.3", Some("5.3.3"), "5.4.5", UpdateType::Minor)
    );
    match &report(&reports, "web/package.json", "request").outcome {
        Outcome::UpToDate(up) => assert!(up.current_deprecated.is_some()),
        other => panic!("{other:?}"),
    }

    // Python: pins, ranges (highest satisfying without a lock, as Renovate), Poetry with
    // poetry.lock.
    let requests = outdated(&reports, "ml/requirements.txt", "requests");
    assert_eq!(short(requests).3, UpdateType::Minor);
    assert_eq!(requests.newest_stable, "2.32.3");
    let django = outdated(&reports, "ml/requirements.txt", "django");
    assert_eq!(
        short(django),
        ("4.2.11", Some("4.2.11"), "5.0.6", UpdateType::Major)
    );
    let sqlalchemy = outdated(&reports, "ml/pyproject.toml", "sqlalchemy");
    assert_eq!(
        short(sqlalchemy),
        ("2.0.25", Some("2.0.30"), "2.0.30", UpdateType::Patch)
    );
    assert!(sqlalchemy.lockfile_only);

    // Go: dates from `.info` for libyears.
    let uuid = outdated(&reports, "svc/go.mod", "github.com/google/uuid");
    assert_eq!(
        short(uuid),
        ("v1.5.0", Some("v1.6.0"), "v1.6.0", UpdateType::Minor)
    );
    assert!(uuid.libyears.unwrap() > 0.1);

    // Docker: the variant and precision are kept.
    let node = outdated(&reports, "Dockerfile", "node");
    assert_eq!(
        (node.newest_stable.as_str(), node.update_type),
        ("23.0.0-alpine", UpdateType::Major)
    );
    let python = outdated(&reports, "Dockerfile", "python");
    assert_eq!(
        (python.newest_stable.as_str(), python.update_type),
        ("3.13-slim", UpdateType::Minor)
    );

    // Actions: tags keep their precision; a SHA pin gets the new tag's SHA.
    let checkout = outdated(&reports, ".github/workflows/ci.yml", "actions/checkout");
    assert_eq!(
        (checkout.newest_stable.as_str(), checkout.update_type),
        ("v4", UpdateType::Major)
    );
    let setup = outdated(&reports, ".github/workflows/ci.yml", "actions/setup-node");
    assert_eq!(
        short(setup),
        ("v4.0.2", Some("v4.0.2"), "v4.1.0", UpdateType::Minor)
    );
    assert_eq!(
        setup.newest_digest.as_deref(),
        Some("39370e3970a6d050c480ffad4ff0ed4d3fdee5af")
    );

    let summary = summarise(&reports);
    let unknown: Vec<_> = reports
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Unknown(_)))
        .collect();
    assert!(unknown.is_empty(), "{unknown:#?}");
    assert_eq!(summary.totals.unknown, 0);
    // The distroless `nonroot` tag is not a version: skipped without asking gcr.io.
    assert!(matches!(
        report(
            &reports,
            "Dockerfile",
            "gcr.io/distroless/nodejs20-debian12"
        )
        .outcome,
        Outcome::Skipped(_)
    ));
    assert_eq!(
        double.requests_to("/docker/").await,
        4,
        "node and python: 401, then the list"
    );
    assert!(summary.totals.libyears > 3.0);
    assert_eq!(
        summary.by_ecosystem[&Ecosystem::Npm].majors_behind,
        2,
        "react twice (the alias)"
    );
    let json = serde_json::to_string(&reports).unwrap();
    let back: Vec<DependencyReport> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, reports);
}
