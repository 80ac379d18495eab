//! Node identity for agents in the portal's own cluster: the agent sends its projected
//! ServiceAccount token (audience `canopy`); the API server reviews it (TokenReview, with that
//! audience), it must be the agent ServiceAccount's and bound to a pod, and the node is the one
//! that pod runs on (the review's `authentication.kubernetes.io/node-name` on Kubernetes 1.30+,
//! else the pod's `spec.nodeName`, with the pod's uid checked against the token's). One node's
//! agent can therefore only write its own node's samples, and no Secret holds every node's
//! credential. Successful reviews are cached for [`CACHE_TTL`] by the token's SHA-256.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use k8s_openapi::api::{
    authentication::v1::{TokenReview, TokenReviewSpec},
    core::v1::Pod,
};
use kube::{api::PostParams, Api, Client};

use super::tokens::{Credential, NodeIdentity};

/// How long a successful review is reused (projected tokens live at least ten minutes; a pod
/// deleted meanwhile can send for at most this long).
pub const CACHE_TTL: Duration = Duration::from_secs(60);
/// Most reviews cached (a few per node: the token rotates hourly).
pub const CACHE_MAX_ENTRIES: usize = 10_000;

const POD_NAME: &str = "authentication.kubernetes.io/pod-name";
const POD_UID: &str = "authentication.kubernetes.io/pod-uid";
const NODE_NAME: &str = "authentication.kubernetes.io/node-name";

/// Which ServiceAccount the agents run as, the audience their tokens carry, and the cluster
/// name their batches are stored under (`CANOPY_AGENT_SERVICE_ACCOUNT`,
/// `CANOPY_AGENT_TOKEN_AUDIENCE`, `CANOPY_AGENT_CLUSTER`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentIdentitySettings {
    pub namespace: String,
    pub service_account: String,
    pub audience: String,
    pub cluster: String,
}

impl AgentIdentitySettings {
    /// The username Kubernetes gives the agent ServiceAccount's tokens.
    pub fn username(&self) -> String {
        format!(
            "system:serviceaccount:{}:{}",
            self.namespace, self.service_account
        )
    }
}

/// Why an agent's ServiceAccount token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// No agent ServiceAccount is configured (or no cluster to review with): only node tokens.
    #[error("this server takes node tokens (cnt_...) only: {0}")]
    NotConfigured(&'static str),
    /// The API server did not authenticate the token (expired, forged, wrong audience, its pod
    /// deleted).
    #[error("the Kubernetes API server did not accept the token: {0}")]
    NotAuthenticated(String),
    /// A valid token, but of another account than the agent's ServiceAccount.
    #[error("the token belongs to {username}, not to the agent ServiceAccount {expected}")]
    NotTheAgent { username: String, expected: String },
    /// The agent's token is not bound to a pod (a long-lived Secret token, or a TokenRequest
    /// without a pod), so it proves no node.
    #[error("the token of {username} is not bound to a pod, so it proves no node: mount a projected ServiceAccount token")]
    NotPodBound { username: String },
    /// The bound pod is on no node.
    #[error("the token's pod {namespace}/{pod} {why}")]
    PodNotOnNode {
        namespace: String,
        pod: String,
        why: &'static str,
    },
    /// The API server could not be asked.
    #[error("the Kubernetes API server could not review the token: {0}")]
    Unavailable(#[source] kube::Error),
}

/// Reviews agents' ServiceAccount tokens and remembers the answers for a minute.
pub struct AgentIdentity {
    client: Option<Client>,
    settings: AgentIdentitySettings,
    cache: ReviewCache,
}

impl AgentIdentity {
    /// `client`: the portal's cluster; without one, every such token is refused as not
    /// configured (the log says why at start).
    pub fn new(settings: AgentIdentitySettings, client: Option<Client>) -> Self {
        if client.is_none() {
            tracing::warn!(service_account = %settings.username(),
                "CANOPY_AGENT_SERVICE_ACCOUNT is set but Canopy has no cluster to review agent tokens with: agents must use node tokens");
        }
        Self {
            client,
            settings,
            cache: ReviewCache::default(),
        }
    }

    pub fn settings(&self) -> &AgentIdentitySettings {
        &self.settings
    }

    /// The node `token` proves, from the cache or the API server.
    pub async fn authenticate(&self, token: &str) -> Result<NodeIdentity, IdentityError> {
        let key = super::tokens::digest(token);
        if let Some(node) = self.cache.get(&key, Instant::now()) {
            return Ok(node);
        }
        let node = self.review(token).await?;
        self.cache.put(key, node.clone(), Instant::now());
        Ok(node)
    }

    async fn review(&self, token: &str) -> Result<NodeIdentity, IdentityError> {
        let Some(client) = &self.client else {
            return Err(IdentityError::NotConfigured(
                "Canopy has no cluster to review agent ServiceAccount tokens with",
            ));
        };
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_owned()),
                audiences: Some(vec![self.settings.audience.clone()]),
            },
            ..Default::default()
        };
        let reviewed = Api::<TokenReview>::all(client.clone())
            .create(&PostParams::default(), &review)
            .await
            .map_err(IdentityError::Unavailable)?;
        let status = reviewed.status.unwrap_or_default();
        if status.authenticated != Some(true) {
            return Err(IdentityError::NotAuthenticated(
                status
                    .error
                    .unwrap_or_else(|| "not authenticated".to_owned()),
            ));
        }
        // The API server checked the audience; an authenticator that ignores audiences
        // answers without ours, which is not good enough.
        let audience = &self.settings.audience;
        if !status.audiences.unwrap_or_default().contains(audience) {
            return Err(IdentityError::NotAuthenticated(format!(
                "the review does not confirm the audience {audience:?}"
            )));
        }
        let user = status.user.unwrap_or_default();
        let username = user.username.unwrap_or_default();
        let expected = self.settings.username();
        if username != expected {
            return Err(IdentityError::NotTheAgent { username, expected });
        }
        let extra = user.extra.unwrap_or_default();
        let first = |key: &str| extra.get(key).and_then(|values| values.first()).cloned();
        let (Some(pod), Some(pod_uid)) = (first(POD_NAME), first(POD_UID)) else {
            return Err(IdentityError::NotPodBound { username });
        };
        let namespace = self.settings.namespace.clone();
        let node = match first(NODE_NAME) {
            Some(node) => node,
            None => pod_node(client, &namespace, &pod, &pod_uid).await?,
        };
        Ok(NodeIdentity {
            credential: Credential::AgentPod { namespace, pod },
            cluster: self.settings.cluster.clone(),
            node,
        })
    }
}

