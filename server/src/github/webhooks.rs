//! `POST /webhooks/github`: the signature is checked over the raw bytes, in constant time,
//! before anything is parsed; the delivery is recorded in PostgreSQL (keyed by
//! `X-GitHub-Delivery`, so a replay changes nothing) and answered at once; the delivery worker
//! ([`super::deliveries`]) does the work.

use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use serde::Deserialize;
use sha2::Sha256;

use super::{Github, RepoName};

/// The events Canopy acts on.
pub const EVENTS: [&str; 2] = ["push", "pull_request"];

/// How a delivery was received (the HTTP layer turns it into a status and a JSON body).
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// Recorded; the worker will process it.
    Queued,
    /// This delivery id was recorded before: nothing changes.
    Replay,
    /// GitHub's `ping` on creating the hook.
    Pong,
    /// An event Canopy does not act on; nothing stored.
    Ignored(String),
}

/// Why a delivery was refused; nothing is stored.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    #[error("webhooks are not configured on this Canopy (set CANOPY_GITHUB_WEBHOOK_SECRET)")]
    NotConfigured,
    #[error("the X-Hub-Signature-256 header is missing; set a secret on the GitHub App's webhook")]
    MissingSignature,
    #[error(
        "the X-Hub-Signature-256 signature does not match the body and Canopy's webhook secret"
    )]
    BadSignature,
    #[error("{0}")]
    BadRequest(String),
    #[error("the delivery could not be recorded; GitHub will show it as failed and it can be redelivered")]
    Unavailable,
}

/// The headers GitHub sends with a delivery.
pub struct DeliveryHeaders<'a> {
    pub signature: Option<&'a str>,
    pub event: Option<&'a str>,
    pub delivery: Option<&'a str>,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    action: Option<String>,
    repository: Option<EnvelopeRepository>,
}

#[derive(Deserialize)]
struct EnvelopeRepository {
    full_name: String,
}

/// Checks `X-Hub-Signature-256: sha256=<hex>` against HMAC-SHA256(secret, body), in constant
/// time (`Mac::verify_slice`).
pub fn signature_matches(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex_digest) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_digest) else {
        return false;
    };
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

impl Github {
    /// Verifies and records one delivery.
    pub async fn receive(
        &self,
        headers: DeliveryHeaders<'_>,
        body: &[u8],
    ) -> Result<Received, Refused> {
        let Some(secret) = &self.settings.webhook_secret else {
            return Err(Refused::NotConfigured);
        };
        let signature = headers.signature.ok_or(Refused::MissingSignature)?;
        if !signature_matches(secret.expose_secret().as_bytes(), body, signature) {
            return Err(Refused::BadSignature);
        }
        // Signed by GitHub: now it may be read.
        let event = headers
            .event
            .ok_or_else(|| Refused::BadRequest("the X-GitHub-Event header is missing".into()))?;
        let delivery = headers
            .delivery
            .filter(|d| !d.is_empty() && d.len() <= 100)
            .ok_or_else(|| Refused::BadRequest("the X-GitHub-Delivery header is missing".into()))?;
        if event == "ping" {
            return Ok(Received::Pong);
        }
        if !EVENTS.contains(&event) {
            return Ok(Received::Ignored(format!(
                "Canopy does not act on {event:?} events (only push and pull_request)"
            )));
        }
        let payload: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| Refused::BadRequest(format!("the body is not JSON: {e}")))?;
        let envelope: Envelope = serde_json::from_value(payload.clone()).map_err(|e| {
            Refused::BadRequest(format!("the {event} payload has no repository: {e}"))
        })?;
        let repository = envelope
            .repository
            .ok_or_else(|| Refused::BadRequest(format!("the {event} payload has no repository")))?;
        let repo = RepoName::parse(&repository.full_name)
            .map_err(|e| Refused::BadRequest(e.to_string()))?;
        let inserted = sqlx::query!(
            r#"INSERT INTO github_deliveries (delivery_id, event, action, owner, repo, payload)
               VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (delivery_id) DO NOTHING"#,
            delivery,
            event,
            envelope.action,
            repo.owner(),
            repo.name(),
            payload
        )
        .execute(&self.pool)
        .await
        .map_err(|error| {
            tracing::error!(%error, delivery, "could not record a GitHub delivery");
            Refused::Unavailable
        })?;
        if inserted.rows_affected() == 0 {
            return Ok(Received::Replay);
        }
        self.deliveries_wake.notify_one();
        Ok(Received::Queued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_checked_over_the_exact_bytes() {
        // GitHub's documented example: secret "It's a Secret to Everybody", body "Hello, World!".
        let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(signature_matches(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            header
        ));
        assert!(!signature_matches(
            b"It's a Secret to Everybody",
            b"Hello, World",
            header
        ));
        assert!(!signature_matches(
            b"another secret",
            b"Hello, World!",
            header
        ));
        assert!(!signature_matches(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            "sha1=757107"
        ));
        assert!(!signature_matches(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            "sha256=zz"
        ));
    }
}
