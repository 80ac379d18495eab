//! Sign-in, sign-out and invite links: server-rendered HTML (askama) with plain forms, so they
//! work without JavaScript and before the wasm bundle loads. The people and audit pages are in
//! `people.rs`, sign-in with GitHub in `github_signin.rs`; this module routes all three.

use app::api::{auth::Principal, AppError};
use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
    Form,
};
use secrecy::SecretString;
use serde::Deserialize;
use tower_sessions::Session;

use super::{
    authn::{safe_return_path, Caller},
    routes::RouteTable,
    AppState,
};
use crate::auth::{self, audit::Target, AuthError, Username};

pub fn routes() -> RouteTable<AppState> {
    RouteTable::new()
        .get("/signin", signin_page)
        .post("/signin", signin)
        .post("/signout", signout)
        .post("/signout/everywhere", signout_everywhere)
        .get("/invite/{token}", invite_page)
        .post("/invite/{token}", accept_invite)
        .merge(super::people::routes())
        .merge(super::github_signin::routes())
}

pub(super) fn pkg_dir(state: &AppState) -> String {
    state.leptos_options.site_pkg_dir.to_string()
}

pub(super) fn render(status: StatusCode, page: impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, "page template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "signin.html")]
pub(super) struct SigninPage {
    pub(super) pkg_dir: String,
    pub(super) next: String,
    pub(super) username: String,
    pub(super) error: Option<String>,
    pub(super) expired: bool,
    pub(super) github: bool,
}

#[derive(Deserialize, Default)]
struct SigninQuery {
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    expired: Option<String>,
}

async fn signin_page(
    State(state): State<AppState>,
    principal: Option<axum::Extension<Principal>>,
    Query(query): Query<SigninQuery>,
) -> Response {
    let next = safe_return_path(query.next.as_deref().unwrap_or("/"));
    if principal.is_some() {
        return Redirect::to(&next).into_response();
    }
    render(
        StatusCode::OK,
        SigninPage {
            pkg_dir: pkg_dir(&state),
            next,
            username: String::new(),
            error: None,
            expired: query.expired.is_some(),
            github: state.identity.github.is_some(),
        },
    )
}

#[derive(Deserialize)]
struct SigninForm {
    username: String,
    password: String,
    #[serde(default)]
    next: String,
}

async fn signin(
    State(state): State<AppState>,
    session: Session,
    connect: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    Form(form): Form<SigninForm>,
) -> Response {
    let address = connect.map_or_else(|| "unknown".to_owned(), |c| c.0 .0.ip().to_string());
    let accounts = &state.identity.accounts;
    let password = SecretString::from(form.password);
    let next = safe_return_path(&form.next);
    let outcome = async {
        let user_id = accounts.verify(&form.username, &password, &address).await?;
        auth::session::sign_in(&session, accounts, user_id).await?;
        Ok::<_, AuthError>(user_id)
    }
    .await;
    let who = Principal {
        user_id: 0,
        username: form.username.trim().to_lowercase(),
        org_admin: false,
        teams: Default::default(),
        token_scope: None,
        address: Some(address),
    };
    match outcome {
        Ok(_) => {
            state
                .identity
                .audit
                .record(&who, "sign_in", Target::Org, true, "signed in")
                .await;
            Redirect::to(&next).into_response()
        }
        Err(error) => {
            let status = match &error {
                AuthError::BadCredentials => StatusCode::UNAUTHORIZED,
                AuthError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            let message = match &error {
                AuthError::BadCredentials | AuthError::RateLimited { .. } => error.to_string(),
                _ => AppError::from(error).to_string(),
            };
            state
                .identity
                .audit
                .record(&who, "sign_in", Target::Org, false, &message)
                .await;
            render(
                status,
                SigninPage {
                    pkg_dir: pkg_dir(&state),
                    next,
                    username: who.username,
                    error: Some(message),
                    expired: false,
                    github: state.identity.github.is_some(),
                },
            )
        }
    }
}

async fn signout(session: Session) -> Response {
    if let Err(error) = auth::session::sign_out(&session).await {
        tracing::warn!(%error, "sign-out could not end the session");
    }
    Redirect::to("/signin").into_response()
}

async fn signout_everywhere(
    State(state): State<AppState>,
    session: Session,
    Caller(who): Caller,
) -> Response {
    if who.token_scope.is_some() {
        return (
            StatusCode::FORBIDDEN,
            "Not allowed: an API token has no sessions to end; revoke the token instead.",
        )
            .into_response();
    }
    if let Err(error) = state
        .identity
        .accounts
        .sign_out_everywhere(who.user_id)
        .await
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            AppError::from(error).to_string(),
        )
            .into_response();
    }
    state
        .identity
        .audit
        .record(
            &who,
            "sign_out_everywhere",
            Target::Org,
            true,
            "every session ended",
        )
        .await;
    let _ = auth::session::sign_out(&session).await;
    Redirect::to("/signin").into_response()
}

#[derive(Template)]
#[template(path = "invite.html")]
struct InvitePage {
    pkg_dir: String,
    token: String,
    open: bool,
    grant: Option<String>,
    username: String,
    email: String,
    error: Option<String>,
}

async fn invite_page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let open = state
        .identity
        .accounts
        .invite_is_open(&token)
        .await
        .unwrap_or(false);
    render(
        if open {
            StatusCode::OK
        } else {
            StatusCode::GONE
        },
        InvitePage {
            pkg_dir: pkg_dir(&state),
            token,
            open,
            grant: None,
            username: String::new(),
            email: String::new(),
            error: None,
        },
    )
}

#[derive(Deserialize)]
struct AcceptForm {
    username: String,
    password: String,
    /// Optional: where the team e-mails go.
    #[serde(default)]
    email: String,
}

async fn accept_invite(
    State(state): State<AppState>,
    session: Session,
    Path(token): Path<String>,
    Form(form): Form<AcceptForm>,
) -> Response {
    let accounts = &state.identity.accounts;
    let outcome = async {
        let username = Username::parse(&form.username)?;
        let password = SecretString::from(form.password);
        let email = match form.email.trim() {
            "" => None,
            raw => Some(crate::auth::accounts::EmailAddress::parse(raw)?),
        };
        let user_id = accounts
            .accept_invite(&token, &username, &password, email.as_ref())
            .await?;
        auth::session::sign_in(&session, accounts, user_id).await?;
        Ok::<_, AuthError>(username)
    }
    .await;
    match outcome {
        Ok(username) => {
            let who = Principal {
                user_id: 0,
                username: username.as_str().to_owned(),
                org_admin: false,
                teams: Default::default(),
                token_scope: None,
                address: None,
            };
            state
                .identity
                .audit
                .record(&who, "accept_invite", Target::Org, true, "account created")
                .await;
            Redirect::to("/").into_response()
        }
        Err(error) => {
            let (status, open) = match &error {
                AuthError::InviteNotValid => (StatusCode::GONE, false),
                AuthError::Invalid { .. } | AuthError::UsernameTaken(_) => {
                    (StatusCode::UNPROCESSABLE_ENTITY, true)
                }
                _ => (StatusCode::SERVICE_UNAVAILABLE, true),
            };
            render(
                status,
                InvitePage {
                    pkg_dir: pkg_dir(&state),
                    token,
                    open,
                    grant: None,
                    username: form.username,
                    email: form.email,
                    error: Some(AppError::from(error).to_string()),
                },
            )
        }
    }
}
