//! Local accounts: users with Argon2id password hashes (`password-auth`), team memberships,
//! the first admin, single-use invite links, the sign-in rate limit, and "sign out everywhere".

use std::{collections::BTreeMap, path::Path, sync::LazyLock};

use app::api::{
    auth::{Principal, Role},
    TeamName,
};
use base64::Engine;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use time::{Duration, OffsetDateTime};

use super::AuthError;

/// Failed sign-ins allowed per account, and per client address, within [`FAILURE_WINDOW`].
pub const MAX_FAILURES_PER_ACCOUNT: i64 = 5;
pub const MAX_FAILURES_PER_ADDRESS: i64 = 20;
pub const FAILURE_WINDOW: Duration = Duration::minutes(15);
/// How long an invite link works.
pub const INVITE_VALID_FOR: Duration = Duration::days(7);
pub const MIN_PASSWORD_CHARS: usize = 12;

/// A user name: 1 to 63 of `a-z`, `0-9`, `.`, `_`, `-`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, AuthError> {
        let raw = raw.trim();
        let ok = (1..=63).contains(&raw.len())
            && raw.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && raw.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
            });
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(AuthError::Invalid {
                field: "username",
                message: "use 1 to 63 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit".to_owned(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An e-mail address (where the team e-mails go), checked with lettre's address grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, AuthError> {
        let raw = raw.trim();
        raw.parse::<lettre::Address>()
            .map(|address| Self(address.to_string()))
            .map_err(|_| AuthError::Invalid {
                field: "email",
                message: format!("{raw:?} is not an e-mail address; use name@example.com"),
            })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password: at least [`MIN_PASSWORD_CHARS`] characters, at most 1024.
fn check_new_password(password: &SecretString) -> Result<(), AuthError> {
    let len = password.expose_secret().chars().count();
    if (MIN_PASSWORD_CHARS..=1024).contains(&len) {
        Ok(())
    } else {
        Err(AuthError::Invalid {
            field: "password",
            message: format!("use at least {MIN_PASSWORD_CHARS} characters (at most 1024)"),
        })
    }
}

/// A random secret of `bytes` bytes, URL-safe base64.
pub fn random_secret(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buffer);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buffer)
}

pub fn sha256(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

async fn hash_password(password: &SecretString) -> Result<String, AuthError> {
    let password = password.expose_secret().to_owned();
    tokio::task::spawn_blocking(move || password_auth::generate_hash(password))
        .await
        .map_err(|e| AuthError::Hashing(e.to_string()))
}

/// Verifies in a blocking thread (Argon2id takes tens of milliseconds by design).
async fn password_matches(password: &SecretString, hash: String) -> Result<bool, AuthError> {
    let password = password.expose_secret().to_owned();
    tokio::task::spawn_blocking(move || password_auth::verify_password(password, &hash).is_ok())
        .await
        .map_err(|e| AuthError::Hashing(e.to_string()))
}

/// Checked against when the user does not exist, so an unknown name takes as long as a wrong
/// password.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| password_auth::generate_hash("not a real password, only for timing"));

/// A user as the admin page lists them.
#[derive(Debug, Clone)]
pub struct UserInfo {
    pub id: i64,
    pub username: String,
    pub org_admin: bool,
    pub teams: BTreeMap<String, Role>,
    pub created_at: OffsetDateTime,
}

/// What an invite grants.
#[derive(Debug, Clone)]
pub struct InviteGrant {
    pub team: Option<(TeamName, Role)>,
    pub org_admin: bool,
}

#[derive(Clone)]
pub struct Accounts {
    pool: PgPool,
}

impl Accounts {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub async fn create_user(
        &self,
        username: &Username,
        password: &SecretString,
        org_admin: bool,
    ) -> Result<i64, AuthError> {
        check_new_password(password)?;
        let hash = hash_password(password).await?;
        let inserted = sqlx::query_scalar!(
            "INSERT INTO users (username, password_hash, org_admin) VALUES ($1, $2, $3)
             ON CONFLICT (username) DO NOTHING RETURNING id",
            username.as_str(),
            hash,
            org_admin
        )
        .fetch_optional(&self.pool)
        .await?;
        inserted.ok_or_else(|| AuthError::UsernameTaken(username.as_str().to_owned()))
    }

    /// Gives `user_id` `role` in `team`, or removes them from it (`None`).
    pub async fn set_role(
        &self,
        user_id: i64,
        team: &TeamName,
        role: Option<Role>,
    ) -> Result<(), AuthError> {
        match role {
            Some(role) => {
                sqlx::query!(
                    "INSERT INTO team_members (user_id, team, role) VALUES ($1, $2, $3)
                     ON CONFLICT (user_id, team) DO UPDATE SET role = EXCLUDED.role",
                    user_id,
                    team.as_str(),
                    role.as_str()
                )
                .execute(&self.pool)
                .await?;
            }
            None => {
                sqlx::query!(
                    "DELETE FROM team_members WHERE user_id = $1 AND team = $2",
                    user_id,
                    team.as_str()
                )
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }

    pub async fn user_id(&self, username: &str) -> Result<i64, AuthError> {
        sqlx::query_scalar!("SELECT id FROM users WHERE username = $1", username)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("User {username}")))
    }

    /// Checks a password, within the rate limit. Unknown user and wrong password are the same
    /// error and take the same time; each failure counts against the account and the address.
    pub async fn verify(
        &self,
        username: &str,
        password: &SecretString,
        address: &str,
    ) -> Result<i64, AuthError> {
        let username = username.trim().to_lowercase();
        let since = OffsetDateTime::now_utc() - FAILURE_WINDOW;
        let counts = sqlx::query!(
            r#"SELECT
                 (SELECT count(*) FROM signin_failures WHERE username = $1 AND at > $3) AS "account!",
                 (SELECT count(*) FROM signin_failures WHERE address = $2 AND at > $3) AS "address!""#,
            username,
            address,
            since
        )
        .fetch_one(&self.pool)
        .await?;
        if counts.account >= MAX_FAILURES_PER_ACCOUNT || counts.address >= MAX_FAILURES_PER_ADDRESS
        {
            return Err(AuthError::RateLimited {
                retry_after_minutes: FAILURE_WINDOW.whole_minutes(),
            });
        }
        let user = sqlx::query!(
            "SELECT id, password_hash FROM users WHERE username = $1",
            username
        )
        .fetch_optional(&self.pool)
        .await?;
        let (id, hash) = match user {
            Some(row) => (Some(row.id), row.password_hash),
            None => (None, None),
        };
        let matches = match hash {
            Some(hash) => password_matches(password, hash).await?,
            None => {
                password_matches(password, DUMMY_HASH.clone()).await?;
                false
            }
        };
        match id.filter(|_| matches) {
            Some(id) => {
                sqlx::query!("DELETE FROM signin_failures WHERE username = $1", username)
                    .execute(&self.pool)
                    .await?;
                Ok(id)
            }
            None => {
                sqlx::query!(
                    "INSERT INTO signin_failures (username, address) VALUES ($1, $2)",
                    username,
                    address
                )
                .execute(&self.pool)
                .await?;
                Err(AuthError::BadCredentials)
            }
        }
    }

    /// The user's principal and session epoch, or `None` when the user no longer exists.
    pub async fn principal(&self, user_id: i64) -> Result<Option<(Principal, i32)>, AuthError> {
        let Some(user) = sqlx::query!(
            "SELECT username, org_admin, session_epoch FROM users WHERE id = $1",
            user_id
        )
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let teams = self.teams_of(user_id).await?;
        Ok(Some((
            Principal {
                user_id,
                username: user.username,
                org_admin: user.org_admin,
                teams,
                token_scope: None,
                address: None,
            },
            user.session_epoch,
        )))
    }

    async fn teams_of(&self, user_id: i64) -> Result<BTreeMap<TeamName, Role>, AuthError> {
        let rows = sqlx::query!(
            "SELECT team, role FROM team_members WHERE user_id = $1",
            user_id
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| Some((TeamName::parse(&row.team).ok()?, Role::parse(&row.role)?)))
            .collect())
    }

    /// Ends every session of the user (sessions carry the epoch they were made in).
    pub async fn sign_out_everywhere(&self, user_id: i64) -> Result<(), AuthError> {
        sqlx::query!(
            "UPDATE users SET session_epoch = session_epoch + 1 WHERE id = $1",
            user_id
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// On first start (no user at all): creates `admin` with a random password, writes it to
    /// `<data_dir>/initial-admin-password` (mode 0600) and returns it to be logged once.
    pub async fn ensure_initial_admin(
        &self,
        data_dir: &Path,
    ) -> Result<Option<SecretString>, AuthError> {
        let any = sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM users) AS "any!""#)
            .fetch_one(&self.pool)
            .await?;
        if any {
            return Ok(None);
        }
        let password = SecretString::from(random_secret(18));
        let admin = Username::parse("admin")?;
        match self.create_user(&admin, &password, true).await {
            Ok(_) => {}
            // Another replica created it first.
            Err(AuthError::UsernameTaken(_)) => return Ok(None),
            Err(error) => return Err(error),
        }
        let path = data_dir.join("initial-admin-password");
        write_private(&path, password.expose_secret()).map_err(|source| AuthError::File {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Some(password))
    }

    /// A single-use invite link token (shown once; only its SHA-256 is stored).
    pub async fn create_invite(
        &self,
        created_by: i64,
        grant: &InviteGrant,
    ) -> Result<String, AuthError> {
        let token = random_secret(24);
        let (team, role) = match &grant.team {
            Some((team, role)) => (Some(team.as_str()), Some(role.as_str())),
            None => (None, None),
        };
        let created_by = (created_by > 0).then_some(created_by);
        sqlx::query!(
            "INSERT INTO invites (token_sha256, team, role, org_admin, created_by, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            sha256(&token),
            team,
            role,
            grant.org_admin,
            created_by,
            OffsetDateTime::now_utc() + INVITE_VALID_FOR
        )
        .execute(&self.pool)
        .await?;
        Ok(token)
    }

    /// Whether an invite token can still be used (for showing the form).
    pub async fn invite_is_open(&self, token: &str) -> Result<bool, AuthError> {
        Ok(sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM invites WHERE token_sha256 = $1
                 AND used_at IS NULL AND expires_at > now()) AS "open!""#,
            sha256(token)
        )
        .fetch_one(&self.pool)
        .await?)
    }

    /// Creates the invited user and marks the invite used, in one transaction: a token works
    /// once, and only before it expires.
    pub async fn accept_invite(
        &self,
        token: &str,
        username: &Username,
        password: &SecretString,
        email: Option<&EmailAddress>,
    ) -> Result<i64, AuthError> {
        check_new_password(password)?;
        let hash = hash_password(password).await?;
        let mut tx = self.pool.begin().await?;
        let invite = sqlx::query!(
            "SELECT team, role, org_admin FROM invites WHERE token_sha256 = $1
               AND used_at IS NULL AND expires_at > now() FOR UPDATE",
            sha256(token)
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(AuthError::InviteNotValid)?;
        let user_id = sqlx::query_scalar!(
            "INSERT INTO users (username, password_hash, org_admin, email) VALUES ($1, $2, $3, $4)
             ON CONFLICT (username) DO NOTHING RETURNING id",
            username.as_str(),
            hash,
            invite.org_admin,
            email.map(EmailAddress::as_str)
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| AuthError::UsernameTaken(username.as_str().to_owned()))?;
        if let (Some(team), Some(role)) = (invite.team, invite.role) {
            sqlx::query!(
                "INSERT INTO team_members (user_id, team, role) VALUES ($1, $2, $3)",
                user_id,
                team,
                role
            )
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query!(
            "UPDATE invites SET used_at = now(), used_by = $2 WHERE token_sha256 = $1",
            sha256(token),
            user_id
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(user_id)
    }

    /// The Canopy account of a person GitHub vouched for: created at their first sign-in (user
    /// name = GitHub login), and at every sign-in their e-mail, organisation-admin flag and the
    /// team roles that come from GitHub are replaced by GitHub's answer (roles given in Canopy
    /// stay). A local account that already uses the name is never taken over.
    pub async fn upsert_github_user(
        &self,
        identity: &super::github::GithubIdentity,
    ) -> Result<i64, AuthError> {
        let username = Username::parse(&identity.login.to_lowercase())?;
        let mut tx = self.pool.begin().await?;
        let existing =
            sqlx::query_scalar!("SELECT id FROM users WHERE github_id = $1", identity.id)
                .fetch_optional(&mut *tx)
                .await?;
        let user_id = match existing {
            Some(id) => {
                sqlx::query!(
                    "UPDATE users SET email = $2, org_admin = $3, github_login = $4 WHERE id = $1",
                    id,
                    identity.email,
                    identity.org_admin,
                    identity.login
                )
                .execute(&mut *tx)
                .await?;
                id
            }
            None => sqlx::query_scalar!(
                "INSERT INTO users (username, email, org_admin, github_id, github_login)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (username) DO NOTHING RETURNING id",
                username.as_str(),
                identity.email,
                identity.org_admin,
                identity.id,
                identity.login
            )
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| AuthError::Invalid {
                field: "username",
                message: format!(
                    "a Canopy account named {} already exists and is not linked to GitHub; ask an admin",
                    username.as_str()
                ),
            })?,
        };
        sqlx::query!(
            "DELETE FROM team_members WHERE user_id = $1 AND source = 'github'",
            user_id
        )
        .execute(&mut *tx)
        .await?;
        for (team, role) in &identity.teams {
            sqlx::query!(
                "INSERT INTO team_members (user_id, team, role, source) VALUES ($1, $2, $3, 'github')
                 ON CONFLICT (user_id, team) DO NOTHING",
                user_id,
                team.as_str(),
                role.as_str()
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(user_id)
    }

    /// Every user with their memberships, by name.
    pub async fn list(&self) -> Result<Vec<UserInfo>, AuthError> {
        let users =
            sqlx::query!("SELECT id, username, org_admin, created_at FROM users ORDER BY username")
                .fetch_all(&self.pool)
                .await?;
        let members = sqlx::query!("SELECT user_id, team, role FROM team_members ORDER BY team")
            .fetch_all(&self.pool)
            .await?;
        Ok(users
            .into_iter()
            .map(|user| UserInfo {
                id: user.id,
                username: user.username,
                org_admin: user.org_admin,
                teams: members
                    .iter()
                    .filter(|m| m.user_id == user.id)
                    .filter_map(|m| Some((m.team.clone(), Role::parse(&m.role)?)))
                    .collect(),
                created_at: user.created_at,
            })
            .collect())
    }
}

/// Writes `contents` to a new file readable by its owner only (0600).
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_addresses_are_checked_and_name_their_field() {
        assert_eq!(
            EmailAddress::parse(" ana@example.com ").unwrap().as_str(),
            "ana@example.com"
        );
        for bad in ["", "ana", "ana@", "@example.com", "ana lopez@example.com"] {
            match EmailAddress::parse(bad) {
                Err(AuthError::Invalid { field, message }) => {
                    assert_eq!(field, "email");
                    assert!(message.contains("name@example.com"), "{message}");
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn user_names_say_what_is_allowed() {
        assert!(Username::parse("ana.lopez").is_ok());
        for bad in ["", "Ana", "-ana", "ana lopez", &"a".repeat(64)] {
            match Username::parse(bad) {
                Err(AuthError::Invalid { field, message }) => {
                    assert_eq!(field, "username");
                    assert!(message.contains("lowercase"), "{message}");
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn short_passwords_are_refused_with_the_minimum() {
        let short = SecretString::from("short");
        match check_new_password(&short) {
            Err(AuthError::Invalid { field, message }) => {
                assert_eq!(field, "password");
                assert!(message.contains("12"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(check_new_password(&SecretString::from("a long enough one")).is_ok());
    }

    #[test]
    fn the_first_admin_password_file_is_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("initial-admin-password");
        write_private(&path, "secret").expect("written");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "secret\n");
    }
}
