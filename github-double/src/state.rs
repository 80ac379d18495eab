//! The double's in-memory GitHub: owners and their installation, repositories with branches,
//! commits and files, check runs, deployments, comments, issued tokens, faults and the request log.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use rand::distributions::Alphanumeric;
use rand::Rng;
use sha1::{Digest, Sha1};
use time::OffsetDateTime;

use crate::error::{DoubleError, Result};
use crate::records::{
    AddedRepo, CheckConclusion, CheckStatus, RecordedCheckRun, RecordedComment, RecordedDeployment,
    RecordedRequest, RepoOptions,
};

/// GitHub's installation tokens last one hour.
pub(crate) const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

pub(crate) struct Owner {
    pub login: String,
    pub id: u64,
    pub installation_id: u64,
    pub installation_created_at: OffsetDateTime,
}

pub(crate) struct Repo {
    pub id: u64,
    pub owner: String,
    pub name: String,
    pub private: bool,
    pub installed: bool,
    pub default_branch: String,
    pub created_at: OffsetDateTime,
    pub pushed_at: OffsetDateTime,
    /// Branch name to head commit sha.
    pub branches: BTreeMap<String, String>,
    /// Branch name to the head it had before the last `set_branch_head`.
    pub previous_heads: HashMap<String, String>,
    /// Commit sha to its files (path to content).
    pub commits: HashMap<String, BTreeMap<String, Vec<u8>>>,
    pub check_runs: Vec<RecordedCheckRun>,
    /// Oldest first.
    pub deployments: Vec<RecordedDeployment>,
    /// Oldest first.
    pub comments: Vec<RecordedComment>,
}

impl Repo {
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// A branch name resolves to its head; anything else is taken as a commit sha.
    pub fn resolve_ref(&self, git_ref: &str) -> String {
        let name = git_ref.strip_prefix("refs/heads/").unwrap_or(git_ref);
        self.branches
            .get(name)
            .cloned()
            .unwrap_or_else(|| git_ref.to_owned())
    }

    /// The files at a branch or commit sha, if the double knows it.
    pub fn tree(&self, git_ref: &str) -> Option<&BTreeMap<String, Vec<u8>>> {
        self.commits.get(&self.resolve_ref(git_ref))
    }
}

pub(crate) struct IssuedToken {
    pub installation_id: u64,
    pub expires_at: OffsetDateTime,
    /// Repository names the token was narrowed to when it was created.
    pub repositories: Option<Vec<String>>,
}

pub(crate) struct Fault {
    pub path_prefix: String,
    pub status: u16,
    pub remaining: usize,
}

pub(crate) struct State {
    next_id: u64,
    /// Keyed by lower-case login: GitHub matches owner and repository names case-insensitively.
    pub owners: BTreeMap<String, Owner>,
    pub repos: BTreeMap<(String, String), Repo>,
    pub tokens: HashMap<String, IssuedToken>,
    pub tokens_issued: HashMap<u64, usize>,
    pub token_lifetime: Duration,
    pub faults: Vec<Fault>,
    pub requests: Vec<RecordedRequest>,
}

pub(crate) fn repo_key(owner: &str, repo: &str) -> (String, String) {
    (owner.to_lowercase(), repo.to_lowercase())
}

pub(crate) fn random_sha() -> String {
    let bytes: [u8; 20] = rand::thread_rng().gen();
    hex::encode(bytes)
}

/// The git blob id GitHub reports as a file's `sha`.
pub(crate) fn blob_sha(content: &[u8]) -> String {
    let mut hasher = Sha1::new();
    hasher.update(format!("blob {}\0", content.len()).as_bytes());
    hasher.update(content);
    hex::encode(hasher.finalize())
}

/// Now, to the second (GitHub's timestamps carry no fractions).
pub(crate) fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

impl State {
    pub fn new() -> Self {
        Self {
            next_id: 1_000_001,
            owners: BTreeMap::new(),
            repos: BTreeMap::new(),
            tokens: HashMap::new(),
            tokens_issued: HashMap::new(),
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            faults: Vec::new(),
            requests: Vec::new(),
        }
    }

    pub fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub fn repo(&self, owner: &str, repo: &str) -> Option<&Repo> {
        self.repos.get(&repo_key(owner, repo))
    }

    pub fn repo_mut(&mut self, owner: &str, repo: &str) -> Option<&mut Repo> {
        self.repos.get_mut(&repo_key(owner, repo))
    }

