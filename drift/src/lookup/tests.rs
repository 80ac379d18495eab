//! Lookup rule tests: ranges, locks, pre-releases, 0.x, yanked and deprecated releases,
//! the npm `latest` tag, Docker variants and action digests.

use time::macros::datetime;

use super::*;
use crate::model::DependencyKind;

fn dep(ecosystem: Ecosystem, name: &str, declared: &str) -> Dependency {
    Dependency::new(
        ecosystem,
        name,
        declared,
        "manifest",
        1,
        DependencyKind::Normal,
    )
}

fn releases(versions: &[&str]) -> Releases {
    Releases {
        versions: versions.iter().map(|v| Release::new(*v)).collect(),
        latest: None,
    }
}

fn outdated(outcome: &Outcome) -> &Outdated {
    outcome
        .outdated()
        .unwrap_or_else(|| panic!("expected outdated, got {outcome:?}"))
}

#[test]
fn range_without_lock_uses_highest_satisfying_like_renovate() {
    // Cargo's `1.0.100` is `^1.0.100`: a fresh build resolves 1.0.210, nothing to propose.
    let d = dep(Ecosystem::Cargo, "serde", "1.0.100");
    let r = releases(&["1.0.99", "1.0.100", "1.0.150", "1.0.210"]);
    match judge(&d, &r) {
        Outcome::UpToDate(up) => assert_eq!(up.current, "1.0.210"),
        other => panic!("{other:?}"),
    }

    // Only the part above the range is an update; the current version is the range's highest.
    let d = dep(Ecosystem::Pypi, "flask", ">=1.1,<2.0");
    let r = releases(&["1.1.0", "1.1.4", "2.0.0", "3.1.0"]);
    let o = judge(&d, &r);
    let o = outdated(&o);
    assert_eq!(o.current, "1.1.4");
    assert_eq!(o.newest_in_range.as_deref(), Some("1.1.4"));
    assert_eq!(o.newest_stable, "3.1.0");
    assert_eq!(o.update_type, UpdateType::Major);
    assert_eq!(o.versions_behind, 2);

    // An open range (`>=`) is up to date (Renovate proposes nothing for it).
    let d = dep(Ecosystem::Pypi, "sqlalchemy", ">=1.4.0");
    match judge(&d, &releases(&["1.4.0", "1.4.52", "2.0.30"])) {
        Outcome::UpToDate(up) => assert_eq!(up.current, "2.0.30"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn range_without_lock_skips_prerelease_deprecated_yanked_and_above_latest() {
    let d = dep(Ecosystem::Npm, "lib", "^2.0.0");
    let mut r = releases(&[
        "2.0.0",
        "2.1.0",
        "2.2.0",
        "2.3.0",
        "2.4.0",
        "2.5.0-rc.1",
        "3.0.0",
    ]);
    r.versions[3].deprecated = Some("broken".into()); // 2.3.0
    r.versions[4].yanked = true; // 2.4.0 (as if unpublished)
    r.latest = Some("2.2.0".into());
    // Not above `latest`, which also caps the proposals: nothing to propose.
    match judge(&d, &r) {
        Outcome::UpToDate(up) => assert_eq!(up.current, "2.2.0"),
        other => panic!("{other:?}"),
    }
    // Without `latest`: the deprecated 2.3.0, the yanked 2.4.0 and the pre-release are passed
    // over for the current version; the stable 3.0.0 is proposed.
    r.latest = None;
    let o = judge(&d, &r);
    let o = outdated(&o);
    assert_eq!(o.current, "2.2.0");
    assert_eq!(
        (o.newest_stable.as_str(), o.update_type),
        ("3.0.0", UpdateType::Major)
    );

    // Every satisfying release deprecated: the highest of them, as Renovate falls back.
    let d = dep(Ecosystem::Npm, "old", "^1.0.0");
    let mut r = releases(&["1.0.0", "1.1.0", "2.0.0"]);
    r.versions[0].deprecated = Some("old".into());
    r.versions[1].deprecated = Some("old".into());
    let o = judge(&d, &r);
    let o = outdated(&o);
    assert_eq!(o.current, "1.1.0");
    assert_eq!(
        (o.newest_stable.as_str(), o.update_type),
        ("2.0.0", UpdateType::Major)
    );
}

#[test]
fn locked_version_is_current_and_in_range_update_is_lockfile_only() {
    let mut d = dep(Ecosystem::Cargo, "tokio", "1");
    d.locked = Some("1.35.0".into());
    let r = releases(&["1.0.0", "1.35.0", "1.38.0", "1.40.0"]);
    let o = judge(&d, &r);
    let o = outdated(&o);
    assert_eq!(o.current, "1.35.0");
    assert_eq!(o.update_type, UpdateType::Minor);
    assert!(o.lockfile_only);
    assert_eq!(o.versions_behind, 2);
}

#[test]
fn zero_major_minor_bump_is_minor_and_breaking_like_renovate() {
    let mut d = dep(Ecosystem::Cargo, "rand", "0.8");
    d.locked = Some("0.8.5".into());
    let r = releases(&["0.8.5", "0.9.0", "0.9.1"]);
    let o = judge(&d, &r);
    let o = outdated(&o);
    assert_eq!(o.newest_in_range.as_deref(), Some("0.8.5"));
    assert_eq!(o.newest_stable, "0.9.1");
    assert_eq!(o.update_type, UpdateType::Minor);
    assert!(o.breaking);
    assert!(!o.lockfile_only);
}

#[test]
fn major_update_out_of_range() {
    let d = dep(Ecosystem::Npm, "react", "^17.0.2");
    let r = releases(&["17.0.2", "18.2.0", "18.3.1"]);
    let o = judge(&d, &r);
    let o = outdated(&o);
    assert_eq!(o.current, "17.0.2");
    assert_eq!(o.newest_in_range.as_deref(), Some("17.0.2"));
    assert_eq!(o.update_type, UpdateType::Major);
    assert!(o.breaking);
}

#[test]
fn prereleases_ignored_unless_current_is_one() {
    let d = dep(Ecosystem::Npm, "next", "14.0.0");
    let r = releases(&["14.0.0", "14.0.1", "15.0.0-rc.0"]);
    assert_eq!(outdated(&judge(&d, &r)).newest_stable, "14.0.1");

    let d = dep(Ecosystem::Npm, "next", "15.0.0-rc.0");
    let r = releases(&["14.0.1", "15.0.0-rc.0", "15.0.0-rc.1", "16.0.0-canary.1"]);
    let o = judge(&d, &r);
    assert_eq!(outdated(&o).newest_stable, "15.0.0-rc.1");
}

#[test]
fn yanked_and_deprecated_are_not_proposed_and_flag_current() {
    let mut d = dep(Ecosystem::Cargo, "time", "=0.3.20");
    d.locked = None;
    let mut r = releases(&["0.3.20", "0.3.21", "0.3.22"]);
    r.versions[0].yanked = true;
    r.versions[2].yanked = true;
    let o = judge(&d, &r);
    let o = outdated(&o);
    assert_eq!(o.newest_stable, "0.3.21");
    assert!(o.current_yanked);

    let d = dep(Ecosystem::Npm, "request", "2.88.2");
    let mut r = releases(&["2.88.2"]);
    r.versions[0].deprecated = Some("request has been deprecated".into());
    match judge(&d, &r) {
        Outcome::UpToDate(up) => assert!(up.current_deprecated.is_some()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn npm_latest_tag_caps_proposals() {
    let d = dep(Ecosystem::Npm, "typescript", "5.3.3");
    let mut r = releases(&["5.3.3", "5.4.5", "5.5.0"]);
    r.latest = Some("5.4.5".into());
    assert_eq!(outdated(&judge(&d, &r)).newest_stable, "5.4.5");
}

#[test]
fn libyears_from_release_dates() {
    let d = dep(Ecosystem::Pypi, "django", "==3.2.0");
    let mut r = releases(&["3.2.0", "5.0.0"]);
    r.versions[0].released_at = Some(datetime!(2021-04-06 00:00 UTC));
    r.versions[1].released_at = Some(datetime!(2023-12-04 00:00 UTC));
    let o = judge(&d, &r);
    let years = outdated(&o).libyears.unwrap();
    assert!((years - 2.66).abs() < 0.01, "{years}");
}

#[test]
fn pep440_ranges_and_poetry() {
    let d = dep(Ecosystem::Pypi, "requests", ">=2.28,<3");
    let r = releases(&["2.27.0", "2.28.0", "2.31.0", "2.32.3", "3.0.0b1", "3.1.0"]);
    let o = judge(&d, &r);
    let o = outdated(&o);
    assert_eq!(o.current, "2.32.3");
    assert_eq!(o.newest_stable, "3.1.0");
    assert_eq!(o.newest_in_range.as_deref(), Some("2.32.3"));

    let mut d = dep(Ecosystem::Pypi, "sqlalchemy", "^1.4.0");
    d.locked = Some("1.4.50".into());
    let r = releases(&["1.4.50", "1.4.52", "2.0.30"]);
    let o = judge(&d, &r);
    let o = outdated(&o);
    assert_eq!(o.newest_in_range.as_deref(), Some("1.4.52"));
    assert_eq!(o.update_type, UpdateType::Major);
}

#[test]
fn unspecified_without_lock_is_skipped() {
    let d = dep(Ecosystem::Pypi, "numpy", "");
    assert!(matches!(
        judge(&d, &releases(&["1.0"])),
        Outcome::Skipped(_)
    ));
}

#[test]
fn unsatisfiable_range_is_unknown() {
    let d = dep(Ecosystem::Npm, "left-pad", "^9.0.0");
    assert!(matches!(
        judge(&d, &releases(&["1.0.0"])),
        Outcome::Unknown(_)
    ));
}

#[test]
fn docker_keeps_variant_and_precision() {
    let d = dep(Ecosystem::Docker, "node", "20.11.0-alpine");
    let r = releases(&[
        "20.11.0-alpine",
        "20.12.2-alpine",
        "22.1.0-alpine",
        "22.2.0",
        "22-alpine",
        "23.0.0rc1-alpine",
    ]);
    let o = judge(&d, &r);
    let o = outdated(&o);
    assert_eq!(o.newest_stable, "22.1.0-alpine");
    assert_eq!(o.update_type, UpdateType::Major);
    assert_eq!(o.versions_behind, 2);

    let d = dep(Ecosystem::Docker, "python", "3.11");
    let r = releases(&["3.11", "3.12", "3.12.1", "3.13-slim"]);
    assert_eq!(outdated(&judge(&d, &r)).newest_stable, "3.12");

    let d = dep(Ecosystem::Docker, "gcr.io/distroless/static", "nonroot");
    assert!(matches!(
        judge(&d, &releases(&["latest"])),
        Outcome::Skipped(_)
    ));
}

#[test]
fn go_minimum_and_incompatible() {
    let d = dep(Ecosystem::Go, "golang.org/x/net", "v0.17.0");
    let r = releases(&["v0.17.0", "v0.20.0", "v0.21.0"]);
    let o = judge(&d, &r);
    let o = outdated(&o);
    assert_eq!(o.newest_stable, "v0.21.0");
    assert_eq!(o.update_type, UpdateType::Minor);
    assert!(o.breaking);
}

const PINNED: &str = "60edb5dd545a775178f52524783378180af0d1f8";
const MOVED: &str = "0ad4b8fadaa221de15dcec353f45205ec38ea70b";

fn action_tags() -> Releases {
    let tag = |name: &str, sha: &str| Release {
        digest: Some(sha.to_owned()),
        ..Release::new(name)
    };
    Releases {
        versions: vec![
            tag("v4.0.2", MOVED),
            tag("v4.0.1", PINNED),
            tag("v4", MOVED),
            tag("v3.8.2", "1111111111111111111111111111111111111111"),
        ],
        latest: None,
    }
}

#[test]
fn action_tags_keep_precision() {
    let d = dep(Ecosystem::GithubActions, "actions/setup-node", "v3");
    let o = judge(&d, &action_tags());
    let o = outdated(&o);
    assert_eq!(o.newest_stable, "v4");
    assert_eq!(o.update_type, UpdateType::Major);
}

#[test]
fn sha_pinned_action_with_comment_and_without() {
    let mut d = dep(Ecosystem::GithubActions, "actions/setup-node", "v4.0.1");
    d.digest = Some(PINNED.into());
    let o = judge(&d, &action_tags());
    let o = outdated(&o);
    assert_eq!(
        (o.current.as_str(), o.newest_stable.as_str()),
        ("v4.0.1", "v4.0.2")
    );
    assert_eq!(o.newest_digest.as_deref(), Some(MOVED));

    let mut d = dep(Ecosystem::GithubActions, "actions/setup-node", PINNED);
    d.digest = Some(PINNED.into());
    assert_eq!(outdated(&judge(&d, &action_tags())).current, "v4.0.1");

    let unknown = "2222222222222222222222222222222222222222";
    let mut d = dep(Ecosystem::GithubActions, "actions/setup-node", unknown);
    d.digest = Some(unknown.into());
    assert!(matches!(judge(&d, &action_tags()), Outcome::Unknown(_)));
}

#[test]
fn moved_tag_is_a_digest_update() {
    let mut d = dep(Ecosystem::GithubActions, "actions/setup-node", "v4.0.2");
    d.digest = Some(PINNED.into());
    let o = judge(&d, &action_tags());
    let o = outdated(&o);
    assert_eq!(o.update_type, UpdateType::Digest);
    assert_eq!(o.newest_stable, "v4.0.2");
    assert_eq!(o.newest_digest.as_deref(), Some(MOVED));
}

#[test]
fn skipped_dependencies_stay_skipped() {
    let d = dep(Ecosystem::Cargo, "local", "").skipped(SkipReason::Path);
    assert_eq!(
        judge(&d, &Releases::default()),
        Outcome::Skipped("local path dependency".into())
    );
}

#[test]
fn equal_versions_written_differently_count_once() {
    let d = dep(Ecosystem::Pypi, "attrs", "==0.9");
    let r = releases(&["0.9", "1.0", "1.0.0", "1.1"]);
    let o = judge(&d, &r);
    assert_eq!(outdated(&o).versions_behind, 2);
}
