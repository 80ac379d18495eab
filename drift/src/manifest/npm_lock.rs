//! `package-lock.json`: versions installed, keyed by their `node_modules/...` path so that a
//! workspace package's own copy wins over the hoisted one.

use std::path::Path;

use serde_json::Value;

use super::{error, LockedVersions};
use crate::model::ManifestError;

/// Parses a `package-lock.json` (lockfile v2/v3 `packages`, else v1 `dependencies`). Keys are
/// install paths such as `node_modules/react` or `packages/web/node_modules/react`.
pub fn parse(file: &Path, text: &str) -> Result<LockedVersions, ManifestError> {
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| error(file, u32::try_from(e.line()).ok(), e.to_string()))?;
    let mut locked = LockedVersions::default();
    if let Some(packages) = doc.get("packages").and_then(Value::as_object) {
        for (path, entry) in packages {
            let linked = entry.get("link").and_then(Value::as_bool) == Some(true);
            if let (Some(version), false) = (entry.get("version").and_then(Value::as_str), linked) {
                if path.contains("node_modules/") {
                    locked.insert(path.as_str(), version);
                }
            }
        }
    } else if let Some(deps) = doc.get("dependencies").and_then(Value::as_object) {
        for (name, entry) in deps {
            if let Some(version) = entry.get("version").and_then(Value::as_str) {
                locked.insert(format!("node_modules/{name}"), version);
            }
        }
    }
    Ok(locked)
}

/// The version installed for `name` as seen from the package in `package_dir` (relative to
/// the lockfile's directory, empty for the root).
pub fn lookup(locked: &LockedVersions, package_dir: &str, name: &str) -> Option<String> {
    let nested = if package_dir.is_empty() {
        None
    } else {
        Some(format!("{package_dir}/node_modules/{name}"))
    };
    nested
        .iter()
        .chain(std::iter::once(&format!("node_modules/{name}")))
        .find_map(|key| locked.get(key).first().cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_v3_packages_with_workspaces() {
        let text = r#"{
  "lockfileVersion": 3,
  "packages": {
    "": { "name": "root", "workspaces": ["packages/*"] },
    "node_modules/react": { "version": "18.2.0" },
    "node_modules/web": { "resolved": "packages/web", "link": true },
    "packages/web/node_modules/react": { "version": "17.0.2" }
  }
}"#;
        let locked = parse(Path::new("package-lock.json"), text).unwrap();
        assert_eq!(lookup(&locked, "", "react").as_deref(), Some("18.2.0"));
        assert_eq!(
            lookup(&locked, "packages/web", "react").as_deref(),
            Some("17.0.2")
        );
        assert_eq!(
            lookup(&locked, "packages/api", "react").as_deref(),
            Some("18.2.0")
        );
        assert_eq!(lookup(&locked, "", "web"), None);
    }
}
