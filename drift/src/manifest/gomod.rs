//! `go.mod`: `require` lines and blocks with `// indirect`; modules that a `replace`
//! directive points to a local path are skipped, pseudo-versions too. The go.mod grammar is
//! line-based (no maintained Rust crate parses it), so this reads it line by line.

use std::collections::BTreeSet;
use std::path::Path;

use super::error;
use crate::model::{Dependency, DependencyKind, Ecosystem, ManifestError, SkipReason};

#[derive(Clone, Copy, PartialEq)]
enum Block {
    None,
    Require,
    Replace,
    Other,
}

/// Parses a `go.mod`.
pub fn parse(file: &Path, text: &str) -> Result<Vec<Dependency>, ManifestError> {
    let mut block = Block::None;
    let mut out = Vec::new();
    let mut replaced = BTreeSet::new();
    for (index, raw) in text.lines().enumerate() {
        let line = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let (code, comment) = match raw.find("//") {
            Some(i) => (raw[..i].trim(), raw[i + 2..].trim()),
            None => (raw.trim(), ""),
        };
        if code.is_empty() {
            continue;
        }
        if block != Block::None {
            if code == ")" {
                block = Block::None;
                continue;
            }
            match block {
                Block::Require => out.push(require(file, code, comment, line)?),
                Block::Replace => {
                    replaced.extend(replace(code));
                }
                _ => {}
            }
            continue;
        }
        let (keyword, rest) = code.split_once(char::is_whitespace).unwrap_or((code, ""));
        let rest = rest.trim();
        let opens = rest == "(";
        match (keyword, opens) {
            ("require", true) => block = Block::Require,
            ("replace", true) => block = Block::Replace,
            (_, true) => block = Block::Other,
            ("require", false) => out.push(require(file, rest, comment, line)?),
            ("replace", false) => replaced.extend(replace(rest)),
            ("module" | "go" | "toolchain" | "exclude" | "retract" | "godebug" | "tool", _) => {}
            _ => {
                return Err(error(
                    file,
                    Some(line),
                    format!("unknown directive `{keyword}`"),
                ));
            }
        }
    }
    if block != Block::None {
        return Err(error(file, None, "unterminated block: missing `)`"));
    }
    for dep in &mut out {
        if dep.skip_reason.is_none() && replaced.contains(&dep.name) {
            dep.skip_reason = Some(SkipReason::Replaced);
        }
    }
    Ok(out)
}

fn require(file: &Path, code: &str, comment: &str, line: u32) -> Result<Dependency, ManifestError> {
    let mut parts = code.split_whitespace();
    let (Some(module), Some(version), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(error(
            file,
            Some(line),
            format!("expected `module version`, got `{code}`"),
        ));
    };
    let module = module.trim_matches('"');
    if !version.starts_with('v') {
        return Err(error(
            file,
            Some(line),
            format!("invalid version `{version}`"),
        ));
    }
    let kind = if comment.split(';').any(|c| c.trim() == "indirect") {
        DependencyKind::Indirect
    } else {
        DependencyKind::Normal
    };
    let dep = Dependency::new(Ecosystem::Go, module, version, file, line, kind);
    Ok(if is_pseudo_version(version) {
        dep.skipped(SkipReason::PseudoVersion)
    } else {
        dep
    })
}

/// `old [v] => new [v]`: the replaced module when the target is a local path.
fn replace(code: &str) -> Option<String> {
    let (old, new) = code.split_once("=>")?;
    let new = new.trim();
    let local = new.starts_with("./") || new.starts_with("../") || new.starts_with('/');
    let module = old.split_whitespace().next()?;
    local.then(|| module.to_owned())
}

/// `vX.Y.Z-yyyymmddhhmmss-abcdefabcdef` and its `-pre.0.`/`.0.` forms.
pub fn is_pseudo_version(version: &str) -> bool {
    let base = version.split('+').next().unwrap_or(version);
    let mut tail = base.rsplitn(3, ['-', '.']);
    let (Some(hash), Some(stamp)) = (tail.next(), tail.next()) else {
        return false;
    };
    let stamp = stamp.rsplit(['-', '.']).next().unwrap_or(stamp);
    hash.len() == 12
        && hash.chars().all(|c| c.is_ascii_hexdigit())
        && stamp.len() == 14
        && stamp.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_require_blocks_indirect_and_replace() {
        let text = "module example.com/svc\n\ngo 1.22\n\nrequire github.com/google/uuid v1.6.0\n\nrequire (\n\tgolang.org/x/net v0.17.0 // indirect\n\tgithub.com/gin-gonic/gin v1.9.1\n\tgithub.com/acme/fork v0.0.0-20231010120000-0123456789ab\n\texample.com/local v1.0.0\n)\n\nreplace example.com/local => ../local\n";
        let deps = parse(Path::new("go.mod"), text).unwrap();
        let got: Vec<_> = deps
            .iter()
            .map(|d| (d.name.as_str(), d.line, d.kind, d.skip_reason.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("github.com/google/uuid", 5, DependencyKind::Normal, None),
                ("golang.org/x/net", 8, DependencyKind::Indirect, None),
                ("github.com/gin-gonic/gin", 9, DependencyKind::Normal, None),
                (
                    "github.com/acme/fork",
                    10,
                    DependencyKind::Normal,
                    Some(SkipReason::PseudoVersion)
                ),
                (
                    "example.com/local",
                    11,
                    DependencyKind::Normal,
                    Some(SkipReason::Replaced)
                ),
            ]
        );
    }

    #[test]
    fn pseudo_versions() {
        assert!(is_pseudo_version("v0.0.0-20231010120000-0123456789ab"));
        assert!(is_pseudo_version("v1.2.4-0.20231010120000-0123456789ab"));
        assert!(is_pseudo_version(
            "v1.2.3-pre.0.20231010120000-0123456789ab"
        ));
        assert!(!is_pseudo_version("v1.2.3"));
        assert!(!is_pseudo_version("v1.2.3-rc.1"));
    }

    #[test]
    fn bad_require_names_the_line() {
        let err = parse(
            Path::new("go.mod"),
            "module x\n\nrequire (\n\tgithub.com/a\n)\n",
        )
        .unwrap_err();
        assert_eq!(err.line, Some(4));
    }
}
