//! The lookup rules: given a dependency and what its registry knows, the current version,
//! the newest versions, the update type, versions behind, libyears and flags, following
//! Renovate's lookup (see `docs/DRIFT.md` for each rule and where Canopy differs).

use crate::datasource::{Release, Releases};
use crate::manifest::actions::is_commit_sha;
use crate::model::{Dependency, Ecosystem, SkipReason};
use crate::report::{Outcome, Outdated, UpToDate, UpdateType};
use crate::versioning::{
    cargo::CargoVersioning, go::GoVersioning, is_breaking, npm::NpmVersioning,
    pep440::Pep440Versioning, tag::TagVersioning, Scheme,
};

const SECONDS_PER_YEAR: f64 = 365.25 * 24.0 * 3600.0;

/// Judges one dependency against its releases.
pub fn judge(dependency: &Dependency, releases: &Releases) -> Outcome {
    if let Some(reason) = &dependency.skip_reason {
        return Outcome::Skipped(reason.to_string());
    }
    match dependency.ecosystem {
        Ecosystem::Cargo => Judge::new(CargoVersioning, dependency, releases).run(None),
        Ecosystem::Npm => Judge::new(NpmVersioning, dependency, releases).run(None),
        Ecosystem::Pypi => Judge::new(Pep440Versioning, dependency, releases).run(None),
        Ecosystem::Go => Judge::new(GoVersioning, dependency, releases).run(None),
        Ecosystem::Docker => Judge::new(TagVersioning, dependency, releases)
            .lenient()
            .run(None),
        Ecosystem::GithubActions => judge_action(dependency, releases),
    }
}

/// Actions pinned to a commit: the version is the pin comment's, or the tag that points to
/// the commit; a tag that moved away from the pinned commit is a digest update.
fn judge_action(dependency: &Dependency, releases: &Releases) -> Outcome {
    let judge = Judge::new(TagVersioning, dependency, releases).lenient();
    let Some(pinned) = dependency.digest.as_deref() else {
        return judge.run(None);
    };
    let current = if is_commit_sha(&dependency.declared) {
        let tagged = releases
            .versions
            .iter()
            .filter(|r| r.digest.as_deref() == Some(pinned))
            .filter_map(|r| TagVersioning.parse(&r.version))
            .max_by_key(|v| (TagVersioning.parts(v), v.to_string().len()));
        match tagged {
            Some(tag) => tag.to_string(),
            None => return Outcome::Unknown(format!("commit {pinned} is not a tagged release")),
        }
    } else {
        dependency.declared.clone()
    };
    let outcome = judge.run(Some(&current));
    let digest_of = |version: &str| {
        releases
            .versions
            .iter()
            .find(|r| r.version == version)
            .and_then(|r| r.digest.clone())
    };
    match outcome {
        Outcome::UpToDate(up) => match digest_of(&up.current) {
            Some(digest) if digest != pinned => Outcome::Outdated(Outdated {
                newest_in_range: Some(up.current.clone()),
                newest_stable: up.current.clone(),
                update_type: UpdateType::Digest,
                lockfile_only: false,
                breaking: false,
                versions_behind: 0,
                libyears: None,
                newest_released_at: up.current_released_at,
                current_released_at: up.current_released_at,
                current_yanked: up.current_yanked,
                current_deprecated: up.current_deprecated,
                newest_digest: Some(digest),
                current: up.current,
            }),
            _ => Outcome::UpToDate(up),
        },
        Outcome::Outdated(mut outdated) => {
            outdated.newest_digest = digest_of(&outdated.newest_stable);
            Outcome::Outdated(outdated)
        }
        other => other,
    }
}

struct Judge<'a, S: Scheme> {
    scheme: S,
    dependency: &'a Dependency,
    releases: &'a Releases,
    /// Docker tags and action refs that are not versions are skipped, not unknown.
    lenient: bool,
}

impl<'a, S: Scheme> Judge<'a, S> {
    fn new(scheme: S, dependency: &'a Dependency, releases: &'a Releases) -> Self {
        Judge {
            scheme,
            dependency,
            releases,
            lenient: false,
        }
    }

    fn lenient(mut self) -> Self {
        self.lenient = true;
        self
    }

    fn not_a_version(&self, raw: &str) -> Outcome {
        if self.lenient {
            Outcome::Skipped(SkipReason::NotAVersion(raw.to_owned()).to_string())
        } else {
            Outcome::Unknown(format!(
                "`{raw}` is not a {} version or range",
                self.dependency.ecosystem
            ))
        }
    }

