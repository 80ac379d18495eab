//! Scanning a repository: find the manifests (skipping build output, installed packages and
//! vendored code), parse each, and fill locked versions from the lockfile that governs it.
//! A file that cannot be read or parsed becomes a [`ManifestError`]; the rest are still read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::manifest::{self, cargo_lock, kind_of, npm_lock, LockedVersions, ManifestKind};
use crate::model::{Dependency, Ecosystem, ManifestError, ScanInput, SkipReason};

/// Directories never scanned: build output, installed packages, vendored code, VCS data.
pub const SKIPPED_DIRS: [&str; 12] = [
    "target",
    "node_modules",
    ".git",
    "vendor",
    "vendored",
    "third_party",
    ".venv",
    "venv",
    "__pycache__",
    "bower_components",
    ".tox",
    ".terraform",
];

/// Files larger than this are reported instead of read.
const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;

/// One file of a repository, read from wherever the repository lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Path relative to the repository root, with `/` separators.
    pub path: PathBuf,
    pub contents: String,
}

/// Walks `root` and scans every manifest under it. Never fails: unreadable files are errors
/// in the result.
pub fn scan_directory(root: &Path) -> ScanInput {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let walker = WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .filter_entry(|entry| {
            let name = entry.file_name().to_string_lossy();
            !(entry.file_type().is_dir()
                && entry.depth() > 0
                && SKIPPED_DIRS.contains(&name.as_ref()))
        });
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let file = e
                    .path()
                    .and_then(|p| p.strip_prefix(root).ok())
                    .map(Path::to_path_buf)
                    .unwrap_or_default();
                errors.push(ManifestError {
                    file,
                    line: None,
                    message: e.to_string(),
                });
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(relative) = entry.path().strip_prefix(root) else {
            continue;
        };
        if kind_of(relative).is_none() {
            continue;
        }
        let too_big = entry
            .metadata()
            .map(|m| m.len() > MAX_FILE_BYTES)
            .unwrap_or(false);
        let contents = if too_big {
            Err(format!("larger than {MAX_FILE_BYTES} bytes"))
        } else {
            std::fs::read_to_string(entry.path()).map_err(|e| e.to_string())
        };
        match contents {
            Ok(contents) => files.push(SourceFile {
                path: relative.to_path_buf(),
                contents,
            }),
            Err(message) => errors.push(ManifestError {
                file: relative.to_path_buf(),
                line: None,
                message,
            }),
        }
    }
    let mut input = scan_files(&files);
    errors.append(&mut input.errors);
    input.errors = errors;
    input
}

/// Scans files already read (from a checkout, or through the GitHub contents API). Files
/// that are not manifests are ignored.
pub fn scan_files(files: &[SourceFile]) -> ScanInput {
    let mut input = ScanInput::default();
    let mut cargo_locks = BTreeMap::new();
    let mut npm_locks = BTreeMap::new();
    let mut python_locks = BTreeMap::new();
    let mut workspaces: BTreeMap<PathBuf, BTreeMap<String, String>> = BTreeMap::new();

    for file in files {
        let Some(kind) = kind_of(&file.path) else {
            continue;
        };
        let dir = file
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let (path, text) = (file.path.as_path(), file.contents.as_str());
        let parsed: Result<Vec<Dependency>, ManifestError> = match kind {
            ManifestKind::CargoToml => manifest::cargo::parse(path, text).map(|m| {
                if let Some(declared) = m.workspace_dependencies {
                    workspaces.insert(dir.clone(), declared);
                }
                m.dependencies
            }),
            ManifestKind::CargoLock => cargo_lock::parse(path, text).map(|l| {
                cargo_locks.insert(dir.clone(), l);
                Vec::new()
            }),
            ManifestKind::PackageLock => npm_lock::parse(path, text).map(|l| {
                npm_locks.insert(dir.clone(), l);
                Vec::new()
            }),
            ManifestKind::PoetryLock | ManifestKind::UvLock => {
                manifest::python_lock::parse(path, text).map(|l| {
                    let entry: &mut LockedVersions = python_locks.entry(dir.clone()).or_default();
                    for (name, versions) in l.by_name {
                        for version in versions {
                            entry.insert(name.clone(), version);
                        }
                    }
                    Vec::new()
                })
            }
            ManifestKind::PackageJson => manifest::npm::parse(path, text),
            ManifestKind::Requirements => manifest::requirements::parse(path, text),
            ManifestKind::Pyproject => manifest::pyproject::parse(path, text),
            ManifestKind::GoMod => manifest::gomod::parse(path, text),
            ManifestKind::Dockerfile => manifest::dockerfile::parse(path, text),
            ManifestKind::Workflow => manifest::actions::parse(path, text),
        };
        match parsed {
            Ok(mut deps) => input.dependencies.append(&mut deps),
            Err(e) => input.errors.push(e),
        }
    }

    for dep in &mut input.dependencies {
        let dir = dep.file.parent().map(Path::to_path_buf).unwrap_or_default();
        match dep.ecosystem {
            Ecosystem::Cargo => {
                if dep.skip_reason == Some(SkipReason::InheritedFromWorkspace) {
                    if let Some(declared) =
                        nearest(&workspaces, &dir).and_then(|(_, w)| w.get(&dep.name))
                    {
                        dep.declared.clone_from(declared);
                    }
                } else if dep.skip_reason.is_none() {
                    dep.locked = nearest(&cargo_locks, &dir)
                        .and_then(|(_, lock)| cargo_lock::pick(&dep.declared, lock.get(&dep.name)));
                }
            }
            Ecosystem::Npm if dep.skip_reason.is_none() => {
                if let Some((lock_dir, lock)) = nearest(&npm_locks, &dir) {
                    let package_dir = dir
                        .strip_prefix(lock_dir)
                        .map(|p| p.to_string_lossy().replace('\\', "/"))
                        .unwrap_or_default();
                    dep.locked = npm_lock::lookup(lock, &package_dir, &dep.name);
                }
            }
            Ecosystem::Pypi if dep.skip_reason.is_none() && is_pyproject(&dep.file) => {
                dep.locked = nearest(&python_locks, &dir)
                    .and_then(|(_, lock)| lock.get(&dep.name).first().cloned());
            }
            _ => {}
        }
    }
    input
}

fn is_pyproject(file: &Path) -> bool {
    file.file_name().is_some_and(|n| n == "pyproject.toml")
}

/// The entry for `dir` or its nearest ancestor.
fn nearest<'a, T>(map: &'a BTreeMap<PathBuf, T>, dir: &Path) -> Option<(&'a PathBuf, &'a T)> {
    dir.ancestors().find_map(|a| map.get_key_value(a))
}
