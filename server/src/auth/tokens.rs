//! API tokens: per user (acting as that user, never beyond the token's scope) or per team
//! (acting in that team only, with the role the scope names). Shown once, stored as SHA-256,
//! with expiry, last use and revocation.

use std::collections::BTreeMap;

use app::api::{
    auth::{Principal, Role, Scope},
    TeamName,
};
use serde::Serialize;
use sqlx::PgPool;
use time::{Duration, OffsetDateTime};

use super::{
    accounts::{random_secret, sha256, Accounts},
    AuthError,
};

/// Prefix of every API token, so a leaked one is recognisable (`cat_` = Canopy API token).
pub const TOKEN_PREFIX: &str = "cat_";

/// Who a new token acts for.
#[derive(Debug, Clone)]
pub enum TokenOwner {
    User(i64),
    Team(TeamName),
}

/// A token as its owner lists it (never the token itself).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub team: Option<String>,
    pub scope: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// A freshly created token: the only time it exists in clear.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedApiToken {
    pub id: i64,
    pub token: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

#[derive(Clone)]
pub struct ApiTokens {
    pool: PgPool,
    accounts: Accounts,
}

impl ApiTokens {
    pub fn new(pool: PgPool) -> Self {
        Self {
            accounts: Accounts::new(pool.clone()),
            pool,
        }
    }

    pub async fn create(
        &self,
        created_by: i64,
        owner: &TokenOwner,
        name: &str,
        scope: Scope,
        valid_for: Option<Duration>,
    ) -> Result<CreatedApiToken, AuthError> {
        let name = name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(AuthError::Invalid {
                field: "name",
                message: "give the token a name of 1 to 100 characters (what it is for)".into(),
            });
        }
        let token = format!("{TOKEN_PREFIX}{}", random_secret(32));
        let (user_id, team) = match owner {
            TokenOwner::User(id) => (Some(*id), None),
            TokenOwner::Team(team) => (None, Some(team.as_str())),
        };
        let expires_at = valid_for.map(|d| OffsetDateTime::now_utc() + d);
        let created_by = (created_by > 0).then_some(created_by);
        let id = sqlx::query_scalar!(
            "INSERT INTO api_tokens (token_sha256, name, user_id, team, scope, created_by, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            sha256(&token),
            name,
            user_id,
            team,
            scope.as_str(),
            created_by,
            expires_at
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(CreatedApiToken {
            id,
            token,
            expires_at,
        })
    }

    /// The principal of a valid token (not revoked, not expired), recording its use; `None`
    /// for any other token.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Principal>, AuthError> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        // last_used_at is refreshed at most once a minute (as node tokens'), not written by
        // every request: 32 concurrent requests with one token would queue on its row.
        let Some(row) = sqlx::query!(
            r#"WITH t AS (
                   SELECT id, name, user_id, team, scope, last_used_at FROM api_tokens
                   WHERE token_sha256 = $1 AND revoked_at IS NULL
                     AND (expires_at IS NULL OR expires_at > now())),
               touched AS (
                   UPDATE api_tokens a SET last_used_at = now() FROM t
                   WHERE a.id = t.id
                     AND (t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute'))
               SELECT id AS "id!", name AS "name!", user_id AS "user_id?", team AS "team?",
                      scope AS "scope!" FROM t"#,
            sha256(token)
        )
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let Some(scope) = Scope::parse(&row.scope) else {
            return Ok(None);
        };
        match (row.user_id, row.team) {
            (Some(user_id), _) => Ok(self.accounts.principal(user_id).await?.map(|(mut p, _)| {
                p.token_scope = Some(scope);
                p
            })),
            (None, Some(team)) => {
                let Ok(team) = TeamName::parse(&team) else {
                    return Ok(None);
                };
                let role = match scope {
                    Scope::Read => Role::Viewer,
                    Scope::Deploy => Role::Deployer,
                    Scope::Admin => Role::Admin,
                };
                Ok(Some(Principal {
                    user_id: 0,
                    username: format!("team-token:{}", row.name),
                    org_admin: false,
                    teams: BTreeMap::from([(team, role)]),
                    token_scope: Some(scope),
                    address: None,
                }))
            }
            (None, None) => Ok(None),
        }
    }

    /// The tokens of a user, or of a team.
    pub async fn list(&self, owner: &TokenOwner) -> Result<Vec<TokenInfo>, AuthError> {
        let (user_id, team) = match owner {
            TokenOwner::User(id) => (Some(*id), None),
            TokenOwner::Team(team) => (None, Some(team.as_str())),
        };
        Ok(sqlx::query_as!(
            TokenInfo,
            "SELECT id, name, team, scope, created_at, expires_at, last_used_at, revoked_at
             FROM api_tokens WHERE user_id IS NOT DISTINCT FROM $1 AND team IS NOT DISTINCT FROM $2
             ORDER BY id",
            user_id,
            team
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Who a token belongs to, to decide who may revoke it.
    pub async fn owner_of(&self, id: i64) -> Result<TokenOwner, AuthError> {
        let row = sqlx::query!("SELECT user_id, team FROM api_tokens WHERE id = $1", id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("Token {id}")))?;
        match (row.user_id, row.team) {
            (Some(user), _) => Ok(TokenOwner::User(user)),
            (None, Some(team)) => TeamName::parse(&team)
                .map(TokenOwner::Team)
                .map_err(|_| AuthError::NotFound(format!("Token {id}"))),
            (None, None) => Err(AuthError::NotFound(format!("Token {id}"))),
        }
    }

    pub async fn revoke(&self, id: i64) -> Result<(), AuthError> {
        sqlx::query!(
            "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
            id
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
