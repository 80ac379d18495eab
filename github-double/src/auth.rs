//! Who is calling: an App JWT (RS256, checked like GitHub checks it), an installation token the
//! double issued, nobody, or credentials GitHub would refuse.

use std::collections::HashSet;

use axum::http::HeaderValue;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::records::AuthKind;
use crate::state::State;

/// GitHub allows an App JWT to live at most ten minutes...
const MAX_JWT_LIFETIME_SECS: i64 = 600;
/// ...and tolerates this much clock drift.
const CLOCK_DRIFT_SECS: i64 = 60;

pub(crate) const JWT_NOT_DECODED: &str = "A JSON web token could not be decoded";
pub(crate) const JWT_EXP_TOO_FAR: &str = "'Expiration time' claim ('exp') is too far in the future";
pub(crate) const JWT_EXPIRED: &str =
    "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires";
pub(crate) const JWT_IAT_INVALID: &str =
    "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued";
pub(crate) const JWT_ISS_INVALID: &str = "'Issuer' claim ('iss') must be an Integer";

/// The caller of one API request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Caller {
    Anonymous,
    App,
    Installation {
        installation_id: u64,
        repositories: Option<Vec<String>>,
    },
    /// A JWT GitHub refuses, with GitHub's message.
    BadJwt(&'static str),
    /// A token or header GitHub refuses ("Bad credentials").
    BadToken,
}

impl Caller {
    pub fn auth_kind(&self) -> AuthKind {
        match self {
            Caller::Anonymous => AuthKind::None,
            Caller::App => AuthKind::Jwt,
            Caller::Installation { .. } => AuthKind::InstallationToken,
            Caller::BadJwt(_) | Caller::BadToken => AuthKind::Invalid,
        }
    }
}

#[derive(Deserialize)]
struct AppClaims {
    iss: Option<serde_json::Value>,
    iat: Option<serde_json::Value>,
    exp: Option<serde_json::Value>,
}

/// Reads the `Authorization` header the way GitHub does: `Bearer <jwt>`, `Bearer <token>` or
/// `token <token>`.
pub(crate) fn identify(
    header: Option<&HeaderValue>,
    state: &State,
    key: &DecodingKey,
    app_id: u64,
    now_unix: i64,
) -> Caller {
    let Some(header) = header else {
        return Caller::Anonymous;
    };
    let Ok(header) = header.to_str() else {
        return Caller::BadToken;
    };
    let (scheme, credential) = header.trim().split_once(' ').unwrap_or((header, ""));
    let credential = credential.trim();
    let scheme = scheme.to_ascii_lowercase();
    if scheme == "bearer" && credential.split('.').count() == 3 {
        return match verify_app_jwt(credential, key, app_id, now_unix) {
            Ok(()) => Caller::App,
            Err(message) => Caller::BadJwt(message),
        };
    }
    if scheme != "bearer" && scheme != "token" {
        return Caller::BadToken;
    }
    match state.tokens.get(credential) {
        Some(token) if token.expires_at.unix_timestamp() > now_unix => Caller::Installation {
            installation_id: token.installation_id,
            repositories: token.repositories.clone(),
        },
        _ => Caller::BadToken,
    }
}

/// GitHub's checks on an App JWT: RS256 signed by the App's key, `iss` the App id (a number or
/// a numeric string), `iat` and `exp` present, not expired, and at most ten minutes long
/// (plus a minute of clock drift).
pub(crate) fn verify_app_jwt(
    jwt: &str,
    key: &DecodingKey,
    app_id: u64,
    now_unix: i64,
) -> Result<(), &'static str> {
    let mut validation = Validation::new(Algorithm::RS256);
    validation.required_spec_claims = HashSet::new();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.leeway = 0;
    let claims = jsonwebtoken::decode::<AppClaims>(jwt, key, &validation)
        .map_err(|_| JWT_NOT_DECODED)?
        .claims;
    let iss = match claims.iss {
        Some(serde_json::Value::Number(number)) => number.as_u64(),
        Some(serde_json::Value::String(text)) => text.parse::<u64>().ok(),
        _ => None,
    }
    .ok_or(JWT_ISS_INVALID)?;
    if iss != app_id {
        return Err(JWT_NOT_DECODED);
    }
    let iat = claims
        .iat
        .as_ref()
        .and_then(integer)
        .ok_or(JWT_IAT_INVALID)?;
    let exp = claims.exp.as_ref().and_then(integer).ok_or(JWT_EXPIRED)?;
    if iat > now_unix + CLOCK_DRIFT_SECS {
        return Err(JWT_IAT_INVALID);
    }
    if exp <= now_unix {
        return Err(JWT_EXPIRED);
    }
    if exp - iat > MAX_JWT_LIFETIME_SECS + CLOCK_DRIFT_SECS
        || exp > now_unix + MAX_JWT_LIFETIME_SECS + CLOCK_DRIFT_SECS
    {
        return Err(JWT_EXP_TOO_FAR);
    }
    Ok(())
}

fn integer(value: &serde_json::Value) -> Option<i64> {
    value.as_i64()
}