    pub fn known_repo_mut(&mut self, owner: &str, repo: &str) -> Result<&mut Repo> {
        self.repos
            .get_mut(&repo_key(owner, repo))
            .ok_or_else(|| DoubleError::UnknownRepo {
                owner: owner.to_owned(),
                repo: repo.to_owned(),
            })
    }

    pub fn owner(&self, login: &str) -> Option<&Owner> {
        self.owners.get(&login.to_lowercase())
    }

    pub fn owner_of_installation(&self, installation_id: u64) -> Option<&Owner> {
        self.owners
            .values()
            .find(|owner| owner.installation_id == installation_id)
    }

    /// Installed repositories of an installation, in name order.
    pub fn installation_repos(&self, installation_id: u64) -> Vec<&Repo> {
        let Some(owner) = self.owner_of_installation(installation_id) else {
            return Vec::new();
        };
        let login = owner.login.to_lowercase();
        self.repos
            .iter()
            .filter(|((repo_owner, _), repo)| *repo_owner == login && repo.installed)
            .map(|(_, repo)| repo)
            .collect()
    }

    pub fn add_repo(&mut self, owner: &str, name: &str, options: RepoOptions) -> Result<AddedRepo> {
        validate_name("owner", owner)?;
        validate_name("name", name)?;
        validate_name("default_branch", &options.default_branch)?;
        let key = repo_key(owner, name);
        if self.repos.contains_key(&key) {
            return Err(DoubleError::RepoExists {
                owner: owner.to_owned(),
                repo: name.to_owned(),
            });
        }
        let owner_login = match self.owners.get(&key.0) {
            Some(existing) => existing.login.clone(),
            None => {
                let id = self.next_id();
                let installation_id = self.next_id();
                self.owners.insert(
                    key.0.clone(),
                    Owner {
                        login: owner.to_owned(),
                        id,
                        installation_id,
                        installation_created_at: now(),
                    },
                );
                owner.to_owned()
            }
        };
        let installation_id = self
            .owners
            .get(&key.0)
            .map(|owner| owner.installation_id)
            .unwrap_or_default();
        let id = self.next_id();
        let head = random_sha();
        let repo = Repo {
            id,
            owner: owner_login,
            name: name.to_owned(),
            private: options.private,
            installed: options.installed,
            default_branch: options.default_branch.clone(),
            created_at: now(),
            pushed_at: now(),
            branches: BTreeMap::from([(options.default_branch, head.clone())]),
            previous_heads: HashMap::new(),
            commits: HashMap::from([(head, BTreeMap::new())]),
            check_runs: Vec::new(),
            deployments: Vec::new(),
            comments: Vec::new(),
        };
        let full_name = repo.full_name();
        self.repos.insert(key, repo);
        Ok(AddedRepo {
            id,
            full_name,
            installation_id,
        })
    }

    /// Writes a file at a branch (created from the default branch if new) or a commit sha.
    /// The commit keeps its sha: files change in place, and `set_branch_head` moves on.
    pub fn put_file(
        &mut self,
        owner: &str,
        repo: &str,
        git_ref: Option<&str>,
        path: &str,
        content: &[u8],
    ) -> Result<String> {
        let path = path.trim_matches('/');
        if path.is_empty() || path.split('/').any(|part| part.is_empty() || part == "..") {
            return Err(DoubleError::Invalid {
                field: "path",
                reason: format!("{path:?} is not a file path"),
            });
        }
        let repo = self.known_repo_mut(owner, repo)?;
        let git_ref = git_ref.unwrap_or(&repo.default_branch).to_owned();
        let sha = if let Some(head) = repo.branches.get(&git_ref) {
            head.clone()
        } else if is_sha(&git_ref) {
            git_ref
        } else {
            validate_name("ref", &git_ref)?;
            let base = repo.tree(&repo.default_branch).cloned().unwrap_or_default();
            let head = random_sha();
            repo.commits.insert(head.clone(), base);
            repo.branches.insert(git_ref, head.clone());
            head
        };
        repo.commits
            .entry(sha)
            .or_default()
            .insert(path.to_owned(), content.to_vec());
        repo.pushed_at = now();
        Ok(blob_sha(content))
    }

