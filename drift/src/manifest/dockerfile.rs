//! `Dockerfile`: base images from `FROM` (with `--platform=`, `AS name`, digests) and
//! `COPY --from=<image>`; `ARG` defaults substituted; references to earlier build stages and
//! `scratch` skipped. Docker's own parser is Go; this follows its line rules (continuations,
//! comments, case-insensitive instructions).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::error;
use crate::model::{Dependency, DependencyKind, Ecosystem, ManifestError, SkipReason};

/// Parses a Dockerfile.
pub fn parse(file: &Path, text: &str) -> Result<Vec<Dependency>, ManifestError> {
    let mut args: BTreeMap<String, String> = BTreeMap::new();
    let mut stages: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    for (line, instruction) in instructions(text) {
        let (keyword, rest) = instruction
            .split_once(char::is_whitespace)
            .unwrap_or((instruction.as_str(), ""));
        let rest = rest.trim();
        match keyword.to_ascii_uppercase().as_str() {
            "ARG" => {
                for arg in rest.split_whitespace() {
                    if let Some((name, value)) = arg.split_once('=') {
                        args.insert(name.to_owned(), value.trim_matches('"').to_owned());
                    }
                }
            }
            "FROM" => {
                let words: Vec<&str> = rest
                    .split_whitespace()
                    .filter(|w| !w.starts_with("--"))
                    .collect();
                let (image, alias) = match words.as_slice() {
                    [image] => (*image, None),
                    [image, as_, alias] if as_.eq_ignore_ascii_case("as") => (*image, Some(*alias)),
                    _ => {
                        return Err(error(file, Some(line), format!("invalid FROM `{rest}`")));
                    }
                };
                out.push(image_dependency(file, image, line, &args, &stages));
                if let Some(alias) = alias {
                    stages.insert(alias.to_ascii_lowercase());
                }
            }
            "COPY" => {
                let from = rest
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("--from="));
                // `--from=0` or `--from=builder` name a stage; an image has a tag or a path.
                if let Some(from) = from.filter(|f| f.contains(':') || f.contains('/')) {
                    out.push(image_dependency(file, from, line, &args, &stages));
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Logical instructions with the line they start on: continuations joined, comments and
/// blank lines dropped.
fn instructions(text: &str) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let mut current: Option<(u32, String)> = None;
    for (index, raw) in text.lines().enumerate() {
        let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let trimmed = raw.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_none()) {
            continue;
        }
        let (start, mut buffer) = current.take().unwrap_or((number, String::new()));
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                buffer.push_str(head);
                buffer.push(' ');
                current = Some((start, buffer));
            }
            None => {
                buffer.push_str(trimmed);
                out.push((start, buffer));
            }
        }
    }
    out.extend(current);
    out
}

fn image_dependency(
    file: &Path,
    reference: &str,
    line: u32,
    args: &BTreeMap<String, String>,
    stages: &BTreeSet<String>,
) -> Dependency {
    let new = |name: &str, tag: &str| {
        Dependency::new(
            Ecosystem::Docker,
            name,
            tag,
            file,
            line,
            DependencyKind::Image,
        )
    };
    let Some(resolved) = substitute(reference, args) else {
        return new(reference, "").skipped(SkipReason::UnresolvedVariable(reference.to_owned()));
    };
    if stages.contains(&resolved.to_ascii_lowercase()) {
        return new(&resolved, "").skipped(SkipReason::BuildStage);
    }
    if resolved.eq_ignore_ascii_case("scratch") {
        return new(&resolved, "").skipped(SkipReason::Scratch);
    }
    let (without_digest, digest) = match resolved.split_once('@') {
        Some((image, digest)) => (image, Some(digest.to_owned())),
        None => (resolved.as_str(), None),
    };
    // A tag follows the last `:` after the last `/` (a registry host may carry a port).
    let last_slash = without_digest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match without_digest[last_slash..].rfind(':') {
        Some(i) => (
            &without_digest[..last_slash + i],
            &without_digest[last_slash + i + 1..],
        ),
        None => (without_digest, ""),
    };
    let mut dep = new(name, tag);
    dep.digest = digest;
    dep.skip_reason = match (tag, &dep.digest) {
        ("", Some(_)) => Some(SkipReason::DockerReference),
        ("" | "latest", None) => Some(SkipReason::NotAVersion(if tag.is_empty() {
            "latest".to_owned()
        } else {
            tag.to_owned()
        })),
        _ => None,
    };
    dep
}

/// Replaces `$NAME`, `${NAME}` and `${NAME:-default}`; `None` when a variable has no value.
fn substitute(reference: &str, args: &BTreeMap<String, String>) -> Option<String> {
    let mut out = String::with_capacity(reference.len());
    let mut rest = reference;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        let (expression, consumed) = if let Some(braced) = after.strip_prefix('{') {
            let end = braced.find('}')?;
            (&braced[..end], end + 2)
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        let (name, default) = match expression.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (expression, None),
        };
        let value = args
            .get(name)
            .filter(|v| !v.is_empty())
            .map(String::as_str)
            .or(default)?;
        out.push_str(value);
        rest = &after[consumed..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_stage_with_args_platform_and_digests() {
        let text = "# syntax=docker/dockerfile:1\n\
ARG NODE_VERSION=20.11.0\n\
ARG DISTRO\n\
FROM --platform=$BUILDPLATFORM node:${NODE_VERSION}-alpine AS build\n\
RUN npm ci\n\
FROM build AS test\n\
FROM gcr.io/distroless/nodejs20-debian12:nonroot@sha256:abc123 AS runtime\n\
COPY --from=build /app /app\n\
COPY --from=docker.io/library/busybox:1.36 /bin/sh /bin/sh\n\
FROM debian:${DISTRO}\n\
FROM scratch\n\
FROM \\\n  localhost:5000/team/tool:1.2.3\n";
        let deps = parse(Path::new("Dockerfile"), text).unwrap();
        let got: Vec<_> = deps
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
                ("node", "20.11.0-alpine", 4, None),
                ("build", "", 6, Some(SkipReason::BuildStage)),
                ("gcr.io/distroless/nodejs20-debian12", "nonroot", 7, None),
                ("docker.io/library/busybox", "1.36", 9, None),
                (
                    "debian:${DISTRO}",
                    "",
                    10,
                    Some(SkipReason::UnresolvedVariable("debian:${DISTRO}".into()))
                ),
                ("scratch", "", 11, Some(SkipReason::Scratch)),
                ("localhost:5000/team/tool", "1.2.3", 12, None),
            ]
        );
        assert_eq!(deps[2].digest.as_deref(), Some("sha256:abc123"));
    }

    #[test]
    fn invalid_from_names_the_line() {
        let err = parse(Path::new("Dockerfile"), "FROM a b c d\n").unwrap_err();
        assert_eq!(err.line, Some(1));
    }
}
