//! Who is asking, for every request: a session cookie, an API token, or nobody. Anonymous
//! visitors reach only the public paths (sign-in, invites, health, metrics, the bundle, the
//! agents' ingest with node tokens); pages redirect them to sign-in (remembering where they were
//! going), everything else answers 401. State-changing requests not made with a bearer token must
//! come from Canopy's own origin (Origin, else Referer): a forged cross-site POST gets a 403.

use std::net::SocketAddr;

use app::api::{
    auth::{CsrfToken, Principal},
    AppError,
};
use axum::{
    extract::{ConnectInfo, FromRequestParts, Request, State},
    http::{header, request::Parts, HeaderMap, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::{
    headers::{authorization::Bearer, Authorization},
    TypedHeader,
};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;
use tower_sessions::Session;

use super::{error::ApiError, AppState};
use crate::auth;

/// Paths anyone may reach (prefixes end with '/').
const PUBLIC: [&str; 14] = [
    // Authorised by its HMAC signature (see `needs_no_identity`).
    "/webhooks/github",
    // README badges: GitHub fetches them without cookies.
    "/badge/",
    // Authorised by its signed token (see `needs_no_identity`).
    "/unsubscribe",
    "/signin",
    // Ending a session one may not have any more is harmless, and must always work.
    "/signout",
    "/invite/",
    "/auth/github/",
    "/healthz",
    "/readyz",
    "/metrics",
    "/pkg/",
    "/favicon.ico",
    canopy_protocol::INGEST_PATH,
    // The REST API's description: public, so scripts and tools can read it first.
    super::openapi::OPENAPI_PATH,
];

pub fn is_public(path: &str) -> bool {
    PUBLIC.iter().any(|public| {
        if public.ends_with('/') {
            path.starts_with(public)
        } else {
            path == *public
        }
    })
}

/// Paths that never need to know who asks (probes, metrics scrapes, the static bundle, the
/// agents' ingest with its own node tokens): no session is read, so they work with the database
/// down.
fn needs_no_identity(path: &str) -> bool {
    [
        "/healthz",
        "/readyz",
        "/metrics",
        "/favicon.ico",
        canopy_protocol::INGEST_PATH,
        super::openapi::OPENAPI_PATH,
        // One-click unsubscribe (RFC 8058): mail clients post it from elsewhere, without
        // cookies; the signed token in the link is the authority, not a session.
        "/unsubscribe",
        // GitHub's webhooks: the signature over the body is the authority.
        "/webhooks/github",
    ]
    .contains(&path)
        || path.starts_with("/pkg/")
        || path.starts_with("/badge/")
}

/// Requests answered as an API (401, JSON or text) rather than by redirecting to sign-in.
fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path.starts_with("/ui/")
}

/// Where to return after signing in: a same-origin path only (never `//host` or a URL).
pub fn safe_return_path(raw: &str) -> String {
    let ok = raw.starts_with('/')
        && !raw.starts_with("//")
        && !raw.starts_with("/\\")
        && !raw.contains(['\r', '\n'])
        && !raw.starts_with("/signin");
    if ok {
        raw.to_owned()
    } else {
        "/".to_owned()
    }
}

/// The origin (`scheme://host[:port]`, or `host[:port]` when only the host is known) this
/// request's page must have come from.
fn host_of_origin(origin: &str) -> Option<String> {
    let url = url::Url::parse(origin).ok()?;
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

/// Why a state-changing request was not taken as coming from Canopy's own pages (the text
/// completes "Canopy did not act on this request because …").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum CrossSite {
    #[error("the request has no Host header")]
    NoHost,
    #[error("the browser marked it as sent by another site (Sec-Fetch-Site: cross-site)")]
    FetchMetadata,
    #[error(
        "the request says neither where it came from (Origin) nor which page sent it (Referer)"
    )]
    NoOrigin,
    #[error("it came from {0}, not from Canopy's own pages")]
    OtherOrigin(String),
}

/// `Ok` when an unsafe request comes from Canopy's own pages.
fn check_same_origin(headers: &HeaderMap, public_host: Option<&str>) -> Result<(), CrossSite> {
    let expected = match public_host {
        Some(host) => host.to_owned(),
        None => headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
            .ok_or(CrossSite::NoHost)?,
    };
    // Fetch Metadata: browsers say outright when a request comes from another site.
    if headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|site| site == "cross-site")
    {
        return Err(CrossSite::FetchMetadata);
    }
    let claimed = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|v| *v != "null")
        .or_else(|| headers.get(header::REFERER).and_then(|v| v.to_str().ok()));
    match claimed {
        None => Err(CrossSite::NoOrigin),
        Some(claimed) => match host_of_origin(claimed) {
            Some(host) if host.eq_ignore_ascii_case(&expected) => Ok(()),
            _ => Err(CrossSite::OtherOrigin(claimed.to_owned())),
        },
    }
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

