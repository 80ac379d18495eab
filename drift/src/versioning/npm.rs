//! npm's version grammar: node-semver versions and ranges (`^`, `~`, `x`, hyphen ranges,
//! `||`) from the `nodejs-semver` crate; a bare version pins exactly.

use nodejs_semver::{Range, Version};

use super::Scheme;

/// npm ranges and package versions.
#[derive(Debug, Clone, Copy, Default)]
pub struct NpmVersioning;

impl Scheme for NpmVersioning {
    type Version = Version;
    type Range = Range;

    fn parse(&self, raw: &str) -> Option<Version> {
        Version::parse(raw.trim()).ok()
    }

    fn range(&self, declared: &str) -> Option<Range> {
        Range::parse(declared.trim()).ok()
    }

    fn matches(&self, range: &Range, version: &Version) -> bool {
        range.satisfies(version)
    }

    fn exact(&self, declared: &str) -> Option<Version> {
        let declared = declared.trim();
        let bare = declared.strip_prefix('=').unwrap_or(declared).trim();
        if bare.starts_with(|c: char| c.is_ascii_digit() || c == 'v')
            && bare.split('.').count() == 3
        {
            Version::parse(bare).ok()
        } else {
            None
        }
    }

    fn is_stable(&self, version: &Version) -> bool {
        !version.is_prerelease()
    }

    fn parts(&self, version: &Version) -> [u64; 3] {
        [version.major(), version.minor(), version.patch()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_pins() {
        let s = NpmVersioning;
        let caret = s.range("^18.2.0").unwrap();
        assert!(s.matches(&caret, &s.parse("18.3.1").unwrap()));
        assert!(!s.matches(&caret, &s.parse("19.0.0").unwrap()));
        assert!(!s.matches(&caret, &s.parse("18.3.0-rc.1").unwrap()));
        let either = s.range("^1.0.0 || ^2.0.0").unwrap();
        assert!(s.matches(&either, &s.parse("2.5.0").unwrap()));
        assert_eq!(s.exact("4.17.21").unwrap().to_string(), "4.17.21");
        assert!(s.exact("~4.17.21").is_none());
        assert!(s.exact("4.17").is_none());
    }
}
