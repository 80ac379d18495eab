//! Version grammars per ecosystem, behind one small trait the lookup rules are written
//! against: parse a version, tell stable from pre-release, read a declared range, and say
//! which versions may replace which (Renovate's "versioning" modules play this part).

pub mod cargo;
pub mod go;
pub mod npm;
pub mod pep440;
pub mod tag;

/// A version grammar.
pub trait Scheme {
    type Version: Ord + Clone + std::fmt::Display;
    type Range;

    /// A version as a registry or lockfile writes it.
    fn parse(&self, raw: &str) -> Option<Self::Version>;

    /// The declared value as a range (`None` when it is not one this grammar reads).
    fn range(&self, declared: &str) -> Option<Self::Range>;

    /// Whether `version` satisfies `range`.
    fn matches(&self, range: &Self::Range, version: &Self::Version) -> bool;

    /// The one version the declared value pins, when it pins one (`=1.2.3`, `==2.31.0`,
    /// `1.2.3` in npm, a Docker tag).
    fn exact(&self, declared: &str) -> Option<Self::Version>;

    /// Whether the declared value accepts anything (`*`, empty): with no lockfile there is
    /// then no current version.
    fn is_unbounded(&self, declared: &str) -> bool {
        matches!(declared.trim(), "" | "*" | "x" | "X" | "latest")
    }

    /// A release, not a pre-release (`-rc.1`, `b1`, `.dev0`).
    fn is_stable(&self, version: &Self::Version) -> bool;

    /// Major, minor and patch, for the update type (missing parts are 0).
    fn parts(&self, version: &Self::Version) -> [u64; 3];

    /// Whether `candidate` may replace `current` at all (Docker: same suffix and precision).
    fn is_compatible(&self, _current: &Self::Version, _candidate: &Self::Version) -> bool {
        true
    }
}

/// Renovate's `isBreaking` for semver-like grammars: a change of major, or of minor below
/// 1.0, or any change below 0.1.
pub fn is_breaking(current: [u64; 3], new: [u64; 3]) -> bool {
    match current {
        [0, 0, _] => current != new,
        [0, minor, _] => new[0] != 0 || new[1] != minor,
        [major, _, _] => new[0] != major,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaking_follows_zero_major_rules() {
        assert!(is_breaking([1, 2, 3], [2, 0, 0]));
        assert!(!is_breaking([1, 2, 3], [1, 9, 0]));
        assert!(is_breaking([0, 2, 3], [0, 3, 0]));
        assert!(!is_breaking([0, 2, 3], [0, 2, 9]));
        assert!(is_breaking([0, 0, 3], [0, 0, 4]));
    }
}