pub(super) fn refuse(path: &str, status: StatusCode, error: AppError) -> Response {
    if path.starts_with("/api/") {
        (status, ApiError::App(error)).into_response()
    } else {
        // `Retry-After` when trying again later helps (a busy pool, an unreachable database).
        let (_, headers) = super::error::head_of(&error);
        (status, headers, error.to_string()).into_response()
    }
}

/// The middleware (see the module docs).
pub async fn authenticate(
    State(state): State<AppState>,
    session: Session,
    bearer: Option<TypedHeader<Authorization<Bearer>>>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    if needs_no_identity(&path) {
        return next.run(request).await;
    }
    let address = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip().to_string());
    let identity = &state.identity;

    let principal = if let Some(TypedHeader(Authorization(bearer))) = bearer {
        match token_principal(&state, bearer.token()).await {
            Ok(Some(principal)) => Some(principal),
            Ok(None) => {
                return ApiError::Unauthorized(
                    "the bearer token is not valid (unknown, revoked or expired)",
                )
                .into_response()
            }
            Err(error) => return refuse(&path, StatusCode::SERVICE_UNAVAILABLE, error),
        }
    } else {
        if is_unsafe(request.method()) {
            if let Err(why) = check_same_origin(request.headers(), identity.public_host.as_deref())
            {
                tracing::warn!(%path, %why, "cross-site request refused");
                return refuse(
                    &path,
                    StatusCode::FORBIDDEN,
                    AppError::Forbidden {
                        message: format!("Canopy did not act on this request because {why}. Nothing was changed; use Canopy's own page."),
                    },
                );
            }
        }
        match auth::session::principal(&session, &identity.accounts, identity.github.as_ref()).await
        {
            Ok(principal) => principal,
            // The sign-in page still shows (and says what is wrong when it is submitted).
            Err(_) if is_public(&path) => None,
            Err(error) => {
                return refuse(
                    &path,
                    StatusCode::SERVICE_UNAVAILABLE,
                    AppError::from(error),
                )
            }
        }
    };

    match principal {
        Some(mut principal) => {
            principal.address = address;
            let from_session = principal.token_scope.is_none();
            request.extensions_mut().insert(principal);
            if from_session {
                // The token the page's forms carry when they post without JavaScript.
                match auth::session::csrf_token(&session).await {
                    Ok(token) => {
                        request.extensions_mut().insert(CsrfToken(token));
                    }
                    Err(error) => {
                        return refuse(&path, StatusCode::SERVICE_UNAVAILABLE, error.into())
                    }
                }
                if is_native_form_post(&request) {
                    request = match check_form_token(&session, request).await {
                        Ok(request) => request,
                        Err(response) => return response,
                    };
                }
            }
            next.run(request).await
        }
        None if is_public(&path) => next.run(request).await,
        None if path.starts_with("/api/fn/") && accepts_html(request.headers()) => {
            // A form posted without JavaScript after the session ended: say it was not saved.
            let back = request
                .headers()
                .get(header::REFERER)
                .and_then(|v| v.to_str().ok())
                .and_then(|r| url::Url::parse(r).ok())
                .map(|u| match u.query() {
                    Some(q) => format!("{}?{q}", u.path()),
                    None => u.path().to_owned(),
                })
                .unwrap_or_else(|| "/".to_owned());
            signin_redirect(&back, true)
        }
        None if path.starts_with("/api/v1/") => {
            ApiError::Unauthorized("sign in, or send Authorization: Bearer <token> (an API token)")
                .into_response()
        }
        None if is_api(&path) => refuse(&path, StatusCode::UNAUTHORIZED, AppError::Unauthorized),
        None if request.method() == Method::GET || request.method() == Method::HEAD => {
            let target = request
                .uri()
                .path_and_query()
                .map_or("/", |pq| pq.as_str())
                .to_owned();
            signin_redirect(&target, false)
        }
        None => refuse(&path, StatusCode::UNAUTHORIZED, AppError::Unauthorized),
    }
}

/// A server function called by a form posted without JavaScript (the browser wants a page
/// back); with JavaScript the call is a fetch, checked by its Origin alone.
/// For server-rendered forms (people, weekly e-mail): the form's `csrf` field must be the
/// session's token.
pub(super) async fn check_csrf(session: &Session, given: &str) -> Result<(), AppError> {
    if auth::session::csrf_matches(session, given).await? {
        Ok(())
    } else {
        Err(AppError::Forbidden {
            message: "the form's security token is missing or stale; reload the page and submit again (nothing was changed)".to_owned(),
        })
    }
}

fn is_native_form_post(request: &Request) -> bool {
    request.method() == Method::POST
        && request.uri().path().starts_with("/api/fn/")
        && accepts_html(request.headers())
}

