//! `Cargo.toml`: dependencies of every kind and target, `[workspace.dependencies]`,
//! `workspace = true` inheritance, path/git/custom-registry dependencies skipped.

use std::collections::BTreeMap;
use std::path::Path;

use toml_edit::{Document, Item, TableLike};

use super::{error, line_at};
use crate::model::{Dependency, DependencyKind, Ecosystem, ManifestError, SkipReason};

/// What one `Cargo.toml` declares.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CargoManifest {
    pub dependencies: Vec<Dependency>,
    /// `[workspace.dependencies]`, name to declared requirement, when this is a workspace root.
    pub workspace_dependencies: Option<BTreeMap<String, String>>,
}

const SECTIONS: [(&str, DependencyKind); 5] = [
    ("dependencies", DependencyKind::Normal),
    ("dev-dependencies", DependencyKind::Dev),
    ("dev_dependencies", DependencyKind::Dev),
    ("build-dependencies", DependencyKind::Build),
    ("build_dependencies", DependencyKind::Build),
];

/// Parses a `Cargo.toml`.
pub fn parse(file: &Path, text: &str) -> Result<CargoManifest, ManifestError> {
    let doc = Document::parse(text).map_err(|e| {
        let line = e.span().map(|s| line_at(text, s.start));
        error(file, line, e.message().trim().to_owned())
    })?;
    let root = doc.as_table();
    let reader = Reader { file, text };
    let mut manifest = CargoManifest::default();

    for (section, kind) in SECTIONS {
        if let Some(table) = root.get(section).and_then(Item::as_table_like) {
            reader.read_table(table, kind, None, &mut manifest.dependencies)?;
        }
    }
    if let Some(targets) = root.get("target").and_then(Item::as_table_like) {
        for (cfg, target) in targets.iter() {
            let Some(target) = target.as_table_like() else {
                continue;
            };
            for (section, kind) in SECTIONS {
                if let Some(table) = target.get(section).and_then(Item::as_table_like) {
                    let condition = Some(cfg.to_owned());
                    reader.read_table(table, kind, condition, &mut manifest.dependencies)?;
                }
            }
        }
    }
    if let Some(workspace) = root.get("workspace").and_then(Item::as_table_like) {
        let mut declared = BTreeMap::new();
        if let Some(table) = workspace.get("dependencies").and_then(Item::as_table_like) {
            let mut deps = Vec::new();
            reader.read_table(table, DependencyKind::Normal, None, &mut deps)?;
            for dep in &deps {
                declared.insert(dep.name.clone(), dep.declared.clone());
            }
            manifest.dependencies.extend(deps);
        }
        manifest.workspace_dependencies = Some(declared);
    }
    Ok(manifest)
}

struct Reader<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Reader<'_> {
    fn read_table(
        &self,
        table: &dyn TableLike,
        kind: DependencyKind,
        condition: Option<String>,
        out: &mut Vec<Dependency>,
    ) -> Result<(), ManifestError> {
        for (key, item) in table.iter() {
            let offset = table
                .get_key_value(key)
                .and_then(|(k, _)| k.span())
                .or_else(|| item.span())
                .map(|s| s.start)
                .unwrap_or(0);
            let line = line_at(self.text, offset);
            let mut dep = self.entry(key, item, kind, line)?;
            dep.condition.clone_from(&condition);
            out.push(dep);
        }
        Ok(())
    }

    fn entry(
        &self,
        key: &str,
        item: &Item,
        kind: DependencyKind,
        line: u32,
    ) -> Result<Dependency, ManifestError> {
        let new = |name: &str, declared: &str| {
            Dependency::new(Ecosystem::Cargo, name, declared, self.file, line, kind)
        };
        if let Some(version) = item.as_str() {
            return Ok(new(key, version.trim()));
        }
        let Some(table) = item.as_table_like() else {
            return Err(error(
                self.file,
                Some(line),
                format!("dependency `{key}` must be a version string or a table"),
            ));
        };
        let text = |field: &str| table.get(field).and_then(Item::as_str).map(str::trim);
        let name = text("package").unwrap_or(key);
        let mut dep = new(name, text("version").unwrap_or(""));
        dep.extras = table
            .get("features")
            .and_then(Item::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let inherited = table.get("workspace").and_then(Item::as_bool) == Some(true);
        dep.skip_reason = if inherited {
            Some(SkipReason::InheritedFromWorkspace)
        } else if table.contains_key("path") {
            Some(SkipReason::Path)
        } else if table.contains_key("git") {
            Some(SkipReason::Git)
        } else if let Some(registry) = text("registry") {
            Some(SkipReason::CustomRegistry(registry.to_owned()))
        } else if dep.declared.is_empty() {
            Some(SkipReason::UnspecifiedVersion)
        } else {
            None
        };
        Ok(dep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_form_with_lines() {
        let text = r#"[package]
name = "x"

[dependencies]
serde = { version = "1.0.190", features = ["derive"] }
tokio = "1"
local = { path = "../local" }
forked = { git = "https://example.com/forked.git", branch = "main" }
shared.workspace = true
renamed = { package = "real-name", version = "0.3" }

[target.'cfg(unix)'.dependencies]
nix = "0.29"

[dev-dependencies.proptest]
version = "1.4"
"#;
        let manifest = parse(Path::new("Cargo.toml"), text).unwrap();
        let got: Vec<_> = manifest
            .dependencies
            .iter()
            .map(|d| {
                (
                    d.name.as_str(),
                    d.declared.as_str(),
                    d.line,
                    d.skip_reason.clone(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("serde", "1.0.190", 5, None),
                ("tokio", "1", 6, None),
                ("local", "", 7, Some(SkipReason::Path)),
                ("forked", "", 8, Some(SkipReason::Git)),
                ("shared", "", 9, Some(SkipReason::InheritedFromWorkspace)),
                ("real-name", "0.3", 10, None),
                ("proptest", "1.4", 15, None),
                ("nix", "0.29", 13, None),
            ]
        );
        assert_eq!(manifest.dependencies[1].kind, DependencyKind::Normal);
        assert_eq!(manifest.dependencies[6].kind, DependencyKind::Dev);
        assert_eq!(
            manifest.dependencies[7].condition.as_deref(),
            Some("cfg(unix)")
        );
        assert_eq!(manifest.dependencies[0].extras, vec!["derive"]);
        assert!(manifest.workspace_dependencies.is_none());
    }

    #[test]
    fn malformed_toml_names_the_line() {
        let err = parse(Path::new("Cargo.toml"), "[dependencies]\nserde = \n").unwrap_err();
        assert_eq!(err.line, Some(2));
    }
}
