//! Webhook deliveries as GitHub makes them: the exact body bytes signed with HMAC-SHA256 and
//! POSTed with GitHub's headers.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{DoubleError, Result};

/// The id of the App's webhook, sent as `X-GitHub-Hook-ID`.
pub const HOOK_ID: u64 = 500_000_001;

/// `X-Hub-Signature-256` for `body`: `sha256=` and the hex HMAC-SHA256 under `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// One delivery to make (also the control API's `POST /_double/webhooks` body).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    pub target_url: String,
    /// `X-GitHub-Event`, e.g. `push` or `pull_request`.
    pub event: String,
    pub payload: serde_json::Value,
    /// Defaults to the double's webhook secret.
    #[serde(default)]
    pub secret: Option<String>,
    /// `X-GitHub-Delivery`; a fresh UUID when absent.
    #[serde(default)]
    pub delivery: Option<String>,
}

/// What the target answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookResponse {
    pub status: u16,
    pub body: String,
    /// The `X-GitHub-Delivery` sent.
    pub delivery: String,
}

pub(crate) async fn deliver(
    http: &reqwest::Client,
    app_id: u64,
    default_secret: &str,
    delivery: WebhookDelivery,
) -> Result<WebhookResponse> {
    let body = serde_json::to_vec(&delivery.payload)?;
    let secret = delivery.secret.as_deref().unwrap_or(default_secret);
    let delivery_id = delivery
        .delivery
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let failed = |source| DoubleError::WebhookDelivery {
        target: delivery.target_url.clone(),
        source,
    };
    let response = http
        .post(&delivery.target_url)
        .header("User-Agent", "GitHub-Hookshot/abc1234")
        .header("Content-Type", "application/json")
        .header("X-GitHub-Event", &delivery.event)
        .header("X-GitHub-Delivery", &delivery_id)
        .header("X-GitHub-Hook-ID", HOOK_ID.to_string())
        .header("X-GitHub-Hook-Installation-Target-ID", app_id.to_string())
        .header("X-GitHub-Hook-Installation-Target-Type", "integration")
        .header("X-Hub-Signature-256", sign(secret, &body))
        .body(body)
        .send()
        .await
        .map_err(failed)?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(failed)?;
    Ok(WebhookResponse {
        status,
        body,
        delivery: delivery_id,
    })
}
