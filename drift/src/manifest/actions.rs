//! GitHub Actions workflows: `uses: owner/repo[/path]@ref` in steps and reusable-workflow jobs,
//! with SHA pins and their `# v4.1.0` comments; local `./` actions and `docker://` images are
//! skipped. The YAML is parsed (errors name the line); the comment only exists in the text, so
//! each `uses:` value is matched to its line.

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use serde_norway::Value;

use super::error;
use crate::model::{Dependency, DependencyKind, Ecosystem, ManifestError, SkipReason};

static USES_LINE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r#"^\s*(?:-\s+)?uses\s*:\s*["']?([^"'\s#]+)["']?\s*(?:#\s*(.*?))?\s*$"#).ok()
});

/// Parses a workflow file.
pub fn parse(file: &Path, text: &str) -> Result<Vec<Dependency>, ManifestError> {
    let doc: Value = serde_norway::from_str(text).map_err(|e| {
        let line = e.location().and_then(|l| u32::try_from(l.line()).ok());
        error(file, line, e.to_string())
    })?;
    let mut wanted = Vec::new();
    if let Some(jobs) = doc.get("jobs").and_then(Value::as_mapping) {
        for (_, job) in jobs {
            if let Some(uses) = job.get("uses").and_then(Value::as_str) {
                wanted.push(uses.to_owned());
            }
            let steps = job.get("steps").and_then(Value::as_sequence);
            for step in steps.into_iter().flatten() {
                if let Some(uses) = step.get("uses").and_then(Value::as_str) {
                    wanted.push(uses.to_owned());
                }
            }
        }
    }
    let Some(pattern) = USES_LINE.as_ref() else {
        return Err(error(file, None, "internal: uses pattern did not compile"));
    };
    let mut out = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let Some(captures) = pattern.captures(raw) else {
            continue;
        };
        let Some(value) = captures.get(1).map(|m| m.as_str()) else {
            continue;
        };
        // Only values the YAML really holds as `uses:` of a job or step.
        let Some(position) = wanted.iter().position(|w| w == value) else {
            continue;
        };
        wanted.swap_remove(position);
        let line = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let comment = captures.get(2).map(|m| m.as_str());
        out.push(dependency(file, value, comment, line));
    }
    Ok(out)
}

fn dependency(file: &Path, uses: &str, comment: Option<&str>, line: u32) -> Dependency {
    let new = |name: &str, declared: &str| {
        Dependency::new(
            Ecosystem::GithubActions,
            name,
            declared,
            file,
            line,
            DependencyKind::Action,
        )
    };
    if uses.starts_with("./") || uses.starts_with("../") {
        return new(uses, "").skipped(SkipReason::Path);
    }
    if uses.starts_with("docker://") {
        return new(uses, "").skipped(SkipReason::DockerReference);
    }
    let Some((path, reference)) = uses.split_once('@') else {
        return new(uses, "").skipped(SkipReason::UnspecifiedVersion);
    };
    // `owner/repo/sub/dir@ref`: the tags live on `owner/repo`.
    let repository: String = path.split('/').take(2).collect::<Vec<_>>().join("/");
    if is_commit_sha(reference) {
        let version = comment.and_then(comment_version);
        let mut dep = new(&repository, version.unwrap_or(reference));
        dep.digest = Some(reference.to_owned());
        return dep;
    }
    let dep = new(&repository, reference);
    if reference
        .trim_start_matches('v')
        .starts_with(|c: char| c.is_ascii_digit())
    {
        dep
    } else {
        dep.skipped(SkipReason::NotAVersion(reference.to_owned()))
    }
}

/// A full 40-hex commit SHA.
pub fn is_commit_sha(reference: &str) -> bool {
    reference.len() == 40 && reference.chars().all(|c| c.is_ascii_hexdigit())
}

/// The version in a pin comment: `v4.1.0`, `tag=v4.1.0`, `pin @v4.1.0`, `ratchet:owner/repo@v4`.
fn comment_version(comment: &str) -> Option<&str> {
    comment
        .split(|c: char| c.is_whitespace() || c == '=' || c == '@')
        .find(|w| {
            w.trim_start_matches('v')
                .starts_with(|c: char| c.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tags_sha_pins_local_and_docker() {
        let text = r#"name: CI
on: [push]
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - name: Setup
        uses: actions/setup-node@60edb5dd545a775178f52524783378180af0d1f8 # v4.0.2
      - uses: ./.github/actions/local
      - uses: docker://alpine:3.19
      - uses: github/codeql-action/init@v3.24.0
      - uses: someone/action@main
  reuse:
    uses: org/shared/.github/workflows/build.yml@v1.2.0
"#;
        let deps = parse(Path::new(".github/workflows/ci.yml"), text).unwrap();
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
        assert_eq!(
            got,
            vec![
                ("actions/checkout", "v4", 7, false),
                ("actions/setup-node", "v4.0.2", 9, false),
                ("./.github/actions/local", "", 10, true),
                ("docker://alpine:3.19", "", 11, true),
                ("github/codeql-action", "v3.24.0", 12, false),
                ("someone/action", "main", 13, true),
                ("org/shared", "v1.2.0", 15, false),
            ]
        );
        assert_eq!(
            deps[1].digest.as_deref(),
            Some("60edb5dd545a775178f52524783378180af0d1f8")
        );
    }

    #[test]
    fn malformed_yaml_names_the_line() {
        let err = parse(Path::new("ci.yml"), "jobs:\n  a:\n    steps: [\n").unwrap_err();
        assert!(err.line.is_some());
    }
}
