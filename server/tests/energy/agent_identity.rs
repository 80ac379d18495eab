//! Node identity bound to the node, against the real control plane: an agent sends its pod's
//! projected ServiceAccount token (audience `canopy`), the server has the API server review it
//! and takes the node from the pod it is bound to. Samples for that node are accepted; samples
//! claiming another node, a token of another ServiceAccount, a token for another audience and a
//! token whose pod is gone are refused. Also: the credential is checked before the body is read.

use std::time::Duration as StdDuration;

use canopy_sandbox::{client_from_kubeconfig, testing::kubeconfig_path, testing::unique_name};
use canopy_server::{config::ClusterSettings, energy::agent_identity::AgentIdentitySettings};
use k8s_openapi::api::{
    authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec},
    core::v1::{Namespace, Node, Pod, ServiceAccount},
};
use kube::{
    api::{DeleteParams, PostParams},
    Api, Client,
};
use reqwest::StatusCode;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{hour_start, known_batch, support::TestApp};

const AGENT_SA: &str = "canopy-agent";

/// A namespace with the agent ServiceAccount and another one, and two Node objects.
struct Fixture {
    client: Client,
    namespace: String,
    node_x: String,
    node_y: String,
}

impl Fixture {
    async fn new() -> Self {
        let client = client_from_kubeconfig(&kubeconfig_path()).await.unwrap();
        let namespace = unique_name("ingest-id");
        let node_x = format!("{namespace}-x");
        let node_y = format!("{namespace}-y");
        let create = PostParams::default();
        Api::<Namespace>::all(client.clone())
            .create(
                &create,
                &serde_json::from_value(json!({ "metadata": { "name": namespace } })).unwrap(),
            )
            .await
            .unwrap();
        for node in [&node_x, &node_y] {
            // Real Node objects, so the pod garbage collector leaves pods bound to them alone.
            Api::<Node>::all(client.clone())
                .create(
                    &create,
                    &serde_json::from_value(json!({ "metadata": { "name": node } })).unwrap(),
                )
                .await
                .unwrap();
        }
        let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &namespace);
        for name in [AGENT_SA, "other"] {
            accounts
                .create(
                    &create,
                    &serde_json::from_value(json!({ "metadata": { "name": name } })).unwrap(),
                )
                .await
                .unwrap();
        }
        Self {
            client,
            namespace,
            node_x,
            node_y,
        }
    }

    /// A pod of `account` bound to `node` (nothing runs it: the token only needs the object).
    async fn pod(&self, name: &str, account: &str, node: &str) -> Pod {
        let pod = json!({
            "metadata": { "name": name },
            "spec": {
                "nodeName": node,
                "serviceAccountName": account,
                "automountServiceAccountToken": false,
                // No node lifecycle taint evicts it while the test runs.
                "tolerations": [{ "operator": "Exists" }],
                "containers": [{ "name": "agent", "image": "canopy/agent:test" }]
            }
        });
        Api::<Pod>::namespaced(self.client.clone(), &self.namespace)
            .create(
                &PostParams::default(),
                &serde_json::from_value(pod).unwrap(),
            )
            .await
            .unwrap()
    }

    async fn delete_pod(&self, name: &str) {
        Api::<Pod>::namespaced(self.client.clone(), &self.namespace)
            .delete(name, &DeleteParams::default().grace_period(0))
            .await
            .unwrap();
    }

    /// What the kubelet mounts for a projected token: a TokenRequest bound to the pod.
    async fn token(&self, account: &str, pod: &Pod, audience: &str) -> String {
        let request = TokenRequest {
            spec: TokenRequestSpec {
                audiences: vec![audience.to_owned()],
                bound_object_ref: Some(BoundObjectReference {
                    api_version: Some("v1".into()),
                    kind: Some("Pod".into()),
                    name: pod.metadata.name.clone(),
                    uid: pod.metadata.uid.clone(),
                }),
                expiration_seconds: Some(600),
            },
            ..Default::default()
        };
        Api::<ServiceAccount>::namespaced(self.client.clone(), &self.namespace)
            .create_token_request(account, &PostParams::default(), &request)
            .await
            .unwrap()
            .status
            .unwrap()
            .token
    }

    fn settings(&self) -> AgentIdentitySettings {
        AgentIdentitySettings {
            namespace: self.namespace.clone(),
            service_account: AGENT_SA.to_owned(),
            audience: "canopy".to_owned(),
            cluster: "kube".to_owned(),
        }
    }

    async fn clean_up(self) {
        // No kubelet confirms pod deletions here: delete them at once, then the namespace
        // (without waiting for it to go).
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        let _ = pods
            .delete_collection(
                &DeleteParams::default().grace_period(0),
                &Default::default(),
            )
            .await;
        let _ = Api::<Namespace>::all(self.client.clone())
            .delete(&self.namespace, &DeleteParams::default())
            .await;
        for node in [&self.node_x, &self.node_y] {
            let _ = Api::<Node>::all(self.client.clone())
                .delete(node, &DeleteParams::default())
                .await;
        }
    }
}

