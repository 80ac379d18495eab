//! Typed GitHub names, parsed once where they enter: a repository (`owner/name`), a branch, a
//! file path in a repository, and the image template a push fills with its commit.

use std::fmt;

use app::api::spec::ImageRef;

use super::GithubError;

/// `owner/name`, as GitHub spells them: the owner is letters, digits and single hyphens (at
/// most 39); the name is letters, digits, `.`, `_` and `-` (at most 100, not `.` or `..`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepoName {
    owner: String,
    name: String,
}

impl RepoName {
    pub fn parse(raw: &str) -> Result<Self, GithubError> {
        let raw = raw
            .trim()
            .trim_start_matches("https://github.com/")
            .trim_end_matches('/')
            .trim_end_matches(".git");
        let invalid = |message: &str| GithubError::InvalidInput {
            field: "repo",
            message: format!("{raw:?}: {message} (expected owner/name, e.g. acme/checkout)"),
        };
        let (owner, name) = raw
            .split_once('/')
            .ok_or_else(|| invalid("has no '/' between the owner and the name"))?;
        Self::new(owner, name).map_err(|_| invalid("is not a GitHub repository name"))
    }

    pub fn new(owner: &str, name: &str) -> Result<Self, GithubError> {
        let owner_ok = !owner.is_empty()
            && owner.len() <= 39
            && owner.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !owner.starts_with('-')
            && !owner.ends_with('-')
            && !owner.contains("--");
        let name_ok = !name.is_empty()
            && name.len() <= 100
            && name != "."
            && name != ".."
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if owner_ok && name_ok {
            Ok(Self {
                owner: owner.to_owned(),
                name: name.to_owned(),
            })
        } else {
            Err(GithubError::InvalidInput {
                field: "repo",
                message: format!(
                    "{owner}/{name} is not a GitHub repository name (owner: letters, digits and \
                     hyphens; name: letters, digits, '.', '_' and '-')"
                ),
            })
        }
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `https://github.com/owner/name` on github.com (pages link there).
    pub fn html_url(&self) -> String {
        format!("https://github.com/{self}")
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// A branch, tag or commit as git allows it in a ref (no spaces, `..`, `~^:?*[\`, control
/// characters; not starting with `-` or `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRef(String);

impl GitRef {
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, GithubError> {
        let raw = raw.trim();
        let ok = !raw.is_empty()
            && raw.len() <= 255
            && !raw.starts_with(['-', '/'])
            && !raw.ends_with(['/', '.'])
            && !raw.contains("..")
            && !raw.contains("@{")
            && !raw
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\".contains(c));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(GithubError::InvalidInput {
                field,
                message: format!(
                    "{raw:?} is not a git branch, tag or commit (no spaces, '..', or any of ~^:?*[\\)"
                ),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GitRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The path of a file in a repository: relative, `/`-separated, no `..`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoPath(String);

impl RepoPath {
    pub const DEFAULT: &'static str = "canopy.yaml";

    pub fn parse(raw: &str) -> Result<Self, GithubError> {
        let raw = raw.trim().trim_start_matches('/');
        let raw = if raw.is_empty() { Self::DEFAULT } else { raw };
        let ok = raw.len() <= 255
            && raw
                .split('/')
                .all(|part| !part.is_empty() && part != "." && part != "..")
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(GithubError::InvalidInput {
                field: "path",
                message: format!(
                    "{raw:?} is not a file path in a repository (relative, '/'-separated, no '..')"
                ),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The image a push deploys, e.g. `ghcr.io/acme/checkout:{sha}`: `{sha}` (the full commit) or
/// `{short_sha}` (its first 7 characters) must appear, so each push names its own image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageTemplate(String);

impl ImageTemplate {
    pub fn parse(raw: &str) -> Result<Self, GithubError> {
        let raw = raw.trim();
        let invalid = |message: String| GithubError::InvalidInput {
            field: "image_template",
            message,
        };
        if !raw.contains("{sha}") && !raw.contains("{short_sha}") {
            return Err(invalid(format!(
                "{raw:?} must contain {{sha}} or {{short_sha}}, e.g. ghcr.io/acme/checkout:{{sha}}"
            )));
        }
        // The template must give a valid image for a real commit.
        let template = Self(raw.to_owned());
        template
            .image_for("0123456789abcdef0123456789abcdef01234567")
            .map_err(|error| invalid(format!("{raw:?} does not make a valid image: {error}")))?;
        Ok(template)
    }

    /// The image for commit `sha`.
    pub fn image_for(&self, sha: &str) -> Result<ImageRef, String> {
        let short: String = sha.chars().take(7).collect();
        let image = self.0.replace("{sha}", sha).replace("{short_sha}", &short);
        ImageRef::parse(&image).map_err(|refusal| format!("the image {image:?} {}", refusal.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A commit id as webhooks carry it: 40 (SHA-1) or 64 (SHA-256) hexadecimal characters.
pub fn is_commit_sha(raw: &str) -> bool {
    matches!(raw.len(), 40 | 64) && raw.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_are_checked_and_urls_accepted() {
        let repo = RepoName::parse("https://github.com/acme/checkout.git").expect("valid");
        assert_eq!(repo.to_string(), "acme/checkout");
        for bad in [
            "acme",
            "acme/",
            "/checkout",
            "ac me/x",
            "acme/che ckout",
            "-acme/x",
            "a/..",
        ] {
            let error = RepoName::parse(bad).expect_err(bad).to_string();
            assert!(error.starts_with("repo: "), "{bad}: {error}");
        }
    }

    #[test]
    fn refs_and_paths_refuse_what_git_refuses() {
        assert!(GitRef::parse("ref", "feature/login-2").is_ok());
        for bad in ["", "a b", "a..b", "-x", "x~1", "x:y", "x/"] {
            assert!(GitRef::parse("ref", bad).is_err(), "{bad}");
        }
        assert_eq!(
            RepoPath::parse("").expect("default").as_str(),
            "canopy.yaml"
        );
        assert_eq!(
            RepoPath::parse("/deploy/canopy.yaml").expect("ok").as_str(),
            "deploy/canopy.yaml"
        );
        for bad in ["../secrets", "a//b", "a/./b", "a?b"] {
            assert!(RepoPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn image_templates_need_the_commit_and_make_valid_images() {
        let template = ImageTemplate::parse("ghcr.io/acme/checkout:{short_sha}").expect("valid");
        let image = template
            .image_for("3f786850e387550fdab836ed7e6dc881de23001b")
            .expect("image");
        assert_eq!(image.as_str(), "ghcr.io/acme/checkout:3f78685");
        let error = ImageTemplate::parse("ghcr.io/acme/checkout:latest").expect_err("no sha");
        assert!(error.to_string().contains("{sha}"), "{error}");
        assert!(ImageTemplate::parse("ghcr.io/ACME/x y:{sha}").is_err());
        assert!(is_commit_sha("3f786850e387550fdab836ed7e6dc881de23001b"));
        assert!(!is_commit_sha("main"));
    }
}
