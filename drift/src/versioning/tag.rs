//! Tag versions for Docker images and GitHub Actions, after Renovate's `docker` versioning:
//! a dotted number (optionally `v`-prefixed), letters right after it mark a pre-release
//! (`3.13.0rc1`), and everything after the first `-` is a variant suffix (`-alpine`,
//! `-bookworm-slim`). A tag may only be replaced by one with the same prefix, suffix and
//! number of parts (`node:20` by `node:22`, `node:20.11.0-alpine` by `node:20.12.2-alpine`).
//! No crate implements this grammar, so it is written here.

use std::cmp::Ordering;
use std::fmt;

use super::Scheme;

/// Docker tags and action refs.
#[derive(Debug, Clone, Copy, Default)]
pub struct TagVersioning;

/// A parsed tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagVersion {
    raw: String,
    prefix: bool,
    release: Vec<u64>,
    prerelease: String,
    suffix: String,
}

impl TagVersion {
    /// Parses a tag; `None` for tags that are not versions (`latest`, `nonroot`, `main`).
    pub fn parse(raw: &str) -> Option<TagVersion> {
        let raw = raw.trim();
        let (prefix, rest) = match raw.strip_prefix('v') {
            Some(rest) => (true, rest),
            None => (false, raw),
        };
        let (head, suffix) = rest.split_once('-').unwrap_or((rest, ""));
        let numbers_end = head
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(head.len());
        let (numbers, prerelease) = head.split_at(numbers_end);
        if numbers.is_empty() || numbers.ends_with('.') || numbers.starts_with('.') {
            return None;
        }
        if !prerelease
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return None;
        }
        let release: Option<Vec<u64>> = numbers.split('.').map(|n| n.parse().ok()).collect();
        Some(TagVersion {
            raw: raw.to_owned(),
            prefix,
            release: release?,
            prerelease: prerelease.to_owned(),
            suffix: suffix.to_owned(),
        })
    }
}

impl fmt::Display for TagVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl Ord for TagVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        for i in 0..self.release.len().max(other.release.len()) {
            match (self.release.get(i), other.release.get(i)) {
                // Renovate: the shorter tag is the greater (`2.1` after `2.1.1`).
                (None, Some(_)) => return Ordering::Greater,
                (Some(_), None) => return Ordering::Less,
                (Some(a), Some(b)) if a != b => return a.cmp(b),
                _ => {}
            }
        }
        let pre = match (self.prerelease.is_empty(), other.prerelease.is_empty()) {
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            _ => self.prerelease.cmp(&other.prerelease),
        };
        pre.then_with(|| self.suffix.cmp(&other.suffix))
            .then_with(|| self.raw.cmp(&other.raw))
    }
}

impl PartialOrd for TagVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Scheme for TagVersioning {
    type Version = TagVersion;
    /// A tag pins itself: the "range" is the tag.
    type Range = TagVersion;

    fn parse(&self, raw: &str) -> Option<TagVersion> {
        TagVersion::parse(raw)
    }

    fn range(&self, declared: &str) -> Option<TagVersion> {
        TagVersion::parse(declared)
    }

    fn matches(&self, range: &TagVersion, version: &TagVersion) -> bool {
        range == version
    }

    fn exact(&self, declared: &str) -> Option<TagVersion> {
        TagVersion::parse(declared)
    }

    fn is_stable(&self, version: &TagVersion) -> bool {
        version.prerelease.is_empty()
    }

    fn parts(&self, version: &TagVersion) -> [u64; 3] {
        let part = |i: usize| version.release.get(i).copied().unwrap_or(0);
        [part(0), part(1), part(2)]
    }

    fn is_compatible(&self, current: &TagVersion, candidate: &TagVersion) -> bool {
        current.prefix == candidate.prefix
            && current.suffix == candidate.suffix
            && current.release.len() == candidate.release.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(raw: &str) -> TagVersion {
        TagVersion::parse(raw).unwrap()
    }

    #[test]
    fn parses_variants_and_prereleases() {
        let s = TagVersioning;
        assert!(TagVersion::parse("latest").is_none());
        assert!(TagVersion::parse("nonroot").is_none());
        assert!(!s.is_stable(&tag("3.13.0rc1")));
        assert!(s.is_stable(&tag("3.12.1-slim-bookworm")));
        assert!(s.is_compatible(&tag("20.11.0-alpine"), &tag("20.12.2-alpine")));
        assert!(!s.is_compatible(&tag("20.11.0-alpine"), &tag("20.12.2")));
        assert!(!s.is_compatible(&tag("20"), &tag("20.12.2")));
        assert!(s.is_compatible(&tag("v4"), &tag("v5")));
        assert!(!s.is_compatible(&tag("v4"), &tag("4")));
    }

    #[test]
    fn orders_numerically() {
        assert!(tag("1.10.0") > tag("1.9.3"));
        assert!(tag("3.13.0") > tag("3.13.0rc1"));
        assert!(tag("2.1") > tag("2.1.1"));
        assert!(tag("v10") > tag("v9"));
    }
}