/// Largest form body read to find its token.
const FORM_LIMIT: usize = 1024 * 1024;

/// Checks the form's `csrf` field against the session's token, and hands the request on with
/// its body intact.
async fn check_form_token(session: &Session, request: Request) -> Result<Request, Response> {
    let refused = |message: &str| {
        (
            StatusCode::FORBIDDEN,
            AppError::Forbidden {
                message: message.to_owned(),
            }
            .to_string(),
        )
            .into_response()
    };
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, FORM_LIMIT)
        .await
        .map_err(|_| refused("the form is too large (at most 1 MiB)"))?;
    let given = url::form_urlencoded::parse(&bytes)
        .find(|(key, _)| key == "csrf")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    match auth::session::csrf_matches(session, &given).await {
        Ok(true) => Ok(Request::from_parts(parts, axum::body::Body::from(bytes))),
        Ok(false) => Err(refused(
            "Canopy did not act on this form: its security token is missing or stale. Reload the page and submit it again (nothing was changed).",
        )),
        Err(error) => Err((StatusCode::SERVICE_UNAVAILABLE, AppError::from(error).to_string()).into_response()),
    }
}

fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

fn signin_redirect(next: &str, expired: bool) -> Response {
    let mut target = url::form_urlencoded::Serializer::new(String::new());
    target.append_pair("next", &safe_return_path(next));
    if expired {
        target.append_pair("expired", "1");
    }
    Redirect::to(&format!("/signin?{}", target.finish())).into_response()
}

async fn token_principal(state: &AppState, token: &str) -> Result<Option<Principal>, AppError> {
    if let Some(bootstrap) = &state.api_token {
        if bool::from(token.as_bytes().ct_eq(bootstrap.expose_secret().as_bytes())) {
            return Ok(Some(auth::bootstrap_principal()));
        }
    }
    Ok(state.identity.tokens.authenticate(token).await?)
}

/// The caller of a handler behind [`authenticate`]: always signed in (else it answered 401).
pub struct Caller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Caller)
            .ok_or(ApiError::App(AppError::Unauthorized))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn only_same_origin_paths_are_followed_after_sign_in() {
        assert_eq!(
            safe_return_path("/services/pay/web?env=dev"),
            "/services/pay/web?env=dev"
        );
        for open_redirect in [
            "//evil.example/x",
            "https://evil.example",
            "/\\evil.example",
            "evil",
            "/signin?next=//x",
        ] {
            assert_eq!(safe_return_path(open_redirect), "/", "{open_redirect}");
        }
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(name.clone(), HeaderValue::from_str(value).expect("valid"));
        }
        map
    }

    #[test]
    fn cross_site_requests_are_told_apart_from_canopy_s_own() {
        let own = headers(&[
            (header::HOST, "canopy.local:3000"),
            (header::ORIGIN, "http://canopy.local:3000"),
        ]);
        assert!(check_same_origin(&own, None).is_ok());
        let referer_only = headers(&[
            (header::HOST, "canopy.local:3000"),
            (header::REFERER, "http://canopy.local:3000/services"),
        ]);
        assert!(check_same_origin(&referer_only, None).is_ok());
        let forged = headers(&[
            (header::HOST, "canopy.local:3000"),
            (header::ORIGIN, "https://evil.example"),
        ]);
        assert_eq!(
            check_same_origin(&forged, None),
            Err(CrossSite::OtherOrigin("https://evil.example".to_owned()))
        );
        let marked = headers(&[
            (header::HOST, "canopy.local:3000"),
            (header::ORIGIN, "http://canopy.local:3000"),
            (
                header::HeaderName::from_static("sec-fetch-site"),
                "cross-site",
            ),
        ]);
        assert!(check_same_origin(&marked, None).is_err());
        let silent = headers(&[(header::HOST, "canopy.local:3000")]);
        assert!(check_same_origin(&silent, None).is_err());
        let behind_proxy = headers(&[
            (header::HOST, "10.0.0.5:3000"),
            (header::ORIGIN, "https://canopy.example.com"),
        ]);
        assert!(check_same_origin(&behind_proxy, Some("canopy.example.com")).is_ok());
    }

    #[test]
    fn anonymous_visitors_reach_only_public_paths() {
        for public in [
            "/signin",
            "/signout",
            "/healthz",
            "/pkg/abc/canopy.js",
            "/invite/tok",
            "/api/v1/ingest",
            "/api/v1/openapi.json",
        ] {
            assert!(is_public(public), "{public}");
        }
        for private in [
            "/signout/everywhere",
            "/",
            "/services",
            "/api/fn/deploy_service",
            "/api/v1/deploys",
            "/ui/live/a/b/dev",
            "/signinx",
            "/metricsx",
        ] {
            assert!(!is_public(private), "{private}");
        }
    }
}
