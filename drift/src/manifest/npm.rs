//! `package.json`: the four dependency maps, with npm aliases, workspace, file, git and URL
//! specs recognised and skipped where no registry release applies.

use std::path::Path;

use serde_json::Value;

use super::{error, line_at};
use crate::model::{Dependency, DependencyKind, Ecosystem, ManifestError, SkipReason};

const SECTIONS: [(&str, DependencyKind); 4] = [
    ("dependencies", DependencyKind::Normal),
    ("devDependencies", DependencyKind::Dev),
    ("optionalDependencies", DependencyKind::Optional),
    ("peerDependencies", DependencyKind::Peer),
];

/// Parses a `package.json`.
pub fn parse(file: &Path, text: &str) -> Result<Vec<Dependency>, ManifestError> {
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| error(file, u32::try_from(e.line()).ok(), e.to_string()))?;
    let Some(root) = doc.as_object() else {
        return Err(error(file, Some(1), "package.json must hold a JSON object"));
    };
    let mut out = Vec::new();
    for (section, kind) in SECTIONS {
        let Some(map) = root.get(section) else {
            continue;
        };
        let Some(map) = map.as_object() else {
            let line = key_line(text, section, None);
            return Err(error(
                file,
                Some(line),
                format!("`{section}` must be an object"),
            ));
        };
        for (name, spec) in map {
            let line = key_line(text, section, Some(name));
            let Some(spec) = spec.as_str() else {
                return Err(error(
                    file,
                    Some(line),
                    format!("`{section}.{name}` must be a string"),
                ));
            };
            out.push(dependency(file, name, spec.trim(), line, kind));
        }
    }
    Ok(out)
}

fn dependency(file: &Path, name: &str, spec: &str, line: u32, kind: DependencyKind) -> Dependency {
    if let Some(alias) = spec.strip_prefix("npm:") {
        // `npm:real-name@range`; a scoped name starts with `@`.
        let split = alias
            .get(1..)
            .and_then(|rest| rest.find('@'))
            .map(|i| i + 1);
        let (real, range) = match split {
            Some(i) => (&alias[..i], &alias[i + 1..]),
            None => (alias, ""),
        };
        return Dependency::new(Ecosystem::Npm, real, range, file, line, kind);
    }
    let dep = Dependency::new(Ecosystem::Npm, name, spec, file, line, kind);
    match skip_reason(spec) {
        Some(reason) => dep.skipped(reason),
        None => dep,
    }
}

fn skip_reason(spec: &str) -> Option<SkipReason> {
    let starts = |prefixes: &[&str]| prefixes.iter().any(|p| spec.starts_with(p));
    if starts(&["workspace:"]) {
        Some(SkipReason::WorkspacePackage)
    } else if starts(&["file:", "link:", "portal:", "./", "../", "/"]) {
        Some(SkipReason::Path)
    } else if starts(&["git+", "git:", "github:", "gitlab:", "bitbucket:"]) {
        Some(SkipReason::Git)
    } else if starts(&["http://", "https://"]) {
        Some(SkipReason::Url)
    } else if spec.contains('/') {
        // `owner/repo` or `owner/repo#ref`: a GitHub shorthand.
        Some(SkipReason::Git)
    } else if is_dist_tag(spec) {
        // A dist-tag such as `latest` or `next`.
        Some(SkipReason::NotAVersion(spec.to_owned()))
    } else {
        None
    }
}

/// `latest`, `next`, `beta`: a name rather than a range (`x`, `X.1` and `v1.2` are ranges).
fn is_dist_tag(spec: &str) -> bool {
    let mut chars = spec.chars();
    match (chars.next(), chars.next()) {
        (Some('x' | 'X' | '*'), None | Some('.')) => false,
        (Some('v'), Some(c)) if c.is_ascii_digit() => false,
        (Some(c), _) => c.is_ascii_alphabetic(),
        (None, _) => false,
    }
}

/// The line of `"name":` inside the `"section":` object (or of the section itself).
fn key_line(text: &str, section: &str, name: Option<&str>) -> u32 {
    let Some(start) = find_key(text, section, 0) else {
        return 1;
    };
    let offset = match name {
        Some(name) => find_key(text, name, start).unwrap_or(start),
        None => start,
    };
    line_at(text, offset)
}

/// The offset of the first `"key"` followed by a colon, at or after `from`.
fn find_key(text: &str, key: &str, from: usize) -> Option<usize> {
    let needle = format!("\"{key}\"");
    let mut at = from;
    while let Some(found) = text.get(at..)?.find(&needle) {
        let start = at + found;
        let rest = text.get(start + needle.len()..)?;
        if rest.trim_start().starts_with(':') {
            return Some(start);
        }
        at = start + needle.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sections_aliases_and_skips() {
        let text = r#"{
  "name": "web",
  "dependencies": {
    "react": "^18.2.0",
    "lodash": "4.17.21",
    "old-name": "npm:@scope/new-name@^2.0.0",
    "shared": "workspace:*",
    "local": "file:../local",
    "fork": "github:someone/fork#main"
  },
  "devDependencies": {
    "typescript": "~5.3.3",
    "react": "^18.2.0"
  }
}"#;
        let deps = parse(Path::new("web/package.json"), text).unwrap();
        let got: Vec<_> = deps
            .iter()
            .map(|d| {
                (
                    d.name.as_str(),
                    d.declared.as_str(),
                    d.line,
                    d.skip_reason.is_some(),
                )
            })
            .collect();
        assert!(got.contains(&("react", "^18.2.0", 4, false)));
        assert!(got.contains(&("@scope/new-name", "^2.0.0", 6, false)));
        assert!(got.contains(&("shared", "workspace:*", 7, true)));
        assert!(got.contains(&("local", "file:../local", 8, true)));
        assert!(got.contains(&("fork", "github:someone/fork#main", 9, true)));
        assert!(got.contains(&("typescript", "~5.3.3", 12, false)));
        assert!(got.contains(&("react", "^18.2.0", 13, false)));
    }

    #[test]
    fn malformed_json_names_the_line() {
        let err = parse(
            Path::new("package.json"),
            "{\n  \"dependencies\": {\n    \"a\": 1,,\n",
        )
        .unwrap_err();
        assert_eq!(err.line, Some(3));
    }
}
