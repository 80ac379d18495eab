//! `poetry.lock` and `uv.lock`: both are TOML with `[[package]]` tables holding `name` and
//! `version`; names are normalised (PEP 503).

use std::path::Path;

use toml_edit::{Document, Item};

use super::{error, line_at, pyproject::normalise, LockedVersions};
use crate::model::ManifestError;

/// Parses a `poetry.lock` or `uv.lock`.
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
        // uv marks the project itself and workspace members with an editable/virtual source.
        let local = package
            .get("source")
            .and_then(Item::as_table_like)
            .is_some_and(|s| s.contains_key("editable") || s.contains_key("virtual"));
        if let (Some(name), Some(version), false) = (field("name"), field("version"), local) {
            locked.insert(normalise(name), version);
        }
    }
    Ok(locked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_uv_lock_without_the_project() {
        let text = r#"version = 1
requires-python = ">=3.11"

[[package]]
name = "svc"
version = "0.1.0"
source = { editable = "." }

[[package]]
name = "Flask"
version = "3.0.0"
source = { registry = "https://pypi.org/simple" }
"#;
        let locked = parse(Path::new("uv.lock"), text).unwrap();
        assert!(locked.get("svc").is_empty());
        assert_eq!(locked.get("flask"), ["3.0.0".to_owned()]);
    }
}
