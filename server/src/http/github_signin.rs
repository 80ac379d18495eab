//! Sign-in with GitHub over HTTP: `POST /auth/github/start` sends the person to GitHub with
//! `state` and a PKCE challenge kept in the session; `GET /auth/github/callback` finishes it
//! (`auth/github.rs` does the talking to GitHub).

use app::api::{auth::Principal, AppError};
use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    Form,
};
use serde::Deserialize;
use tower_sessions::Session;

use super::{
    authn::safe_return_path,
    routes::RouteTable,
    signin::{pkg_dir, render, SigninPage},
    AppState,
};
use crate::auth::{self, audit::Target, AuthError};

pub(super) fn routes() -> RouteTable<AppState> {
    RouteTable::new()
        .post("/auth/github/start", github_start)
        .get("/auth/github/callback", github_callback)
}

const GITHUB_PENDING: &str = "github_pending";

/// Where GitHub sends people back: `CANOPY_PUBLIC_URL`, else the request's own host.
fn github_callback_url(state: &AppState, headers: &axum::http::HeaderMap) -> String {
    format!("{}/auth/github/callback", state.identity.base_url(headers))
}

#[derive(Deserialize)]
struct GithubStartForm {
    #[serde(default)]
    next: String,
}

/// `POST /auth/github/start`: remembers `state` and the PKCE verifier in the session, then
/// sends the person to GitHub.
async fn github_start(
    State(state): State<AppState>,
    session: Session,
    headers: axum::http::HeaderMap,
    Form(form): Form<GithubStartForm>,
) -> Response {
    let Some(github) = &state.identity.github else {
        return (
            StatusCode::NOT_FOUND,
            "GitHub sign-in is not configured on this Canopy (CANOPY_GITHUB_CLIENT_ID).",
        )
            .into_response();
    };
    let (url, pending) = github.start(
        &github_callback_url(&state, &headers),
        safe_return_path(&form.next),
    );
    if let Err(error) = session.insert(GITHUB_PENDING, pending).await {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            AppError::from(AuthError::from(error)).to_string(),
        )
            .into_response();
    }
    Redirect::to(url.as_str()).into_response()
}

#[derive(Deserialize)]
struct GithubCallback {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// `GET /auth/github/callback`: GitHub's answer. Signs the person in (a new session id) with
/// their roles from the organisation's teams, or says plainly why not.
async fn github_callback(
    State(state): State<AppState>,
    session: Session,
    headers: axum::http::HeaderMap,
    Query(answer): Query<GithubCallback>,
) -> Response {
    let Some(github) = state.identity.github.clone() else {
        return (
            StatusCode::NOT_FOUND,
            "GitHub sign-in is not configured on this Canopy.",
        )
            .into_response();
    };
    let pending = session
        .remove::<auth::github::PendingSignIn>(GITHUB_PENDING)
        .await
        .ok()
        .flatten();
    let accounts = &state.identity.accounts;
    let outcome = async {
        if let Some(error) = answer.error {
            return Err(SigninFailure::Github(auth::github::GithubError::Denied(
                answer.error_description.unwrap_or(error),
            )));
        }
        let (Some(pending), Some(code), Some(returned)) = (pending, answer.code, answer.state)
        else {
            return Err(SigninFailure::Github(
                auth::github::GithubError::StateMismatch,
            ));
        };
        let (identity, token) = github
            .finish(
                &pending,
                &returned,
                &code,
                &github_callback_url(&state, &headers),
            )
            .await
            .map_err(SigninFailure::Github)?;
        let user_id = accounts
            .upsert_github_user(&identity)
            .await
            .map_err(SigninFailure::Auth)?;
        auth::session::sign_in_github(&session, accounts, user_id, &token)
            .await
            .map_err(SigninFailure::Auth)?;
        Ok((identity, pending.next))
    }
    .await;
    match outcome {
        Ok((identity, next)) => {
            let who = Principal {
                user_id: 0,
                username: identity.login.to_lowercase(),
                org_admin: identity.org_admin,
                teams: Default::default(),
                token_scope: None,
                address: None,
            };
            let teams: Vec<String> = identity
                .teams
                .iter()
                .map(|(team, role)| format!("{team}: {}", role.as_str()))
                .collect();
            state
                .identity
                .audit
                .record(
                    &who,
                    "sign_in_github",
                    Target::Org,
                    true,
                    &format!("signed in; teams {}", teams.join(", ")),
                )
                .await;
            Redirect::to(&next).into_response()
        }
        Err(failure) => {
            let (status, message) = match &failure {
                SigninFailure::Github(auth::github::GithubError::Unreachable { .. })
                | SigninFailure::Github(auth::github::GithubError::Api(_)) => {
                    tracing::warn!(error = %failure, "GitHub sign-in failed");
                    (StatusCode::BAD_GATEWAY, failure.to_string())
                }
                SigninFailure::Auth(AuthError::Invalid { .. }) => {
                    (StatusCode::CONFLICT, failure.to_string())
                }
                SigninFailure::Auth(_) => (StatusCode::SERVICE_UNAVAILABLE, failure.to_string()),
                SigninFailure::Github(_) => (StatusCode::FORBIDDEN, failure.to_string()),
            };
            render(
                status,
                SigninPage {
                    pkg_dir: pkg_dir(&state),
                    next: "/".to_owned(),
                    username: String::new(),
                    error: Some(message),
                    expired: false,
                    github: true,
                },
            )
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum SigninFailure {
    #[error(transparent)]
    Github(auth::github::GithubError),
    #[error("{0}")]
    Auth(AuthError),
}
