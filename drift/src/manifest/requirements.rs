//! `requirements*.txt`: PEP 508 requirements one per logical line, with comments, line
//! continuations, `--hash` options, extras and markers; `-r`/`-c` includes, editable
//! installs, other pip options and URL requirements are not registry dependencies.

use std::path::Path;
use std::str::FromStr;

use pep508_rs::{Requirement, VersionOrUrl};

use super::error;
use crate::model::{Dependency, DependencyKind, Ecosystem, ManifestError, SkipReason};

/// Parses a requirements file. A line that is not a valid requirement is an error naming it.
pub fn parse(file: &Path, text: &str) -> Result<Vec<Dependency>, ManifestError> {
    let kind = if file
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.contains("dev") || n.contains("test"))
    {
        DependencyKind::Dev
    } else {
        DependencyKind::Normal
    };
    let mut out = Vec::new();
    for (line, logical) in logical_lines(text) {
        let content = strip_comment(&logical);
        let content = strip_options(content);
        if content.is_empty() || content.starts_with('-') {
            continue;
        }
        let dep = requirement(file, content, line, kind)
            .map_err(|invalid| error(file, Some(line), invalid.to_string()))?;
        out.push(dep);
    }
    Ok(out)
}

/// Why a requirement could not be read (the message of its file's `ManifestError`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct InvalidRequirement(String);

/// A PEP 508 requirement string as a dependency (shared with `pyproject.toml`).
pub(crate) fn requirement(
    file: &Path,
    text: &str,
    line: u32,
    kind: DependencyKind,
) -> Result<Dependency, InvalidRequirement> {
    // pep508_rs 0.9 panics (an internal `expect`) on a name that ends in `.`, `_` or `-`
    // before other text (`0_\tA`); PEP 508 names start and end with a letter or digit.
    let name_end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        .unwrap_or(text.len());
    if text[..name_end].ends_with(['.', '_', '-']) {
        return Err(InvalidRequirement(format!(
            "invalid requirement {text:?}: the name `{}` must end with a letter or digit",
            &text[..name_end]
        )));
    }
    let parsed = Requirement::<pep508_rs::VerbatimUrl>::from_str(text).map_err(|e| {
        InvalidRequirement(format!(
            "invalid requirement {text:?}: {}",
            first_line(&e.to_string())
        ))
    })?;
    let name = parsed.name.to_string();
    let (declared, skip) = match &parsed.version_or_url {
        Some(VersionOrUrl::VersionSpecifier(specifiers)) => (specifiers.to_string(), None),
        Some(VersionOrUrl::Url(url)) => {
            let raw = url.to_string();
            let reason = if raw.starts_with("git+") {
                SkipReason::Git
            } else if raw.starts_with("file:") {
                SkipReason::Path
            } else {
                SkipReason::Url
            };
            (raw, Some(reason))
        }
        None => (String::new(), None),
    };
    let mut dep = Dependency::new(Ecosystem::Pypi, name, declared, file, line, kind);
    dep.extras = parsed.extras.iter().map(ToString::to_string).collect();
    dep.condition = parsed.marker.try_to_string();
    dep.skip_reason = skip;
    Ok(dep)
}

fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or(message)
}

/// Joins backslash continuations; yields (first physical line, logical line).
fn logical_lines(text: &str) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let mut current: Option<(u32, String)> = None;
    for (index, raw) in text.lines().enumerate() {
        let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let (start, mut buffer) = current.take().unwrap_or((number, String::new()));
        match raw.strip_suffix('\\') {
            Some(head) => {
                buffer.push_str(head);
                buffer.push(' ');
                current = Some((start, buffer));
            }
            None => {
                buffer.push_str(raw);
                out.push((start, buffer));
            }
        }
    }
    out.extend(current);
    out
}

/// Drops a `#` comment (at the start or after whitespace, as pip does).
fn strip_comment(line: &str) -> &str {
    let trimmed = line.trim();
    if trimmed.starts_with('#') {
        return "";
    }
    let cut = trimmed
        .match_indices(" #")
        .chain(trimmed.match_indices("\t#"))
        .map(|(i, _)| i)
        .min();
    cut.map_or(trimmed, |i| &trimmed[..i]).trim()
}

/// Drops per-requirement options such as `--hash=sha256:...`.
fn strip_options(line: &str) -> &str {
    match line.find(" --") {
        Some(i) if !line.starts_with('-') => line[..i].trim(),
        _ => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_extras_markers_comments_and_skips_options() {
        let text = "# pinned for prod\n\
-r base.txt\n\
--index-url https://pypi.org/simple\n\
requests[security,socks]==2.31.0 ; python_version >= \"3.8\"  # http\n\
django>=4.2,<5 \\\n    --hash=sha256:0123\n\
-e ./local-package\n\
pkg @ git+https://example.com/pkg.git@v1\n\
numpy\n";
        let deps = parse(Path::new("requirements.txt"), text).unwrap();
        let got: Vec<_> = deps
            .iter()
            .map(|d| (d.name.as_str(), d.declared.as_str(), d.line))
            .collect();
        assert_eq!(
            got,
            vec![
                ("requests", "==2.31.0", 4),
                ("django", ">=4.2, <5", 5),
                ("pkg", "git+https://example.com/pkg.git@v1", 8),
                ("numpy", "", 9),
            ]
        );
        assert_eq!(deps[0].extras, vec!["security", "socks"]);
        assert_eq!(
            deps[0].condition.as_deref(),
            Some("python_full_version >= '3.8'")
        );
        assert_eq!(deps[2].skip_reason, Some(SkipReason::Git));
    }

    #[test]
    fn invalid_requirement_names_the_line() {
        let err = parse(Path::new("requirements.txt"), "0_\tA\n").unwrap_err();
        assert_eq!(
            err.line,
            Some(1),
            "a name ending in `_` is an error, not a panic"
        );
        let err = parse(Path::new("requirements.txt"), "flask==2.0\nrequests>=>2\n").unwrap_err();
        assert_eq!(err.line, Some(2));
    }
}
