//! One-click unsubscribe links (RFC 8058): a token naming the person and the team, with an
//! expiry, signed with HMAC-SHA256 under a key every replica shares (`server_secrets`).

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use sqlx::PgPool;
use time::{Duration, OffsetDateTime};

use super::ReportError;

/// How long a link in an e-mail works.
pub const VALID_FOR: Duration = Duration::days(60);

const KEY_NAME: &str = "unsubscribe-hmac";

/// Why a token was refused (all answered the same way to the visitor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefused {
    Malformed,
    BadSignature,
    Expired,
}

/// Who a valid token unsubscribes, from which team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    pub user_id: i64,
    pub team: String,
}

#[derive(Clone)]
pub struct UnsubscribeSigner {
    key: Vec<u8>,
}

impl UnsubscribeSigner {
    pub fn with_key(key: Vec<u8>) -> Self {
        Self { key }
    }

    /// The shared key, created by whichever replica asks first.
    pub async fn load(pool: &PgPool) -> Result<Self, ReportError> {
        let mut fresh = vec![0_u8; 32];
        rand::thread_rng().fill_bytes(&mut fresh);
        sqlx::query!(
            "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            KEY_NAME,
            fresh
        )
        .execute(pool)
        .await?;
        let key = sqlx::query_scalar!("SELECT value FROM server_secrets WHERE name = $1", KEY_NAME)
            .fetch_one(pool)
            .await?;
        Ok(Self { key })
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        // HMAC takes keys of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
        mac.update(payload.as_bytes());
        mac
    }

    /// `<user>.<team>.<expiry>.<signature>`.
    pub fn token(&self, user_id: i64, team: &str, expires: OffsetDateTime) -> String {
        let payload = format!("{user_id}.{team}.{}", expires.unix_timestamp());
        let signature = URL_SAFE_NO_PAD.encode(self.mac(&payload).finalize().into_bytes());
        format!("{payload}.{signature}")
    }

    /// Checks the signature (in constant time) and the expiry.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<Unsubscribe, TokenRefused> {
        let (payload, signature) = token.rsplit_once('.').ok_or(TokenRefused::Malformed)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenRefused::Malformed)?;
        self.mac(payload)
            .verify_slice(&signature)
            .map_err(|_| TokenRefused::BadSignature)?;
        let mut parts = payload.splitn(3, '.');
        let (Some(user), Some(team), Some(expires)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenRefused::Malformed);
        };
        let expires: i64 = expires.parse().map_err(|_| TokenRefused::Malformed)?;
        if now.unix_timestamp() > expires {
            return Err(TokenRefused::Expired);
        }
        Ok(Unsubscribe {
            user_id: user.parse().map_err(|_| TokenRefused::Malformed)?,
            team: team.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_the_person_and_team_until_it_expires() {
        let signer = UnsubscribeSigner::with_key(b"key".to_vec());
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        let token = signer.token(42, "payments", now + VALID_FOR);
        assert_eq!(
            signer.verify(&token, now),
            Ok(Unsubscribe {
                user_id: 42,
                team: "payments".to_owned()
            })
        );
        assert_eq!(
            signer.verify(&token, now + VALID_FOR + Duration::seconds(1)),
            Err(TokenRefused::Expired)
        );
    }

    #[test]
    fn forged_tokens_are_refused() {
        let signer = UnsubscribeSigner::with_key(b"key".to_vec());
        let now = OffsetDateTime::UNIX_EPOCH;
        let token = signer.token(42, "payments", now + VALID_FOR);
        let other_team = token.replace("payments", "search");
        assert_eq!(
            signer.verify(&other_team, now),
            Err(TokenRefused::BadSignature)
        );
        let other_key = UnsubscribeSigner::with_key(b"another".to_vec());
        assert_eq!(
            other_key.verify(&token, now),
            Err(TokenRefused::BadSignature)
        );
        assert_eq!(signer.verify("garbage", now), Err(TokenRefused::Malformed));
        assert_eq!(signer.verify("", now), Err(TokenRefused::Malformed));
    }
}
