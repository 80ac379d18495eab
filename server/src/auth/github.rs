//! Sign-in with GitHub: the OAuth web flow (with `state` and PKCE), the person's verified
//! primary e-mail, and their roles taken from the GitHub organisation's teams (team maintainers
//! are team admins, members deployers; organisation owners are Canopy organisation admins). The
//! token exchange is a plain form POST; the API calls go through octocrab. Both base URLs are
//! configurable (GitHub Enterprise Server, and the tests' local GitHub double).

use app::api::{auth::Role, TeamName};
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::accounts::random_secret;

/// `CANOPY_GITHUB_*`: the OAuth app (or GitHub App user sign-in) Canopy uses.
#[derive(Debug, Clone)]
pub struct GithubSettings {
    pub client_id: String,
    pub client_secret: SecretString,
    /// Only members of this organisation may sign in; its teams become Canopy roles.
    pub org: String,
    /// `https://github.com` (the authorize and token endpoints).
    pub web_url: url::Url,
    /// `https://api.github.com` (or `https://HOST/api/v3` on GitHub Enterprise Server).
    pub api_url: url::Url,
    /// How often a signed-in person's organisation membership and team roles are read again
    /// from GitHub (with their own token, kept in their server-side session).
    pub refresh_every: time::Duration,
}

/// How a GitHub sign-in fails; every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    #[error("GitHub sign-in was cancelled (GitHub said: {0}). Nothing changed; try again, or sign in with a Canopy account.")]
    Denied(String),
    #[error("This GitHub sign-in did not start here (or it expired): start again from the sign-in page.")]
    StateMismatch,
    #[error("GitHub refused the sign-in code ({0}); start again from the sign-in page.")]
    CodeRefused(String),
    #[error("{login} is not a member of the GitHub organisation {org}; ask one of its owners to add you, or ask a Canopy admin for an invite.")]
    NotInOrg { login: String, org: String },
    #[error(
        "GitHub has no verified primary e-mail for {0}; verify one at GitHub and sign in again."
    )]
    NoVerifiedEmail(String),
    #[error("GitHub could not be reached at {url}: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the GitHub API: {0}")]
    Api(#[from] octocrab::Error),
}

/// What the session keeps between sending the person to GitHub and their return.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingSignIn {
    pub state: String,
    pub verifier: String,
    pub next: String,
}

/// The person GitHub vouched for.
#[derive(Debug, Clone, PartialEq)]
pub struct GithubIdentity {
    pub id: i64,
    pub login: String,
    pub email: String,
    pub org_admin: bool,
    pub teams: Vec<(TeamName, Role)>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct GhUser {
    id: i64,
    login: String,
}

#[derive(Deserialize)]
struct GhEmail {
    email: String,
    primary: bool,
    verified: bool,
}

#[derive(Deserialize)]
struct GhMembership {
    state: String,
    role: String,
}

#[derive(Deserialize)]
struct GhOrg {
    login: String,
}

#[derive(Deserialize)]
struct GhTeam {
    slug: String,
    organization: GhOrg,
}

/// S256 PKCE challenge of `verifier` (RFC 7636).
pub fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[derive(Clone)]
pub struct GithubSignIn {
    settings: GithubSettings,
    http: reqwest::Client,
}

impl GithubSignIn {
    pub fn new(settings: GithubSettings) -> Self {
        Self {
            settings,
            http: reqwest::Client::new(),
        }
    }

    /// Where to send the person, and what to remember until they come back.
    pub fn start(&self, redirect_uri: &str, next: String) -> (url::Url, PendingSignIn) {
        let pending = PendingSignIn {
            state: random_secret(24),
            verifier: random_secret(48),
            next,
        };
        let mut url = self.settings.web_url.clone();
        url.set_path("/login/oauth/authorize");
        url.query_pairs_mut()
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", "read:user user:email read:org")
            .append_pair("state", &pending.state)
            .append_pair("code_challenge", &pkce_challenge(&pending.verifier))
            .append_pair("code_challenge_method", "S256")
            .append_pair("allow_signup", "false");
        (url, pending)
    }

