//! Push to the Canopy server: `POST /api/v1/ingest` with the node's bearer token (a node token,
//! or the pod's projected ServiceAccount token, re-read for every batch), fed from the
//! on-disk spool in order; what the server cannot take now waits in the spool, what it refuses
//! for good goes to the dead-letter directory so it cannot block the batches behind it.

pub mod dead_letter;
pub mod outbox;
pub mod spool;

use std::path::{Path, PathBuf};
use std::time::Duration;

use canopy_protocol::INGEST_PATH;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};

use spool::{Dropped, Spool, SpoolError};

/// Errors building the push client.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("building the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// Why the server refused a batch for good (re-sending it unchanged would be refused again).
/// The label of `canopy_agent_batches_dead_lettered_total` and part of the dead letter's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// 401: the token is unknown or revoked (or, for a ServiceAccount token, not accepted by
    /// the API server, or the server takes none).
    Unauthorized,
    /// 403: the token is valid but not for this node (or cluster), or is not the agent
    /// ServiceAccount's.
    Forbidden,
    /// 413: the body is larger than the server or a proxy in front of it accepts.
    TooLarge,
    /// 400 and 422: the server cannot read or does not accept the batch.
    Invalid,
    /// 409 `overlapping_interval`: the server already holds energy of this node for part of
    /// the batch's time (stored by another batch), so it would be counted twice.
    Overlapping,
    /// 409 other than `duplicate_batch` and `overlapping_interval`.
    Conflict,
    /// Any other 4xx except 404, 408, 425 and 429 (which are retried).
    ClientError,
}

impl Refusal {
    /// The refusal an HTTP status means, if it is one.
    pub fn from_status(status: StatusCode) -> Option<Self> {
        match status.as_u16() {
            401 => Some(Self::Unauthorized),
            403 => Some(Self::Forbidden),
            413 => Some(Self::TooLarge),
            400 | 422 => Some(Self::Invalid),
            409 => Some(Self::Conflict),
            404 | 408 | 425 | 429 => None,
            _ if status.is_client_error() => Some(Self::ClientError),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::TooLarge => "too_large",
            Self::Invalid => "invalid",
            Self::Overlapping => "overlapping",
            Self::Conflict => "conflict",
            Self::ClientError => "client_error",
        }
    }

    /// What the operator should fix, for the log line. `token_origin` says where the token came
    /// from (`CANOPY_NODE_TOKEN`, or the token file's path).
    pub fn advice(self, node: &str, token_origin: &str, batch_bytes: u64) -> String {
        match self {
            Self::Unauthorized => format!(
                "the server refused the agent's token (unknown or revoked): check {token_origin} \
                 for node {node}, or create a node token for {node} on the server, then restart \
                 the agent"
            ),
            Self::Forbidden => format!(
                "the token from {token_origin} is valid but not allowed for node {node}: it \
                 belongs to another node or cluster; give node {node} its own token (and check \
                 CANOPY_NODE_NAME)"
            ),
            Self::TooLarge => format!(
                "the batch ({batch_bytes} bytes) is larger than the server or a proxy in front \
                 of it accepts: raise the proxy's body limit (nginx: client_max_body_size)"
            ),
            Self::Invalid => format!(
                "the server does not accept this batch from node {node} (its answer says which \
                 field): check the agent and server versions and the node's clock"
            ),
            Self::Overlapping => format!(
                "the server already holds energy of node {node} for part of this batch's time \
                 (its answer names the stored batch and interval), so this batch was not \
                 counted: a second agent on the node, a restored or copied spool, or a node \
                 clock that went back; the batch is kept for inspection, do not move it back"
            ),
            Self::Conflict => {
                "the server answered 409 without `duplicate_batch`: check the server's logs".into()
            }
            Self::ClientError => "the server refused the request: check CANOPY_SERVER_URL \
                                  points at the Canopy server"
                .into(),
        }
    }
}

/// What the server did with one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// 2xx, or 409 `duplicate_batch` (the server already has this batch id): remove it.
    Delivered,
    /// Network error, 5xx, 404, 408, 425, 429: keep the batch and everything after it; try
    /// again later.
    Retry(String),
    /// 401, 403, 400, 413, 422 and the other 4xx: re-sending it unchanged will never succeed.
    /// It moves to the dead-letter directory so it cannot block the batches behind it.
    Refused { refusal: Refusal, answer: String },
}