    /// Points a branch (created if new) at `sha`; a new sha starts with the branch's files.
    pub fn set_branch_head(
        &mut self,
        owner: &str,
        repo: &str,
        branch: &str,
        sha: &str,
    ) -> Result<()> {
        validate_name("branch", branch)?;
        if !is_sha(sha) {
            return Err(DoubleError::Invalid {
                field: "sha",
                reason: format!("{sha:?} is not a 40-character hex commit sha"),
            });
        }
        let repo = self.known_repo_mut(owner, repo)?;
        let current_files = repo
            .tree(branch)
            .or_else(|| repo.tree(&repo.default_branch))
            .cloned()
            .unwrap_or_default();
        repo.commits.entry(sha.to_owned()).or_insert(current_files);
        if let Some(previous) = repo.branches.insert(branch.to_owned(), sha.to_owned()) {
            if previous != sha {
                repo.previous_heads.insert(branch.to_owned(), previous);
            }
        }
        repo.pushed_at = now();
        Ok(())
    }

    pub fn set_installed(&mut self, owner: &str, repo: &str, installed: bool) -> Result<()> {
        self.known_repo_mut(owner, repo)?.installed = installed;
        Ok(())
    }

    /// Sets a check run on a commit; a run of the same name on that commit is replaced.
    pub fn set_check_run(
        &mut self,
        owner: &str,
        repo: &str,
        sha: &str,
        name: &str,
        status: CheckStatus,
        conclusion: Option<CheckConclusion>,
    ) -> Result<u64> {
        if (status == CheckStatus::Completed) != conclusion.is_some() {
            return Err(DoubleError::Invalid {
                field: "conclusion",
                reason: "a completed check run needs a conclusion, and only a completed one"
                    .to_owned(),
            });
        }
        let new_id = self.next_id();
        let repo = self.known_repo_mut(owner, repo)?;
        let sha = repo.resolve_ref(sha);
        let started_at = crate::payloads::timestamp(now());
        let completed_at = conclusion.map(|_| started_at.clone());
        let existing = repo
            .check_runs
            .iter_mut()
            .find(|run| run.head_sha == sha && run.name == name);
        let id = match existing {
            Some(run) => {
                run.status = status;
                run.conclusion = conclusion;
                run.completed_at = completed_at;
                run.id
            }
            None => {
                repo.check_runs.push(RecordedCheckRun {
                    id: new_id,
                    name: name.to_owned(),
                    head_sha: sha,
                    status,
                    conclusion,
                    started_at,
                    completed_at,
                });
                new_id
            }
        };
        Ok(id)
    }

    /// Consumes one use of the first fault whose prefix matches `path`.
    pub fn take_fault(&mut self, path: &str) -> Option<u16> {
        let fault = self
            .faults
            .iter_mut()
            .find(|fault| fault.remaining > 0 && path.starts_with(&fault.path_prefix))?;
        fault.remaining -= 1;
        let status = fault.status;
        self.faults.retain(|fault| fault.remaining > 0);
        Some(status)
    }

    /// Issues an installation token (`ghs_` and 36 alphanumerics).
    pub fn issue_token(
        &mut self,
        installation_id: u64,
        repositories: Option<Vec<String>>,
    ) -> (String, OffsetDateTime) {
        let random: String = rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(36)
            .map(char::from)
            .collect();
        let token = format!("ghs_{random}");
        let expires_at = now() + self.token_lifetime;
        self.tokens.insert(
            token.clone(),
            IssuedToken {
                installation_id,
                expires_at,
                repositories,
            },
        );
        *self.tokens_issued.entry(installation_id).or_default() += 1;
        (token, expires_at)
    }
}

pub(crate) fn is_sha(value: &str) -> bool {
    value.len() == 40 && value.bytes().all(|byte| byte.is_ascii_hexdigit())
}

/// Owner, repository and branch names: what GitHub allows, roughly (no slashes for owners and
/// repositories, nothing empty, no whitespace).
fn validate_name(field: &'static str, value: &str) -> Result<()> {
    let slash_allowed = matches!(field, "default_branch" | "branch" | "ref");
    let valid = !value.is_empty()
        && !value.starts_with('/')
        && !value.ends_with('/')
        && value
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && (slash_allowed || c != '/'));
    if valid {
        Ok(())
    } else {
        Err(DoubleError::Invalid {
            field,
            reason: format!("{value:?} is not a valid name"),
        })
    }
}