    /// Checks the returned `state`, exchanges the code (with the PKCE verifier) and reads who
    /// the person is at GitHub.
    pub async fn finish(
        &self,
        pending: &PendingSignIn,
        state: &str,
        code: &str,
        redirect_uri: &str,
    ) -> Result<(GithubIdentity, SecretString), GithubError> {
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            pending.state.as_bytes(),
            state.as_bytes(),
        )) {
            return Err(GithubError::StateMismatch);
        }
        let token = self.exchange(code, &pending.verifier, redirect_uri).await?;
        Ok((self.identity(&token).await?, token))
    }

    pub fn refresh_every(&self) -> time::Duration {
        self.settings.refresh_every
    }

    async fn exchange(
        &self,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<SecretString, GithubError> {
        let mut url = self.settings.web_url.clone();
        url.set_path("/login/oauth/access_token");
        let answer: TokenAnswer = self
            .http
            .post(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[
                ("client_id", self.settings.client_id.as_str()),
                ("client_secret", self.settings.client_secret.expose_secret()),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|source| GithubError::Unreachable {
                url: url.to_string(),
                source,
            })?
            .json()
            .await
            .map_err(|source| GithubError::Unreachable {
                url: url.to_string(),
                source,
            })?;
        match (answer.access_token, answer.error) {
            (Some(token), None) => Ok(SecretString::from(token)),
            (_, error) => Err(GithubError::CodeRefused(
                answer
                    .error_description
                    .or(error)
                    .unwrap_or_else(|| "no token in the answer".to_owned()),
            )),
        }
    }

    /// Who the token's owner is at GitHub: account, membership, verified e-mail, teams.
    pub async fn identity(&self, token: &SecretString) -> Result<GithubIdentity, GithubError> {
        let github = octocrab::Octocrab::builder()
            .base_uri(self.settings.api_url.as_str())?
            .personal_token(token.expose_secret().to_owned())
            .build()?;
        let user: GhUser = github.get("/user", None::<&()>).await?;
        let org = &self.settings.org;
        let membership: Result<GhMembership, octocrab::Error> = github
            .get(format!("/user/memberships/orgs/{org}"), None::<&()>)
            .await;
        let membership = match membership {
            Ok(m) if m.state == "active" => m,
            Ok(_) => {
                return Err(GithubError::NotInOrg {
                    login: user.login,
                    org: org.clone(),
                })
            }
            Err(octocrab::Error::GitHub { source, .. })
                if matches!(source.status_code.as_u16(), 403 | 404) =>
            {
                return Err(GithubError::NotInOrg {
                    login: user.login,
                    org: org.clone(),
                })
            }
            Err(other) => return Err(other.into()),
        };
        let emails: Vec<GhEmail> = github.get("/user/emails", None::<&()>).await?;
        let email = emails
            .into_iter()
            .find(|e| e.primary && e.verified)
            .map(|e| e.email)
            .ok_or_else(|| GithubError::NoVerifiedEmail(user.login.clone()))?;
        let all_teams: Vec<GhTeam> = github.get("/user/teams", None::<&()>).await?;
        let mut teams = Vec::new();
        for team in all_teams
            .into_iter()
            .filter(|t| t.organization.login.eq_ignore_ascii_case(org))
        {
            let Ok(name) = TeamName::parse(&team.slug) else {
                tracing::warn!(slug = %team.slug, "a GitHub team's slug is not a Canopy team name; skipped");
                continue;
            };
            let member: GhMembership = github
                .get(
                    format!("/orgs/{org}/teams/{}/memberships/{}", team.slug, user.login),
                    None::<&()>,
                )
                .await?;
            if member.state != "active" {
                continue;
            }
            let role = if member.role == "maintainer" {
                Role::Admin
            } else {
                Role::Deployer
            };
            teams.push((name, role));
        }
        Ok(GithubIdentity {
            id: user.id,
            login: user.login,
            email,
            org_admin: membership.role == "admin",
            teams,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_challenge_is_rfc_7636_s256() {
        // The example of RFC 7636, appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn the_authorize_url_carries_state_and_an_s256_challenge() {
        let sign_in = GithubSignIn::new(GithubSettings {
            client_id: "Iv1.abc".into(),
            client_secret: SecretString::from("s".to_owned()),
            org: "acme".into(),
            web_url: url::Url::parse("https://github.example").expect("url"),
            api_url: url::Url::parse("https://api.github.example").expect("url"),
            refresh_every: time::Duration::hours(1),
        });
        let (url, pending) =
            sign_in.start("https://canopy.example/auth/github/callback", "/".into());
        let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(url.path(), "/login/oauth/authorize");
        assert_eq!(query["state"], pending.state);
        assert_eq!(query["code_challenge"], pkce_challenge(&pending.verifier));
        assert_eq!(query["code_challenge_method"], "S256");
        assert!(
            pending.verifier.len() >= 43,
            "RFC 7636: 43 to 128 characters"
        );
    }
}