/// Classifies an HTTP status and the start of the answer's body as [`Delivery`].
pub fn classify(status: StatusCode, body: &str) -> Delivery {
    let conflict = (status == StatusCode::CONFLICT).then(|| conflict_kind(body));
    if status.is_success() || conflict == Some(ConflictKind::DuplicateBatch) {
        return Delivery::Delivered;
    }
    let answer = if body.is_empty() {
        format!("server answered {status}")
    } else {
        format!("server answered {status}: {}", truncate(body, 300))
    };
    let refusal = match conflict {
        Some(ConflictKind::OverlappingInterval) => Some(Refusal::Overlapping),
        _ => Refusal::from_status(status),
    };
    match refusal {
        Some(refusal) => Delivery::Refused { refusal, answer },
        None => Delivery::Retry(answer),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConflictKind {
    DuplicateBatch,
    OverlappingInterval,
    Other,
}

/// What a 409 means: the server answers a batch id it already stored with
/// `{"error": "duplicate_batch"}` (a 409 without a JSON `error`, from an older server, means
/// the same) and time of the node it already holds under another batch id with
/// `{"error": "overlapping_interval"}`.
fn conflict_kind(body: &str) -> ConflictKind {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(value) => match value.get("error").and_then(|e| e.as_str()) {
            Some("duplicate_batch") | None => ConflictKind::DuplicateBatch,
            Some("overlapping_interval") => ConflictKind::OverlappingInterval,
            Some(_) => ConflictKind::Other,
        },
        Err(_) => ConflictKind::DuplicateBatch,
    }
}

/// The bearer credential sent with every batch.
#[derive(Debug, Clone)]
enum Bearer {
    /// A node token, read once.
    Fixed(SecretString),
    /// A file read before every request: the projected ServiceAccount token, which the kubelet
    /// replaces well before it expires.
    File(PathBuf),
}

/// Sends serialized batches to the server.
#[derive(Debug, Clone)]
pub struct Pusher {
    client: reqwest::Client,
    url: String,
    bearer: Bearer,
}

impl Pusher {
    /// `server_url` is the server's base URL (`http://canopy:3000`); the path is appended.
    pub fn new(server_url: &str, token: SecretString) -> Result<Self, PushError> {
        Self::with_bearer(server_url, Bearer::Fixed(token))
    }

    /// Sends the token in `path`, read again for every batch (the agent's projected
    /// ServiceAccount token; the server checks it with the Kubernetes TokenReview API).
    pub fn with_token_file(server_url: &str, path: &Path) -> Result<Self, PushError> {
        Self::with_bearer(server_url, Bearer::File(path.to_path_buf()))
    }

    fn with_bearer(server_url: &str, bearer: Bearer) -> Result<Self, PushError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            .build()?;
        Ok(Self {
            client,
            url: format!("{}{INGEST_PATH}", server_url.trim_end_matches('/')),
            bearer,
        })
    }

    /// The token to send now.
    async fn token(&self) -> Result<SecretString, String> {
        match &self.bearer {
            Bearer::Fixed(token) => Ok(token.clone()),
            Bearer::File(path) => match tokio::fs::read_to_string(path).await {
                Ok(token) if !token.trim().is_empty() => {
                    Ok(SecretString::from(token.trim().to_owned()))
                }
                Ok(_) => Err(format!(
                    "the identity token file {} is empty",
                    path.display()
                )),
                Err(e) => Err(format!(
                    "reading the identity token file {}: {e}",
                    path.display()
                )),
            },
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// POSTs one JSON body. A token file that cannot be read is retried (the kubelet writes
    /// it before the container starts and replaces it atomically).
    pub async fn send(&self, body: Vec<u8>) -> Delivery {
        let token = match self.token().await {
            Ok(token) => token,
            Err(reason) => return Delivery::Retry(reason),
        };
        let response = self
            .client
            .post(&self.url)
            .bearer_auth(token.expose_secret())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        match response {
            Ok(response) if response.status().is_success() => Delivery::Delivered,
            Ok(response) => {
                let status = response.status();
                let detail = response.text().await.unwrap_or_default();
                classify(status, &detail)
            }
            Err(e) => Delivery::Retry(format!("sending to {}: {e}", self.url)),
        }
    }
}

/// A batch moved to the dead-letter directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLettered {
    pub refusal: Refusal,
    /// The server's status and answer.
    pub answer: String,
    /// The dead letter's file.
    pub path: PathBuf,
    pub bytes: u64,
    /// Older dead letters deleted to keep the directory within its bound.
    pub dropped: Dropped,
}

/// What one flush of the spool did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlushOutcome {
    pub delivered: u64,
    pub dead_lettered: Vec<DeadLettered>,
    /// Why the flush stopped early (the oldest batch stays spooled), if it did.
    pub retry_reason: Option<String>,
}

