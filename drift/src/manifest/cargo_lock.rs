//! `Cargo.lock`: the registry versions a workspace resolved, and which of them a declared
//! requirement uses.

use std::path::Path;

use toml_edit::{Document, Item};

use super::{error, line_at, LockedVersions};
use crate::model::ManifestError;

/// Parses a `Cargo.lock` (versions 1 to 4); only packages from a registry are kept.
pub fn parse(file: &Path, text: &str) -> Result<LockedVersions, ManifestError> {
    let doc = Document::parse(text).map_err(|e| {
        let line = e.span().map(|s| line_at(text, s.start));
        error(file, line, e.message().trim().to_owned())
    })?;
    let mut locked = LockedVersions::default();
    let Some(packages) = doc.as_table().get("package") else {
        return Ok(locked);
    };
    let Some(packages) = packages.as_array_of_tables() else {
        return Err(error(file, None, "`package` must be an array of tables"));
    };
    for package in packages.iter() {
        let field = |name: &str| package.get(name).and_then(Item::as_str);
        let from_registry =
            field("source").is_some_and(|s| s.starts_with("registry+") || s.starts_with("sparse+"));
        if let (Some(name), Some(version), true) = (field("name"), field("version"), from_registry)
        {
            locked.insert(name, version);
        }
    }
    Ok(locked)
}

/// The locked version a Cargo requirement resolves to: the highest locked version that
/// satisfies it, else the only one locked.
pub fn pick(declared: &str, versions: &[String]) -> Option<String> {
    let parsed: Vec<semver::Version> = versions
        .iter()
        .filter_map(|v| semver::Version::parse(v).ok())
        .collect();
    let matching = semver::VersionReq::parse(declared)
        .ok()
        .and_then(|req| parsed.iter().filter(|v| req.matches(v)).max().cloned());
    match (matching, parsed.as_slice()) {
        (Some(v), _) => Some(v.to_string()),
        (None, [only]) => Some(only.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_registry_packages_and_picks_by_requirement() {
        let text = r#"version = 4

[[package]]
name = "mine"
version = "0.1.0"

[[package]]
name = "syn"
version = "1.0.109"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "syn"
version = "2.0.87"
source = "registry+https://github.com/rust-lang/crates.io-index"
"#;
        let locked = parse(Path::new("Cargo.lock"), text).unwrap();
        assert!(locked.get("mine").is_empty());
        assert_eq!(pick("1", locked.get("syn")).as_deref(), Some("1.0.109"));
        assert_eq!(pick("2.0", locked.get("syn")).as_deref(), Some("2.0.87"));
        assert_eq!(pick("3", locked.get("syn")), None);
    }
}
