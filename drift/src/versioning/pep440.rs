//! Python's version grammar: PEP 440 versions and specifiers from `pep440_rs`, and Poetry's
//! constraint syntax (`^1.2`, `~1.2`, bare `1.2.3`), translated to PEP 440 specifiers the way
//! Poetry defines them.

use std::str::FromStr;

use pep508_rs::pep440_rs::{Operator, Version, VersionSpecifiers};

use super::Scheme;

/// PEP 440 (and Poetry) requirements and PyPI versions.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pep440Versioning;

impl Scheme for Pep440Versioning {
    type Version = Version;
    type Range = VersionSpecifiers;

    fn parse(&self, raw: &str) -> Option<Version> {
        Version::from_str(raw.trim()).ok()
    }

    fn range(&self, declared: &str) -> Option<VersionSpecifiers> {
        let declared = declared.trim();
        VersionSpecifiers::from_str(declared)
            .ok()
            .or_else(|| VersionSpecifiers::from_str(&poetry_to_pep440(declared)?).ok())
    }

    fn matches(&self, range: &VersionSpecifiers, version: &Version) -> bool {
        range.contains(version)
    }

    fn exact(&self, declared: &str) -> Option<Version> {
        let range = self.range(declared)?;
        match range.iter().collect::<Vec<_>>().as_slice() {
            [only] if matches!(only.operator(), Operator::Equal | Operator::ExactEqual) => {
                Some(only.version().clone())
            }
            _ => None,
        }
    }

    fn is_stable(&self, version: &Version) -> bool {
        !version.any_prerelease()
    }

    fn parts(&self, version: &Version) -> [u64; 3] {
        let release = version.release();
        let part = |i: usize| release.get(i).copied().unwrap_or(0);
        [part(0), part(1), part(2)]
    }
}

/// Poetry's constraint syntax as PEP 440 specifiers; `None` for what it cannot translate.
pub fn poetry_to_pep440(constraint: &str) -> Option<String> {
    if constraint.contains("||") {
        return None;
    }
    let parts: Option<Vec<String>> = constraint
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(poetry_part)
        .collect();
    Some(parts?.join(", "))
}

fn poetry_part(part: &str) -> Option<String> {
    if part == "*" {
        return Some(">=0".to_owned());
    }
    if let Some(version) = part.strip_prefix('^') {
        let numbers = release_numbers(version)?;
        // The first non-zero part is the one that may not change (all zero: the last given).
        let keep = numbers
            .iter()
            .position(|n| *n != 0)
            .unwrap_or(numbers.len().saturating_sub(1));
        return Some(format!(">={}, <{}", version.trim(), bump(&numbers, keep)));
    }
    if let Some(version) = part.strip_prefix('~').filter(|v| !v.starts_with('=')) {
        let numbers = release_numbers(version)?;
        let keep = if numbers.len() == 1 { 0 } else { 1 };
        return Some(format!(">={}, <{}", version.trim(), bump(&numbers, keep)));
    }
    if part.starts_with(|c: char| c.is_ascii_digit()) {
        return Some(format!("=={part}"));
    }
    Some(part.to_owned())
}

fn release_numbers(version: &str) -> Option<Vec<u64>> {
    let release = version
        .trim()
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()?;
    release.split('.').map(|n| n.parse().ok()).collect()
}

/// `numbers[..=index]` with the last one incremented, e.g. `[1, 2, 3]`, 0 → `2`.
fn bump(numbers: &[u64], index: usize) -> String {
    let mut kept: Vec<u64> = numbers.iter().take(index + 1).copied().collect();
    if let Some(last) = kept.last_mut() {
        *last += 1;
    }
    kept.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poetry_constraints_translate() {
        assert_eq!(poetry_to_pep440("^1.2.3").unwrap(), ">=1.2.3, <2");
        assert_eq!(poetry_to_pep440("^0.2.3").unwrap(), ">=0.2.3, <0.3");
        assert_eq!(poetry_to_pep440("^0.0.3").unwrap(), ">=0.0.3, <0.0.4");
        assert_eq!(poetry_to_pep440("~1.2.3").unwrap(), ">=1.2.3, <1.3");
        assert_eq!(poetry_to_pep440("~1").unwrap(), ">=1, <2");
        assert_eq!(poetry_to_pep440("1.2.3").unwrap(), "==1.2.3");
        assert_eq!(poetry_to_pep440(">=1.2,<2").unwrap(), ">=1.2, <2");
    }

    #[test]
    fn specifiers_pins_and_prereleases() {
        let s = Pep440Versioning;
        let compatible = s.range("~=2.31").unwrap();
        assert!(s.matches(&compatible, &s.parse("2.32.3").unwrap()));
        assert!(!s.matches(&compatible, &s.parse("3.0").unwrap()));
        let poetry = s.range("^2.0.25").unwrap();
        assert!(s.matches(&poetry, &s.parse("2.0.30").unwrap()));
        assert_eq!(s.exact("==2.31.0").unwrap().to_string(), "2.31.0");
        assert_eq!(s.exact("24.1.1").unwrap().to_string(), "24.1.1");
        assert!(s.exact(">=2").is_none());
        assert!(!s.is_stable(&s.parse("3.0.0b1").unwrap()));
        assert!(s.is_stable(&s.parse("3.0.0.post1").unwrap()));
        assert_eq!(s.parts(&s.parse("2024.1").unwrap()), [2024, 1, 0]);
    }
}
