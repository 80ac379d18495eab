//! `pyproject.toml`: PEP 621 `[project]` dependencies and optional dependencies, PEP 735
//! `[dependency-groups]`, and Poetry's `[tool.poetry.*dependencies]` (constraints kept as
//! written; the PyPI versioning understands Poetry's `^` and `~`).

use std::path::Path;

use toml_edit::{Document, Item, TableLike, Value};

use super::{error, line_at, requirements};
use crate::model::{Dependency, DependencyKind, Ecosystem, ManifestError, SkipReason};

/// Parses a `pyproject.toml`.
pub fn parse(file: &Path, text: &str) -> Result<Vec<Dependency>, ManifestError> {
    let doc = Document::parse(text).map_err(|e| {
        let line = e.span().map(|s| line_at(text, s.start));
        error(file, line, e.message().trim().to_owned())
    })?;
    let root = doc.as_table();
    let reader = Reader { file, text };
    let mut out = Vec::new();

    if let Some(project) = root.get("project").and_then(Item::as_table_like) {
        if let Some(item) = project.get("dependencies") {
            reader.pep508_array(item, DependencyKind::Normal, &mut out)?;
        }
        if let Some(extras) = project
            .get("optional-dependencies")
            .and_then(Item::as_table_like)
        {
            for (_, item) in extras.iter() {
                reader.pep508_array(item, DependencyKind::Optional, &mut out)?;
            }
        }
    }
    if let Some(groups) = root.get("dependency-groups").and_then(Item::as_table_like) {
        for (_, item) in groups.iter() {
            reader.pep508_array(item, DependencyKind::Dev, &mut out)?;
        }
    }
    if let Some(poetry) = root
        .get("tool")
        .and_then(|t| t.get("poetry"))
        .and_then(Item::as_table_like)
    {
        if let Some(table) = poetry.get("dependencies").and_then(Item::as_table_like) {
            reader.poetry_table(table, DependencyKind::Normal, &mut out)?;
        }
        if let Some(table) = poetry.get("dev-dependencies").and_then(Item::as_table_like) {
            reader.poetry_table(table, DependencyKind::Dev, &mut out)?;
        }
        if let Some(groups) = poetry.get("group").and_then(Item::as_table_like) {
            for (name, group) in groups.iter() {
                let kind = if name == "main" {
                    DependencyKind::Normal
                } else {
                    DependencyKind::Dev
                };
                if let Some(table) = group.get("dependencies").and_then(Item::as_table_like) {
                    reader.poetry_table(table, kind, &mut out)?;
                }
            }
        }
    }
    Ok(out)
}

struct Reader<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Reader<'_> {
    fn line(&self, span: Option<std::ops::Range<usize>>) -> u32 {
        line_at(self.text, span.map(|s| s.start).unwrap_or(0))
    }

    fn pep508_array(
        &self,
        item: &Item,
        kind: DependencyKind,
        out: &mut Vec<Dependency>,
    ) -> Result<(), ManifestError> {
        let Some(array) = item.as_array() else {
            let line = self.line(item.span());
            return Err(error(
                self.file,
                Some(line),
                "dependencies must be an array",
            ));
        };
        for value in array.iter() {
            let line = self.line(value.span());
            // PEP 735 `{include-group = "..."}` entries are not requirements.
            let Some(text) = value.as_str() else {
                continue;
            };
            let dep = requirements::requirement(self.file, text, line, kind)
                .map_err(|invalid| error(self.file, Some(line), invalid.to_string()))?;
            out.push(dep);
        }
        Ok(())
    }

    fn poetry_table(
        &self,
        table: &dyn TableLike,
        kind: DependencyKind,
        out: &mut Vec<Dependency>,
    ) -> Result<(), ManifestError> {
        for (name, item) in table.iter() {
            if name.eq_ignore_ascii_case("python") {
                continue;
            }
            let span = table.get_key_value(name).and_then(|(k, _)| k.span());
            let line = self.line(span);
            let new = |declared: &str| {
                Dependency::new(
                    Ecosystem::Pypi,
                    normalise(name),
                    declared,
                    self.file,
                    line,
                    kind,
                )
            };
            if let Some(constraint) = item.as_str() {
                out.push(new(constraint.trim()));
                continue;
            }
            // Several constraints for different markers: judge the first.
            let first = item
                .as_array()
                .and_then(|a| a.iter().next())
                .and_then(Value::as_inline_table)
                .map(|t| t as &dyn TableLike);
            let Some(spec) = item.as_table_like().or(first) else {
                return Err(error(
                    self.file,
                    Some(line),
                    format!("dependency `{name}` must be a string or a table"),
                ));
            };
            let field = |f: &str| spec.get(f).and_then(Item::as_str).map(str::trim);
            let mut dep = new(field("version").unwrap_or(""));
            dep.extras = spec
                .get("extras")
                .and_then(Item::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            dep.condition = field("markers").map(str::to_owned);
            dep.skip_reason = if spec.contains_key("path") {
                Some(SkipReason::Path)
            } else if spec.contains_key("git") {
                Some(SkipReason::Git)
            } else if spec.contains_key("url") {
                Some(SkipReason::Url)
            } else {
                field("source").map(|s| SkipReason::CustomRegistry(s.to_owned()))
            };
            out.push(dep);
        }
        Ok(())
    }
}

/// PEP 503 name normalisation: lower case, runs of `-`, `_`, `.` become one `-`.
pub fn normalise(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut separator = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            separator = true;
        } else {
            if separator && !out.is_empty() {
                out.push('-');
            }
            separator = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pep621_and_poetry() {
        let text = r#"[project]
name = "svc"
dependencies = [
  "fastapi[all]>=0.110",
  "pydantic>=2,<3; python_version >= '3.9'",
]

[project.optional-dependencies]
test = ["pytest~=8.0"]

[tool.poetry.dependencies]
python = "^3.11"
SQLAlchemy = "^2.0.25"
celery = { version = "~5.3", extras = ["redis"] }
mylib = { path = "../mylib", develop = true }

[tool.poetry.group.dev.dependencies]
black = "24.1.1"
"#;
        let deps = parse(Path::new("pyproject.toml"), text).unwrap();
        let got: Vec<_> = deps
            .iter()
            .map(|d| (d.name.as_str(), d.declared.as_str(), d.line, d.kind))
            .collect();
        assert_eq!(
            got,
            vec![
                ("fastapi", ">=0.110", 4, DependencyKind::Normal),
                ("pydantic", ">=2, <3", 5, DependencyKind::Normal),
                ("pytest", "~=8.0", 9, DependencyKind::Optional),
                ("sqlalchemy", "^2.0.25", 13, DependencyKind::Normal),
                ("celery", "~5.3", 14, DependencyKind::Normal),
                ("mylib", "", 15, DependencyKind::Normal),
                ("black", "24.1.1", 18, DependencyKind::Dev),
            ]
        );
        assert_eq!(deps[4].extras, vec!["redis"]);
        assert_eq!(deps[5].skip_reason, Some(SkipReason::Path));
    }

    #[test]
    fn normalises_names() {
        assert_eq!(normalise("Foo__Bar.baz"), "foo-bar-baz");
    }
}
