//! Go module versions: SemVer with a `v` prefix, `+incompatible` for v2+ modules without a
//! `/vN` path. A go.mod requirement is a minimum (MVS): any later version of the same major
//! satisfies it.

use semver::Version;

use super::Scheme;

/// Go module versions.
#[derive(Debug, Clone, Copy, Default)]
pub struct GoVersioning;

/// A Go module version; displays with its `v` prefix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GoVersion(pub Version);

impl std::fmt::Display for GoVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "v{}", self.0)
    }
}

impl Scheme for GoVersioning {
    type Version = GoVersion;
    /// The minimum version; the range is "this major, at least this".
    type Range = GoVersion;

    fn parse(&self, raw: &str) -> Option<GoVersion> {
        let bare = raw.trim().strip_prefix('v')?;
        Version::parse(bare).ok().map(GoVersion)
    }

    fn range(&self, declared: &str) -> Option<GoVersion> {
        self.parse(declared)
    }

    fn matches(&self, minimum: &GoVersion, version: &GoVersion) -> bool {
        version.0.major == minimum.0.major && version >= minimum
    }

    fn exact(&self, declared: &str) -> Option<GoVersion> {
        self.parse(declared)
    }

    fn is_stable(&self, version: &GoVersion) -> bool {
        version.0.pre.is_empty()
    }

    fn parts(&self, version: &GoVersion) -> [u64; 3] {
        [version.0.major, version.0.minor, version.0.patch]
    }

    fn is_compatible(&self, current: &GoVersion, candidate: &GoVersion) -> bool {
        // A `+incompatible` v2+ never replaces a module that has left them behind, and back.
        current.0.build.is_empty() == candidate.0.build.is_empty()
            || current.0.major == candidate.0.major
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v_prefix_and_incompatible() {
        let s = GoVersioning;
        let v = s.parse("v2.0.1+incompatible").unwrap();
        assert_eq!(v.to_string(), "v2.0.1+incompatible");
        assert!(s.parse("1.2.3").is_none());
        let min = s.range("v0.17.0").unwrap();
        assert!(s.matches(&min, &s.parse("v0.21.0").unwrap()));
        assert!(!s.matches(&min, &s.parse("v1.0.0").unwrap()));
    }
}
