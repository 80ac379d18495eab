//! Node tokens: created and revoked by a platform admin, stored as SHA-256 digests only; and
//! the node identity an ingest request proves (with a node token, or with the agent's
//! ServiceAccount token: [`super::agent_identity`]).

use base64::Engine;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use time::OffsetDateTime;

use super::EnergyError;

/// Prefix of every node token, so a leaked one is recognisable (`cnt_` = Canopy node token).
pub const TOKEN_PREFIX: &str = "cnt_";

/// The node a valid credential belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIdentity {
    pub credential: Credential,
    pub cluster: String,
    pub node: String,
}

/// How the agent proved its node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A `cnt_` node token (agents outside the portal's cluster).
    NodeToken { id: i64 },
    /// The agent's projected ServiceAccount token, reviewed by the API server and bound to this
    /// pod, which runs on the node.
    AgentPod { namespace: String, pod: String },
}

impl NodeIdentity {
    /// The node token's id, when the agent used one.
    pub fn token_id(&self) -> Option<i64> {
        match self.credential {
            Credential::NodeToken { id } => Some(id),
            Credential::AgentPod { .. } => None,
        }
    }

    /// `namespace/pod` of the agent, when it proved its node with its pod's token.
    pub fn agent_pod(&self) -> Option<String> {
        match &self.credential {
            Credential::NodeToken { .. } => None,
            Credential::AgentPod { namespace, pod } => Some(format!("{namespace}/{pod}")),
        }
    }

    /// What the credential is, for messages: `node token 4` or `the pod canopy/agent-x`.
    pub fn describe(&self) -> String {
        match &self.credential {
            Credential::NodeToken { id } => format!("node token {id}"),
            Credential::AgentPod { namespace, pod } => {
                format!("the ServiceAccount token of pod {namespace}/{pod}")
            }
        }
    }
}

/// A token as admins list it (never the token itself).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NodeTokenInfo {
    pub id: i64,
    pub cluster: String,
    pub node: String,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

/// A freshly created token: the only time the clear token exists outside the agent.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    pub id: i64,
    pub cluster: String,
    pub node: String,
    pub token: String,
}

#[derive(Clone)]
pub struct NodeTokens {
    pool: PgPool,
}

/// SHA-256 of the token's bytes.
pub fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn check_name(field: &'static str, value: &str, max_len: usize) -> Result<(), EnergyError> {
    let ok = !value.is_empty()
        && value.len() <= max_len
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(EnergyError::InvalidInput {
            field,
            message: format!(
                "must be 1 to {max_len} characters of a-z, 0-9, '-' and '.' (a Kubernetes name)"
            ),
        })
    }
}

impl NodeTokens {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Creates a token for `node` of `cluster`; returns it in clear once.
    pub async fn create(
        &self,
        cluster: &str,
        node: &str,
        created_by: &str,
    ) -> Result<CreatedToken, EnergyError> {
        check_name("cluster", cluster, 63)?;
        check_name("node", node, 253)?;
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        let token = format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        let id = sqlx::query_scalar!(
            r#"INSERT INTO energy_node_tokens (cluster, node, token_sha256, created_by)
               VALUES ($1, $2, $3, $4) RETURNING id"#,
            cluster,
            node,
            digest(&token),
            created_by
        )
        .fetch_one(&self.pool)
        .await?;
        tracing::info!(id, cluster, node, created_by, "node token created");
        Ok(CreatedToken {
            id,
            cluster: cluster.to_owned(),
            node: node.to_owned(),
            token,
        })
    }

    /// Revokes a token; it stops working immediately. Revoking twice is not an error.
    pub async fn revoke(&self, id: i64) -> Result<NodeTokenInfo, EnergyError> {
        let row = sqlx::query_as!(
            NodeTokenInfo,
            r#"UPDATE energy_node_tokens SET revoked_at = coalesce(revoked_at, now())
               WHERE id = $1
               RETURNING id, cluster, node, created_by, created_at, revoked_at, last_used_at"#,
            id
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or(EnergyError::NotFound("node token"))?;
        tracing::info!(id, node = %row.node, "node token revoked");
        Ok(row)
    }

    pub async fn list(&self) -> Result<Vec<NodeTokenInfo>, EnergyError> {
        Ok(sqlx::query_as!(
            NodeTokenInfo,
            r#"SELECT id, cluster, node, created_by, created_at, revoked_at, last_used_at
               FROM energy_node_tokens ORDER BY id"#
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// The node of a valid, unrevoked token, or `None`.
    pub async fn authenticate(&self, token: &str) -> Result<Option<NodeIdentity>, EnergyError> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let row = sqlx::query!(
            // last_used_at is refreshed at most once a minute, not written on every batch.
            r#"WITH t AS (
                   SELECT id, cluster, node, last_used_at FROM energy_node_tokens
                   WHERE token_sha256 = $1 AND revoked_at IS NULL),
               touched AS (
                   UPDATE energy_node_tokens e SET last_used_at = now() FROM t
                   WHERE e.id = t.id
                     AND (t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute'))
               SELECT id AS "id!", cluster AS "cluster!", node AS "node!" FROM t"#,
            digest(token)
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| NodeIdentity {
            credential: Credential::NodeToken { id: r.id },
            cluster: r.cluster,
            node: r.node,
        }))
    }
}