/// Sends up to `max_batches` spooled batches oldest first, removing each once the server has it
/// and moving each it refuses for good to the dead-letter directory; stops at the first that
/// must be retried, so order is kept. (The daemon bounds each flush so a long backlog does not
/// hold up sampling; the rest goes on the next ticks.)
pub async fn flush(
    spool: &mut Spool,
    pusher: &Pusher,
    max_batches: usize,
) -> Result<FlushOutcome, SpoolError> {
    let mut outcome = FlushOutcome::default();
    for entry in spool.entries()?.into_iter().take(max_batches) {
        let body = spool.read(&entry)?;
        match pusher.send(body.clone()).await {
            Delivery::Delivered => {
                spool.remove(&entry)?;
                outcome.delivered += 1;
            }
            Delivery::Refused { refusal, answer } => {
                let (path, dropped) = spool.dead_letter(&entry, &body, refusal)?;
                outcome.dead_lettered.push(DeadLettered {
                    refusal,
                    answer,
                    path,
                    bytes: entry.bytes,
                    dropped,
                });
            }
            Delivery::Retry(reason) => {
                outcome.retry_reason = Some(reason);
                break;
            }
        }
    }
    Ok(outcome)
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> StatusCode {
        StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT)
    }

    #[test]
    fn statuses_are_classified() {
        assert_eq!(classify(StatusCode::OK, ""), Delivery::Delivered);
        assert_eq!(classify(StatusCode::CREATED, "{}"), Delivery::Delivered);
        assert_eq!(classify(StatusCode::ACCEPTED, ""), Delivery::Delivered);
        for retry in [500, 502, 503, 404, 408, 425, 429] {
            assert!(
                matches!(classify(status(retry), ""), Delivery::Retry(_)),
                "{retry}"
            );
        }
        for (code, expected) in [
            (401, Refusal::Unauthorized),
            (403, Refusal::Forbidden),
            (413, Refusal::TooLarge),
            (400, Refusal::Invalid),
            (422, Refusal::Invalid),
            (405, Refusal::ClientError),
            (410, Refusal::ClientError),
        ] {
            match classify(status(code), "{\"error\":\"x\"}") {
                Delivery::Refused { refusal, answer } => {
                    assert_eq!(refusal, expected, "{code}");
                    assert!(answer.contains(&code.to_string()), "{answer}");
                }
                other => panic!("{code}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_duplicate_batch_conflict_is_delivered_and_another_conflict_refused() {
        let duplicate = r#"{"error":"duplicate_batch","batch_id":"x","message":"already stored"}"#;
        assert_eq!(
            classify(StatusCode::CONFLICT, duplicate),
            Delivery::Delivered
        );
        assert_eq!(classify(StatusCode::CONFLICT, ""), Delivery::Delivered);
        assert!(matches!(
            classify(StatusCode::CONFLICT, r#"{"error":"other"}"#),
            Delivery::Refused {
                refusal: Refusal::Conflict,
                ..
            }
        ));
    }

    #[test]
    fn an_overlapping_interval_is_refused_for_good_under_its_own_reason() {
        let overlap = r#"{"error":"overlapping_interval","field":"samples[0]","stored":{}}"#;
        match classify(StatusCode::CONFLICT, overlap) {
            Delivery::Refused { refusal, answer } => {
                assert_eq!(refusal, Refusal::Overlapping);
                assert_eq!(refusal.as_str(), "overlapping");
                assert!(answer.contains("samples[0]"), "{answer}");
            }
            other => panic!("{other:?}"),
        }
        let advice = Refusal::Overlapping.advice("node-a", "x", 1);
        assert!(advice.contains("node node-a") && advice.contains("not counted"));
    }

    #[test]
    fn advice_names_what_to_fix() {
        let advice = Refusal::Unauthorized.advice("node-a", "CANOPY_NODE_TOKEN", 10);
        assert!(advice.contains("CANOPY_NODE_TOKEN") && advice.contains("node-a"));
        let advice = Refusal::Forbidden.advice("node-a", "/secrets/node-a", 10);
        assert!(advice.contains("not allowed for node node-a"));
        assert!(Refusal::TooLarge
            .advice("node-a", "x", 12345)
            .contains("12345 bytes"));
    }
}
