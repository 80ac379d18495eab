//! Shared helpers: App JWTs made by hand, installation tokens minted over plain HTTP, and a
//! reqwest client that sends a User-Agent like every GitHub client must.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use canopy_github_double::{GithubDouble, APP_ID, APP_PRIVATE_KEY_PEM};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A JWT with the given claims, signed with the App's key.
pub fn jwt_with(claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(APP_PRIVATE_KEY_PEM.as_bytes()).unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &key).unwrap()
}

/// A JWT like octocrab's: issued a minute ago, expiring in nine minutes.
pub fn app_jwt() -> String {
    let now = now_unix();
    jwt_with(&json!({ "iss": APP_ID, "iat": now - 60, "exp": now + 540 }))
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent("canopy-tests")
        .build()
        .unwrap()
}

pub fn api(double: &GithubDouble, path: &str) -> String {
    format!("{}{}", double.url(), path.trim_start_matches('/'))
}

/// Mints an installation token for `owner`'s installation.
pub async fn installation_token(double: &GithubDouble, owner: &str) -> String {
    let id = double.installation_id(owner).unwrap();
    let response = client()
        .post(api(
            double,
            &format!("/app/installations/{id}/access_tokens"),
        ))
        .bearer_auth(app_jwt())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

/// Status and JSON body of a GET with an optional `Authorization` header.
pub async fn get(double: &GithubDouble, path: &str, authorization: Option<&str>) -> (u16, Value) {
    let mut request = client().get(api(double, path));
    if let Some(authorization) = authorization {
        request = request.header("Authorization", authorization);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Status and JSON body of a POST with an optional `Authorization` header.
pub async fn post(
    double: &GithubDouble,
    path: &str,
    authorization: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    let mut request = client().post(api(double, path)).json(body);
    if let Some(authorization) = authorization {
        request = request.header("Authorization", authorization);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}
