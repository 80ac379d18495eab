//! Manifest parsers: which files are manifests or lockfiles, and the helpers they share
//! (byte offset to line, error construction).

pub mod actions;
pub mod cargo;
pub mod cargo_lock;
pub mod dockerfile;
pub mod gomod;
pub mod npm;
pub mod npm_lock;
pub mod pyproject;
pub mod python_lock;
pub mod requirements;

use std::collections::BTreeMap;
use std::path::Path;

use crate::model::ManifestError;

/// The kinds of files the scanner reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ManifestKind {
    CargoToml,
    CargoLock,
    PackageJson,
    PackageLock,
    Requirements,
    Pyproject,
    PoetryLock,
    UvLock,
    GoMod,
    Dockerfile,
    Workflow,
}

/// Which manifest kind a repository-relative path is, if any.
pub fn kind_of(path: &Path) -> Option<ManifestKind> {
    let name = path.file_name()?.to_str()?;
    let lower = name.to_ascii_lowercase();
    let kind = match name {
        "Cargo.toml" => ManifestKind::CargoToml,
        "Cargo.lock" => ManifestKind::CargoLock,
        "package.json" => ManifestKind::PackageJson,
        "package-lock.json" => ManifestKind::PackageLock,
        "pyproject.toml" => ManifestKind::Pyproject,
        "poetry.lock" => ManifestKind::PoetryLock,
        "uv.lock" => ManifestKind::UvLock,
        "go.mod" => ManifestKind::GoMod,
        _ if is_requirements(&lower) => ManifestKind::Requirements,
        _ if is_dockerfile(name, &lower) => ManifestKind::Dockerfile,
        _ if is_workflow(path, &lower) => ManifestKind::Workflow,
        _ => return None,
    };
    Some(kind)
}

/// Renovate's pip_requirements pattern: `requirements.txt`, `requirements-dev.txt`,
/// `dev-requirements.txt`, `requirements.in`-like `.pip` files.
fn is_requirements(lower: &str) -> bool {
    let Some(stem) = lower
        .strip_suffix(".txt")
        .or_else(|| lower.strip_suffix(".pip"))
    else {
        return false;
    };
    stem.contains("requirements")
}

/// `Dockerfile`, `Dockerfile.prod`, `prod.Dockerfile`, `Containerfile`.
fn is_dockerfile(name: &str, lower: &str) -> bool {
    lower == "dockerfile"
        || lower == "containerfile"
        || lower.starts_with("dockerfile.")
        || lower.ends_with(".dockerfile")
        || name.starts_with("Containerfile.")
}

/// `.github/workflows/*.yml` or `*.yaml`.
fn is_workflow(path: &Path, lower: &str) -> bool {
    if !(lower.ends_with(".yml") || lower.ends_with(".yaml")) {
        return false;
    }
    let mut parents = path.parent().into_iter().flat_map(|p| p.components().rev());
    let workflows = parents.next().map(|c| c.as_os_str() == "workflows");
    let github = parents.next().map(|c| c.as_os_str() == ".github");
    workflows == Some(true) && github == Some(true)
}

/// The 1-based line of a byte offset in `text` (offsets past the end give the last line).
pub(crate) fn line_at(text: &str, offset: usize) -> u32 {
    let end = offset.min(text.len());
    let newlines = text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count();
    u32::try_from(newlines + 1).unwrap_or(u32::MAX)
}

/// A [`ManifestError`] for `file`.
pub(crate) fn error(file: &Path, line: Option<u32>, message: impl Into<String>) -> ManifestError {
    ManifestError {
        file: file.to_path_buf(),
        line,
        message: message.into(),
    }
}

/// Versions a lockfile resolved, by package name (several when a graph holds more than one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockedVersions {
    pub by_name: BTreeMap<String, Vec<String>>,
}

impl LockedVersions {
    pub(crate) fn insert(&mut self, name: impl Into<String>, version: impl Into<String>) {
        let versions = self.by_name.entry(name.into()).or_default();
        let version = version.into();
        if !versions.contains(&version) {
            versions.push(version);
        }
    }

    /// The versions locked for `name`.
    pub fn get(&self, name: &str) -> &[String] {
        self.by_name.get(name).map(Vec::as_slice).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_manifest_names() {
        let cases = [
            ("Cargo.toml", Some(ManifestKind::CargoToml)),
            ("a/requirements-dev.txt", Some(ManifestKind::Requirements)),
            ("dev-requirements.txt", Some(ManifestKind::Requirements)),
            ("notes.txt", None),
            ("docker/Dockerfile.prod", Some(ManifestKind::Dockerfile)),
            ("api.Dockerfile", Some(ManifestKind::Dockerfile)),
            (".github/workflows/ci.yml", Some(ManifestKind::Workflow)),
            ("ci/workflows/ci.yml", None),
            ("config.yml", None),
        ];
        for (path, kind) in cases {
            assert_eq!(kind_of(Path::new(path)), kind, "{path}");
        }
    }

    #[test]
    fn lines_count_from_one() {
        let text = "a\nb\nc";
        assert_eq!(line_at(text, 0), 1);
        assert_eq!(line_at(text, 2), 2);
        assert_eq!(line_at(text, 99), 3);
    }
}
