//! Who is asking, and what they may do: the signed-in person (or API token) and their role in
//! each team. The rules are pure functions here so pages (which actions to offer) and the server
//! (which it enforces, regardless of what a page offers) use the same ones.

use std::collections::BTreeMap;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::{AppError, TeamName};

/// A role in one team; each includes the ones before it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads the team's services, energy and pages.
    Viewer,
    /// Also deploys, rolls back, restarts, scales and reads logs.
    Deployer,
    /// Also manages members, quotas, tokens, and deletes services.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Deployer, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Deployer => "deployer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == raw.trim())
    }
}

/// What an action needs in the team it touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Permission {
    /// Service, energy and team pages: every signed-in person (the catalogue is org-wide).
    Read,
    /// Deploy, preview, roll back, restart, scale, read logs.
    Deploy,
    /// Members, quotas, tokens, deleting services.
    Admin,
}

impl Permission {
    pub fn needs(self) -> Option<Role> {
        match self {
            Permission::Read => None,
            Permission::Deploy => Some(Role::Deployer),
            Permission::Admin => Some(Role::Admin),
        }
    }

    pub fn verb(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Deploy => "deploy to or read the logs of",
            Permission::Admin => "administer",
        }
    }
}

/// Scopes of API tokens; a token never does more than its owner may.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Read,
    Deploy,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Deploy, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Deploy => "deploy",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw.trim())
    }

    fn allows(self, permission: Permission) -> bool {
        match permission {
            Permission::Read => true,
            Permission::Deploy => self >= Scope::Deploy,
            Permission::Admin => self >= Scope::Admin,
        }
    }
}

/// The person (or token) behind a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub user_id: i64,
    pub username: String,
    /// Organisation admins may do everything in every team.
    pub org_admin: bool,
    pub teams: BTreeMap<TeamName, Role>,
    /// Set when an API token made the request: what it is limited to.
    pub token_scope: Option<Scope>,
    /// The client address of the request (for the audit log); never sent to the browser.
    #[serde(skip)]
    pub address: Option<String>,
}

impl Principal {
    /// How the audit log and deploy history name this principal.
    pub fn actor(&self) -> String {
        match self.token_scope {
            Some(scope) => format!("{} (token, {})", self.username, scope.as_str()),
            None => self.username.clone(),
        }
    }

    pub fn role_in(&self, team: &TeamName) -> Option<Role> {
        if self.org_admin {
            return Some(Role::Admin);
        }
        self.teams.get(team).copied()
    }

    /// Whether this principal may act on `team` with `permission`.
    pub fn may(&self, team: &TeamName, permission: Permission) -> bool {
        if let Some(scope) = self.token_scope {
            if !scope.allows(permission) {
                return false;
            }
        }
        match permission.needs() {
            None => true,
            Some(needed) => self.role_in(team).is_some_and(|role| role >= needed),
        }
    }

    /// Organisation-wide actions (users, invites, the org audit log).
    pub fn may_administer_org(&self) -> bool {
        self.org_admin && self.token_scope.is_none_or(|s| s == Scope::Admin)
    }

    /// `Ok` or a `Forbidden` error that says what is missing.
    pub fn require(&self, team: &TeamName, permission: Permission) -> Result<(), AppError> {
        if self.may(team, permission) {
            return Ok(());
        }
        let needed = permission.needs().map_or("member", Role::as_str);
        Err(AppError::Forbidden {
            message: match self.token_scope {
                Some(scope) if !scope.allows(permission) => format!(
                    "this API token has the {} scope; it cannot {} team {team}",
                    scope.as_str(),
                    permission.verb()
                ),
                _ => format!(
                    "{} may not {} team {team}: that needs the {needed} role in {team} (ask a team admin)",
                    self.username,
                    permission.verb()
                ),
            },
        })
    }
}

/// The session's token for forms that post without JavaScript (server only: the sign-in
/// middleware puts it in the request; `components::CsrfField` renders it into each form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrfToken(pub String);

/// The principal of the request being handled (server only): put there by the server's
/// sign-in middleware; none means the request is anonymous.
#[cfg(feature = "ssr")]
pub fn principal() -> Result<Principal, AppError> {
    use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Principal>().cloned())
        .ok_or(AppError::Unauthorized)
}

/// The signed-in person, for the page header and for offering only allowed actions.
#[server(prefix = "/api/fn", endpoint = "current_user")]
pub async fn current_user() -> Result<Principal, AppError> {
    principal()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team(name: &str) -> TeamName {
        TeamName::parse(name).expect("valid")
    }

    fn person(roles: &[(&str, Role)]) -> Principal {
        Principal {
            user_id: 1,
            username: "ana".into(),
            org_admin: false,
            teams: roles.iter().map(|(t, r)| (team(t), *r)).collect(),
            token_scope: None,
            address: None,
        }
    }

    #[test]
    fn roles_include_the_ones_below() {
        let viewer = person(&[("pay", Role::Viewer)]);
        assert!(viewer.may(&team("pay"), Permission::Read));
        assert!(!viewer.may(&team("pay"), Permission::Deploy));
        let deployer = person(&[("pay", Role::Deployer)]);
        assert!(deployer.may(&team("pay"), Permission::Deploy));
        assert!(!deployer.may(&team("pay"), Permission::Admin));
        let admin = person(&[("pay", Role::Admin)]);
        assert!(admin.may(&team("pay"), Permission::Admin));
    }

    #[test]
    fn a_role_in_one_team_gives_nothing_in_another() {
        let deployer = person(&[("pay", Role::Admin)]);
        assert!(!deployer.may(&team("search"), Permission::Deploy));
        assert!(
            deployer.may(&team("search"), Permission::Read),
            "reading is org-wide"
        );
        match deployer.require(&team("search"), Permission::Deploy) {
            Err(AppError::Forbidden { message }) => {
                assert!(message.contains("deployer role in search"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn org_admins_may_everything_and_tokens_never_exceed_their_scope() {
        let mut root = person(&[]);
        root.org_admin = true;
        assert!(root.may(&team("any"), Permission::Admin));
        root.token_scope = Some(Scope::Read);
        assert!(!root.may(&team("any"), Permission::Deploy));
        assert!(!root.may_administer_org());
        root.token_scope = Some(Scope::Deploy);
        assert!(root.may(&team("any"), Permission::Deploy));
        assert!(!root.may(&team("any"), Permission::Admin));
    }
}