#[tokio::test]
async fn an_agent_token_bound_to_a_pod_writes_only_its_own_nodes_samples() {
    let k8s = Fixture::new().await;
    let app = TestApp::spawn_with_agent_identity(
        ClusterSettings::Kubeconfig(kubeconfig_path()),
        k8s.settings(),
    )
    .await;
    let start = hour_start(OffsetDateTime::now_utc()) - Duration::hours(1);
    let agent_x = k8s.pod("agent-x", AGENT_SA, &k8s.node_x).await;
    let token_x = k8s.token(AGENT_SA, &agent_x, "canopy").await;

    // Samples for the pod's node: stored, under the configured cluster, by that pod.
    let (status, body) = app
        .post_batch(&token_x, &known_batch(&k8s.node_x, start))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (cluster, node, pod, token_id): (String, String, Option<String>, Option<i64>) =
        sqlx::query_as("SELECT cluster, node, agent_pod, node_token_id FROM energy_batches")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(cluster, "kube");
    assert_eq!(node, k8s.node_x);
    assert_eq!(pod, Some(format!("{}/agent-x", k8s.namespace)));
    assert_eq!(token_id, None);

    // Samples claiming another node: 403 naming both nodes; nothing written.
    let (status, body) = app
        .post_batch(&token_x, &known_batch(&k8s.node_y, start))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "wrong_node", "{body}");
    assert_eq!(body["node"], k8s.node_y.as_str(), "{body}");
    assert_eq!(body["allowed_node"], k8s.node_x.as_str(), "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("agent-x"), "{message}");

    // A pod-bound token of another ServiceAccount: 403, whatever node it is on.
    let other = k8s.pod("other-y", "other", &k8s.node_y).await;
    let token_other = k8s.token("other", &other, "canopy").await;
    let (status, body) = app
        .post_batch(&token_other, &known_batch(&k8s.node_y, start))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "not_agent", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains(":other"),
        "{body}"
    );

    // The agent's own token for another audience: the API server does not accept it for us.
    let agent_y = k8s.pod("agent-y", AGENT_SA, &k8s.node_y).await;
    let wrong_audience = k8s.token(AGENT_SA, &agent_y, "not-canopy").await;
    let (status, body) = app
        .post_batch(&wrong_audience, &known_batch(&k8s.node_y, start))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "unauthorized", "{body}");

    // A token whose pod was deleted (never seen before, so not cached) proves nothing.
    let token_y = k8s.token(AGENT_SA, &agent_y, "canopy").await;
    k8s.delete_pod("agent-y").await;
    let (status, body) = app
        .post_batch(&token_y, &known_batch(&k8s.node_y, start))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // Node tokens keep working next to it (agents outside the cluster).
    let (_, node_token) = app.create_node_token("outside-1").await;
    let (status, body) = app
        .post_batch(&node_token, &known_batch("outside-1", start))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // A successful review is reused for a minute: the next batch of agent-x is not reviewed
    // again, which shows as being accepted although its pod has just been deleted.
    k8s.delete_pod("agent-x").await;
    let (status, body) = app
        .post_batch(
            &token_x,
            &known_batch(&k8s.node_x, start + Duration::minutes(2)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(app.count("energy_batches").await, 3);

    app.stop().await;
    k8s.clean_up().await;
}

#[tokio::test]
async fn without_an_agent_service_account_only_node_tokens_are_taken() {
    let app = TestApp::spawn().await;
    let start = hour_start(OffsetDateTime::now_utc()) - Duration::hours(1);
    let (status, body) = app
        .post_batch(
            "eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
            &known_batch("node-a", start),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("CANOPY_AGENT_SERVICE_ACCOUNT"),
        "{body}"
    );
    app.stop().await;
}

/// A request announcing a 1 MB body and sending 10 bytes of it, with `authorization`: the answer
/// (status line) if one comes within 10 s, else `None` (the server is waiting for the body).
async fn answer_to_a_stalled_body(app: &TestApp, authorization: &str) -> Option<String> {
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /api/v1/ingest HTTP/1.1\r\nHost: {}\r\nAuthorization: {authorization}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{{\"schema_",
        app.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 1024];
    match tokio::time::timeout(StdDuration::from_secs(10), stream.read(&mut answer)).await {
        Ok(Ok(n)) if n > 0 => Some(
            String::from_utf8_lossy(&answer[..n])
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
        ),
        _ => None,
    }
}

#[tokio::test]
async fn the_credential_is_checked_before_the_body_is_read() {
    let app = TestApp::spawn().await;
    // A wrong token is refused at once, without waiting for the rest of the body.
    let answer = answer_to_a_stalled_body(&app, "Bearer cnt_not-a-token").await;
    assert_eq!(answer.as_deref(), Some("HTTP/1.1 401 Unauthorized"));
    // A good one waits for the body...
    let (_, token) = app.create_node_token("node-a").await;
    let answer = answer_to_a_stalled_body(&app, &format!("Bearer {token}")).await;
    assert_eq!(answer, None);
    // ...within the body limit (64 MiB): past it, 413 and nothing stored.
    let too_large = " ".repeat(canopy_server::http::energy_api::MAX_INGEST_BODY_BYTES + 1);
    let (status, _) = app.post_raw(&token, too_large).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.count("energy_batches").await, 0);
    app.stop().await;
}
