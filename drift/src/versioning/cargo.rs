//! Cargo's version grammar: SemVer versions and requirements from the `semver` crate
//! (Cargo's own), where a bare `1.2` means `^1.2`.

use semver::{Version, VersionReq};

use super::Scheme;

/// Cargo requirements and crate versions.
#[derive(Debug, Clone, Copy, Default)]
pub struct CargoVersioning;

impl Scheme for CargoVersioning {
    type Version = Version;
    type Range = VersionReq;

    fn parse(&self, raw: &str) -> Option<Version> {
        Version::parse(raw.trim()).ok()
    }

    fn range(&self, declared: &str) -> Option<VersionReq> {
        VersionReq::parse(declared.trim()).ok()
    }

    fn matches(&self, range: &VersionReq, version: &Version) -> bool {
        range.matches(version)
    }

    fn exact(&self, declared: &str) -> Option<Version> {
        let rest = declared.trim().strip_prefix('=')?;
        Version::parse(rest.trim()).ok()
    }

    fn is_stable(&self, version: &Version) -> bool {
        version.pre.is_empty()
    }

    fn parts(&self, version: &Version) -> [u64; 3] {
        [version.major, version.minor, version.patch]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_requirement_is_caret() {
        let s = CargoVersioning;
        let range = s.range("1.2").unwrap();
        assert!(s.matches(&range, &s.parse("1.9.0").unwrap()));
        assert!(!s.matches(&range, &s.parse("2.0.0").unwrap()));
        let zero = s.range("0.3").unwrap();
        assert!(!s.matches(&zero, &s.parse("0.4.0").unwrap()));
        assert_eq!(s.exact("=1.0.3").unwrap().to_string(), "1.0.3");
        assert!(s.exact("1.0.3").is_none());
    }
}