    fn run(&self, current_override: Option<&str>) -> Outcome {
        let s = &self.scheme;
        let dep = self.dependency;
        let parsed: Vec<(S::Version, &Release)> = self
            .releases
            .versions
            .iter()
            .filter_map(|r| s.parse(&r.version).map(|v| (v, r)))
            .collect();

        let current = match self.current(&parsed, current_override) {
            Ok(current) => current,
            Err(outcome) => return *outcome,
        };
        let current_release = parsed.iter().find(|(v, _)| *v == current).map(|(_, r)| *r);
        let candidates = self.candidates(&parsed, &current);
        let current_yanked = current_release.is_some_and(|r| r.yanked);
        let current_deprecated = current_release.and_then(|r| r.deprecated.clone());
        let current_released_at = current_release.and_then(|r| r.released_at);

        let Some((newest, newest_release)) = candidates.iter().max_by(|a, b| a.0.cmp(&b.0)) else {
            return Outcome::UpToDate(UpToDate {
                current: current.to_string(),
                current_released_at,
                current_yanked,
                current_deprecated,
            });
        };
        let range = s.range(&dep.declared);
        let newest_in_range = range.as_ref().and_then(|range| {
            candidates
                .iter()
                .map(|(v, _)| v)
                .chain(std::iter::once(&current))
                .filter(|v| s.matches(range, v))
                .max()
                .map(ToString::to_string)
        });
        let (from, to) = (s.parts(&current), s.parts(newest));
        let update_type = if from[0] != to[0] {
            UpdateType::Major
        } else if from[1] != to[1] {
            UpdateType::Minor
        } else {
            UpdateType::Patch
        };
        let lockfile_only =
            dep.locked.is_some() && range.as_ref().is_some_and(|range| s.matches(range, newest));
        let libyears = match (current_released_at, newest_release.released_at) {
            (Some(from), Some(to)) => {
                Some(((to - from).as_seconds_f64() / SECONDS_PER_YEAR).max(0.0))
            }
            _ => None,
        };
        Outcome::Outdated(Outdated {
            current: current.to_string(),
            newest_in_range,
            newest_stable: newest.to_string(),
            update_type,
            lockfile_only,
            breaking: is_breaking(from, to),
            versions_behind: u32::try_from(candidates.len()).unwrap_or(u32::MAX),
            libyears,
            current_released_at,
            newest_released_at: newest_release.released_at,
            current_yanked,
            current_deprecated,
            newest_digest: None,
        })
    }

    /// Locked, else pinned, else the highest non-yanked release the range allows (stable
    /// first, not deprecated first, not above `latest`).
    fn current(
        &self,
        parsed: &[(S::Version, &Release)],
        current_override: Option<&str>,
    ) -> Result<S::Version, Box<Outcome>> {
        let s = &self.scheme;
        let dep = self.dependency;
        if let Some(raw) = current_override.or(dep.locked.as_deref()) {
            return s
                .parse(raw)
                .ok_or_else(|| Box::new(self.not_a_version(raw)));
        }
        if let Some(exact) = s.exact(&dep.declared) {
            return Ok(exact);
        }
        if s.is_unbounded(&dep.declared) {
            return Err(Box::new(Outcome::Skipped(
                SkipReason::UnspecifiedVersion.to_string(),
            )));
        }
        let Some(range) = s.range(&dep.declared) else {
            return Err(Box::new(self.not_a_version(&dep.declared)));
        };
        // Renovate's `getCurrentVersion` under its default range strategies: the highest
        // release the range allows (what a fresh install resolves to), not above `latest` when
        // `latest` is in the range; releases that are neither yanked nor deprecated first.
        let latest = self.releases.latest.as_deref().and_then(|l| s.parse(l));
        let highest = |usable: &dyn Fn(&Release) -> bool| {
            let satisfying: Vec<&S::Version> = parsed
                .iter()
                .filter(|(v, r)| usable(r) && s.matches(&range, v))
                .map(|(v, _)| v)
                .collect();
            let cap = latest.as_ref().filter(|l| s.matches(&range, l));
            let allowed = |v: &&&S::Version| cap.is_none_or(|l| **v <= l);
            let highest_stable = satisfying
                .iter()
                .filter(|v| s.is_stable(v))
                .filter(allowed)
                .max();
            highest_stable
                .or_else(|| satisfying.iter().filter(allowed).max())
                .map(|v| (*v).clone())
        };
        highest(&|r| !r.yanked && r.deprecated.is_none())
            .or_else(|| highest(&|r| !r.yanked))
            .ok_or_else(|| {
                Box::new(Outcome::Unknown(format!(
                    "no release satisfies `{}`",
                    dep.declared
                )))
            })
    }

    /// Releases that may replace `current`: newer, not yanked or deprecated, compatible,
    /// stable unless `current` is a pre-release of the same major.minor.patch, and not above
    /// the `latest` tag when the registry has one.
    fn candidates<'r>(
        &self,
        parsed: &'r [(S::Version, &'r Release)],
        current: &S::Version,
    ) -> Vec<&'r (S::Version, &'r Release)> {
        let s = &self.scheme;
        let current_stable = s.is_stable(current);
        let latest = self
            .releases
            .latest
            .as_deref()
            .and_then(|l| s.parse(l))
            .filter(|l| l >= current);
        let mut out: Vec<&'r (S::Version, &'r Release)> = parsed
            .iter()
            .filter(|(version, release)| {
                version > current
                    && !release.yanked
                    && release.deprecated.is_none()
                    && s.is_compatible(current, version)
                    && (s.is_stable(version)
                        || (!current_stable && s.parts(version) == s.parts(current)))
                    && latest.as_ref().is_none_or(|l| version <= l)
            })
            .collect();
        // Equal versions written differently (`1.0` and `1.0.0` in PEP 440) count once.
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.dedup_by(|a, b| a.0 == b.0);
        out
    }
}

#[cfg(test)]
mod tests;
