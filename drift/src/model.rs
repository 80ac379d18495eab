//! The dependency model shared by parsers, lookups and reports: ecosystems, declared
//! dependencies with their file and line, skip reasons and manifest errors.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A package ecosystem: which manifest declared a dependency and which registry knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ecosystem {
    Cargo,
    Npm,
    Pypi,
    Go,
    Docker,
    GithubActions,
}

impl Ecosystem {
    /// Every ecosystem, in display order.
    pub const ALL: [Ecosystem; 6] = [
        Ecosystem::Cargo,
        Ecosystem::Npm,
        Ecosystem::Pypi,
        Ecosystem::Go,
        Ecosystem::Docker,
        Ecosystem::GithubActions,
    ];

    /// The stable name used in JSON and logs (`cargo`, `npm`, `pypi`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Ecosystem::Cargo => "cargo",
            Ecosystem::Npm => "npm",
            Ecosystem::Pypi => "pypi",
            Ecosystem::Go => "go",
            Ecosystem::Docker => "docker",
            Ecosystem::GithubActions => "github_actions",
        }
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a dependency is used by the project that declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DependencyKind {
    /// Needed at run time (`[dependencies]`, `dependencies`, `require`).
    Normal,
    /// Tests and tooling only (`[dev-dependencies]`, `devDependencies`, Poetry dev groups).
    Dev,
    /// Build scripts (`[build-dependencies]`).
    Build,
    /// Optional extras (`optionalDependencies`, `[project.optional-dependencies]`).
    Optional,
    /// `peerDependencies`.
    Peer,
    /// Go's `// indirect` requirements.
    Indirect,
    /// A container image (`FROM`, `COPY --from`).
    Image,
    /// A GitHub Actions `uses:` (an action or a reusable workflow).
    Action,
}

/// Why a declared dependency is not looked up in a registry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reason", content = "detail")]
pub enum SkipReason {
    /// A dependency on a local path (`path = ...`, `file:`, `./action`).
    Path,
    /// A dependency on a git repository rather than a registry release.
    Git,
    /// A direct URL (`pkg @ https://...`, a tarball).
    Url,
    /// Cargo `workspace = true`: judged once, where the workspace declares it.
    InheritedFromWorkspace,
    /// npm `workspace:` protocol: a package of the same repository.
    WorkspacePackage,
    /// A registry other than the ecosystem's default (`registry = "..."` in Cargo).
    CustomRegistry(String),
    /// `FROM <stage>`: a build stage of the same Dockerfile.
    BuildStage,
    /// `FROM scratch`.
    Scratch,
    /// An image given by digest only, or a `docker://` action.
    DockerReference,
    /// No version is declared and no lockfile says which is used.
    UnspecifiedVersion,
    /// Go pseudo-version (a commit, not a release).
    PseudoVersion,
    /// A reference that is not a version (a branch name, `latest`).
    NotAVersion(String),
    /// A variable the parser could not resolve (`FROM node:${VERSION}` without a default).
    UnresolvedVariable(String),
    /// Go `replace` directive points elsewhere.
    Replaced,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::Path => f.write_str("local path dependency"),
            SkipReason::Git => f.write_str("git dependency"),
            SkipReason::Url => f.write_str("URL dependency"),
            SkipReason::InheritedFromWorkspace => {
                f.write_str("inherited from the workspace (judged where the workspace declares it)")
            }
            SkipReason::WorkspacePackage => f.write_str("package of the same workspace"),
            SkipReason::CustomRegistry(name) => write!(f, "custom registry {name}"),
            SkipReason::BuildStage => f.write_str("build stage of the same Dockerfile"),
            SkipReason::Scratch => f.write_str("scratch image"),
            SkipReason::DockerReference => f.write_str("image reference without a tag"),
            SkipReason::UnspecifiedVersion => f.write_str("no version declared or locked"),
            SkipReason::PseudoVersion => f.write_str("Go pseudo-version (a commit)"),
            SkipReason::NotAVersion(value) => write!(f, "{value:?} is not a version"),
            SkipReason::UnresolvedVariable(value) => write!(f, "unresolved variable in {value:?}"),
            SkipReason::Replaced => f.write_str("replaced by a go.mod replace directive"),
        }
    }
}

/// One dependency as a manifest declares it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dependency {
    /// The name the registry knows it by (`serde`, `@types/node`, `requests`,
    /// `golang.org/x/net`, `node` or `ghcr.io/org/image`, `actions/checkout`).
    pub name: String,
    pub ecosystem: Ecosystem,
    /// The version or range as written (`^1.2`, `>=2.31,<3`, `v0.17.0`, `20-alpine`, `v4`).
    /// For a SHA-pinned action with a version comment (`@<sha> # v4.1.0`), the comment's version.
    pub declared: String,
    /// The version a lockfile resolves it to, when one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked: Option<String>,
    /// A digest the reference is pinned to (`sha256:...` for images, a commit SHA for actions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The manifest that declares it, relative to the repository root.
    pub file: PathBuf,
    /// 1-based line of the declaration.
    pub line: u32,
    pub kind: DependencyKind,
    /// Python extras or Cargo features asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extras: Vec<String>,
    /// A PEP 508 environment marker or a Cargo `cfg(...)` target, when the dependency has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Set when the dependency is not looked up in a registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<SkipReason>,
}

impl Dependency {
    /// A dependency with the required fields; the rest are empty.
    pub fn new(
        ecosystem: Ecosystem,
        name: impl Into<String>,
        declared: impl Into<String>,
        file: impl Into<PathBuf>,
        line: u32,
        kind: DependencyKind,
    ) -> Self {
        Dependency {
            name: name.into(),
            ecosystem,
            declared: declared.into(),
            locked: None,
            digest: None,
            file: file.into(),
            line,
            kind,
            extras: Vec::new(),
            condition: None,
            skip_reason: None,
        }
    }

    /// The same dependency, not to be looked up for `reason`.
    pub fn skipped(mut self, reason: SkipReason) -> Self {
        self.skip_reason = Some(reason);
        self
    }
}

/// A manifest that could not be read: which file, where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{}{}: {message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ManifestError {
    pub file: PathBuf,
    /// 1-based line, when the parser knows it.
    pub line: Option<u32>,
    pub message: String,
}

/// What a scan of a repository found: the dependencies, and the files it could not read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScanInput {
    pub dependencies: Vec<Dependency>,
    pub errors: Vec<ManifestError>,
}