/// The node of the token's pod (Kubernetes before 1.30 does not put it in the review).
async fn pod_node(
    client: &Client,
    namespace: &str,
    pod: &str,
    pod_uid: &str,
) -> Result<String, IdentityError> {
    let refused = |why| IdentityError::PodNotOnNode {
        namespace: namespace.to_owned(),
        pod: pod.to_owned(),
        why,
    };
    let found = Api::<Pod>::namespaced(client.clone(), namespace)
        .get_opt(pod)
        .await
        .map_err(IdentityError::Unavailable)?;
    // A token bound to a pod that is gone (or replaced) proves nothing any more, whether the
    // API server's review noticed it yet or not: the same 401 either way.
    let gone = |why: &str| {
        IdentityError::NotAuthenticated(format!("the token's pod {namespace}/{pod} {why}"))
    };
    let found = found.ok_or_else(|| gone("no longer exists"))?;
    if found.metadata.uid.as_deref() != Some(pod_uid) {
        return Err(gone("was replaced by another pod of that name"));
    }
    found
        .spec
        .and_then(|spec| spec.node_name)
        .filter(|node| !node.is_empty())
        .ok_or_else(|| refused("is not scheduled on a node"))
}

/// Successful reviews by token digest, each for [`CACHE_TTL`], at most [`CACHE_MAX_ENTRIES`].
#[derive(Default)]
struct ReviewCache {
    entries: Mutex<HashMap<Vec<u8>, (NodeIdentity, Instant)>>,
}

impl ReviewCache {
    fn get(&self, key: &[u8], now: Instant) -> Option<NodeIdentity> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(_, at)| now.duration_since(*at) < CACHE_TTL)
            .map(|(node, _)| node.clone())
    }

    fn put(&self, key: Vec<u8>, node: NodeIdentity, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_MAX_ENTRIES {
            entries.retain(|_, (_, at)| now.duration_since(*at) < CACHE_TTL);
        }
        // Still full of fresh reviews (a flood of distinct tokens): this one is not kept.
        if entries.len() < CACHE_MAX_ENTRIES {
            entries.insert(key, (node, now));
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str) -> NodeIdentity {
        NodeIdentity {
            credential: Credential::AgentPod {
                namespace: "canopy".into(),
                pod: format!("agent-{name}"),
            },
            cluster: "default".into(),
            node: name.into(),
        }
    }

    #[test]
    fn cached_reviews_expire_and_the_cache_stays_bounded() {
        let cache = ReviewCache::default();
        let start = Instant::now();
        cache.put(b"a".to_vec(), node("a"), start);
        assert_eq!(cache.get(b"a", start + CACHE_TTL / 2), Some(node("a")));
        assert_eq!(cache.get(b"a", start + CACHE_TTL), None);
        assert_eq!(cache.get(b"b", start), None);
        for i in 0..CACHE_MAX_ENTRIES + 10 {
            cache.put(i.to_le_bytes().to_vec(), node("x"), start);
        }
        assert_eq!(cache.len(), CACHE_MAX_ENTRIES);
        // Once the old ones expire, room is made.
        cache.put(b"late".to_vec(), node("late"), start + CACHE_TTL);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get(b"late", start + CACHE_TTL), Some(node("late")));
    }

    #[test]
    fn the_agent_username_is_kubernetes_own() {
        let settings = AgentIdentitySettings {
            namespace: "canopy".into(),
            service_account: "canopy-agent".into(),
            audience: "canopy".into(),
            cluster: "default".into(),
        };
        assert_eq!(
            settings.username(),
            "system:serviceaccount:canopy:canopy-agent"
        );
    }
}
