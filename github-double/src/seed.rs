//! The control API's request shapes, and a seed: repositories, files, branch heads and check
//! runs to create at start (the binary's `--seed` file), in the same shapes.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{DoubleError, Result};
use crate::records::{CheckConclusion, CheckStatus, RepoOptions};
use crate::state::State;

/// `POST /_double/repos`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRepo {
    pub owner: String,
    pub name: String,
    #[serde(flatten)]
    pub options: RepoOptions,
}

/// `PUT /_double/repos/{owner}/{repo}/files`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutFile {
    /// A branch (created from the default branch if new) or a commit sha; defaults to the
    /// default branch.
    #[serde(rename = "ref", default)]
    pub git_ref: Option<String>,
    pub path: String,
    pub content: String,
}

/// `PUT /_double/repos/{owner}/{repo}/branches/{branch}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchHead {
    pub sha: String,
}

/// `PUT /_double/repos/{owner}/{repo}/installed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    pub installed: bool,
}

/// `POST /_double/check-runs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCheckRun {
    pub owner: String,
    pub repo: String,
    /// A commit sha or a branch name (its head).
    pub sha: String,
    pub name: String,
    pub status: CheckStatus,
    #[serde(default)]
    pub conclusion: Option<CheckConclusion>,
}

/// `POST /_double/faults`: the next `count` API requests whose path starts with `path_prefix`
/// are answered `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewFault {
    pub path_prefix: String,
    pub status: u16,
    pub count: usize,
}

/// A file in a seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedFile {
    pub owner: String,
    pub repo: String,
    #[serde(flatten)]
    pub file: PutFile,
}

/// A branch head in a seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedBranch {
    pub owner: String,
    pub repo: String,
    pub branch: String,
    pub sha: String,
}

/// What to create at start, applied in order: repositories, branch heads, files, check runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    #[serde(default)]
    pub repos: Vec<NewRepo>,
    #[serde(default)]
    pub branches: Vec<SeedBranch>,
    #[serde(default)]
    pub files: Vec<SeedFile>,
    #[serde(default)]
    pub check_runs: Vec<NewCheckRun>,
}

impl Seed {
    pub fn from_json(text: &str) -> Result<Self> {
        Ok(serde_json::from_str(text)?)
    }

    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| DoubleError::SeedRead {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&text)
    }

    pub(crate) fn apply(&self, state: &mut State) -> Result<()> {
        for repo in &self.repos {
            state.add_repo(&repo.owner, &repo.name, repo.options.clone())?;
        }
        for branch in &self.branches {
            state.set_branch_head(&branch.owner, &branch.repo, &branch.branch, &branch.sha)?;
        }
        for file in &self.files {
            state.put_file(
                &file.owner,
                &file.repo,
                file.file.git_ref.as_deref(),
                &file.file.path,
                file.file.content.as_bytes(),
            )?;
        }
        for run in &self.check_runs {
            state.set_check_run(
                &run.owner,
                &run.repo,
                &run.sha,
                &run.name,
                run.status,
                run.conclusion,
            )?;
        }
        Ok(())
    }
}
