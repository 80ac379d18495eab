//! Push to the Canopy server: `POST /api/v1/ingest` with the node's bearer token, fed from the
//! on-disk spool in order; what the server cannot take now waits in the spool.

pub mod spool;

use std::time::Duration;

use canopy_protocol::INGEST_PATH;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};

use spool::{Spool, SpoolError};

/// Errors building the push client.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("building the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// What the server did with one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// 2xx, or 409 (the server already has this batch id): remove it from the spool.
    Delivered,
    /// Network error, 5xx, 408, 425, 429, and 401/403/404 (configuration problems the operator
    /// can fix): keep the batch and everything after it; try again later.
    Retry(String),
    /// Any other 4xx (400, 413, 422, ...): the server will never accept this body. It is removed
    /// and counted so it cannot block the batches behind it.
    Rejected(String),
}

/// Classifies an HTTP status as [`Delivery`].
pub fn classify(status: StatusCode) -> Delivery {
    let code = status.as_u16();
    if status.is_success() || status == StatusCode::CONFLICT {
        Delivery::Delivered
    } else if status.is_server_error() || matches!(code, 401 | 403 | 404 | 408 | 425 | 429) {
        Delivery::Retry(format!("server answered {status}"))
    } else {
        Delivery::Rejected(format!("server answered {status}"))
    }
}

/// Sends serialized batches to the server.
#[derive(Debug, Clone)]
pub struct Pusher {
    client: reqwest::Client,
    url: String,
    token: SecretString,
}

impl Pusher {
    /// `server_url` is the server's base URL (`http://canopy:3000`); the path is appended.
    pub fn new(server_url: &str, token: SecretString) -> Result<Self, PushError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            .build()?;
        Ok(Self {
            client,
            url: format!("{}{INGEST_PATH}", server_url.trim_end_matches('/')),
            token,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// POSTs one JSON body.
    pub async fn send(&self, body: Vec<u8>) -> Delivery {
        let response = self
            .client
            .post(&self.url)
            .bearer_auth(self.token.expose_secret())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        match response {
            Ok(response) => match classify(response.status()) {
                Delivery::Rejected(reason) => {
                    let detail = response.text().await.unwrap_or_default();
                    Delivery::Rejected(format!("{reason}: {}", truncate(&detail, 300)))
                }
                other => other,
            },
            Err(e) => Delivery::Retry(format!("sending to {}: {e}", self.url)),
        }
    }
}

/// What one flush of the spool did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlushOutcome {
    pub delivered: u64,
    pub rejected: Vec<String>,
    /// Why the flush stopped early (the oldest batch stays spooled), if it did.
    pub retry_reason: Option<String>,
}

/// Sends up to `max_batches` spooled batches oldest first, removing each once the server has it;
/// stops at the first that must be retried, so order is kept. (The daemon bounds each flush so
/// a long backlog does not hold up sampling; the rest goes on the next ticks.)
pub async fn flush(
    spool: &Spool,
    pusher: &Pusher,
    max_batches: usize,
) -> Result<FlushOutcome, SpoolError> {
    let mut outcome = FlushOutcome::default();
    for entry in spool.entries()?.into_iter().take(max_batches) {
        let body = spool.read(&entry)?;
        match pusher.send(body).await {
            Delivery::Delivered => {
                spool.remove(&entry)?;
                outcome.delivered += 1;
            }
            Delivery::Rejected(reason) => {
                spool.remove(&entry)?;
                outcome.rejected.push(reason);
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

    #[test]
    fn statuses_are_classified() {
        assert_eq!(classify(StatusCode::OK), Delivery::Delivered);
        assert_eq!(classify(StatusCode::ACCEPTED), Delivery::Delivered);
        assert_eq!(classify(StatusCode::CONFLICT), Delivery::Delivered);
        for retry in [500, 502, 503, 401, 403, 404, 408, 429] {
            let status = StatusCode::from_u16(retry).unwrap_or(StatusCode::IM_A_TEAPOT);
            assert!(matches!(classify(status), Delivery::Retry(_)), "{retry}");
        }
        for rejected in [400, 413, 422] {
            let status = StatusCode::from_u16(rejected).unwrap_or(StatusCode::OK);
            assert!(
                matches!(classify(status), Delivery::Rejected(_)),
                "{rejected}"
            );
        }
    }
}
