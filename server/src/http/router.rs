//! The axum router: Leptos pages and server functions, static assets, health checks, layers.

use std::{sync::Arc, time::Duration};

use app::api::backend::{Backend, BackendHandle, DeployBackend, DeployBackendHandle};
use axum::{
    extract::FromRef,
    http::{header, HeaderValue},
    middleware, Router,
};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes, ResponseOptions};
use sqlx::PgPool;
use tower::ServiceBuilder;
use tower_http::{
    compression::CompressionLayer, services::ServeDir, timeout::TimeoutLayer, trace::TraceLayer,
};

use super::{
    api, assets, authn, drift_api, energy_api, github, health, identity_api, live, logs, metrics,
    openapi, quota_api, reports,
    routes::{RouteEntry, RouteTable},
    security, signin, SiteBundle,
};
use crate::deploy::commands::DeployCommands;
use secrecy::SecretString;

#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub pool: PgPool,
    pub backend: Arc<dyn Backend>,
    pub deploy_backend: Arc<dyn DeployBackend>,
    /// The one entry to the deploy engine (checks roles, writes the audit log).
    pub commands: DeployCommands,
    /// The bootstrap admin token (`CANOPY_API_TOKEN`), besides people's and teams' tokens.
    pub api_token: Option<SecretString>,
    /// Accounts, sessions, API tokens and the audit log.
    pub identity: crate::auth::Identity,
    /// `Secure` session cookies (Canopy is served over HTTPS).
    pub secure_cookies: bool,
    /// Energy ingest, tokens and figures (`http/energy_api.rs`).
    pub energy: crate::energy::EnergyState,
    pub energy_backend: Arc<dyn app::api::backend::EnergyBackend>,
    /// Cancelled when Canopy starts shutting down: live streams (rollout, log follow) end, so
    /// draining the open requests can finish.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// Caps on open live streams (per caller and in all).
    pub streams: super::streams::StreamLimits,
    /// The weekly team e-mail (previews, sends, the outbox, unsubscribe links).
    pub reports: crate::reports::Reports,
    /// Dependency drift: sources, scans, the org-wide picture (`drift/`).
    pub drift: crate::drift::Drift,
    pub drift_backend: Arc<dyn app::api::backend::DriftBackend>,
    /// The Kubernetes cluster deploys go to (`None`: none configured or reachable at startup).
    pub cluster: Option<crate::sandbox::ClusterContext>,
    /// GitHub-linked delivery: links, webhooks, deployment statuses, the deploy button.
    pub github: crate::github::Github,
    /// The request rate limit shared by the replicas (`http/rate_limit.rs`).
    pub rate_limit: super::rate_limit::RateLimiter,
    pub github_backend: Arc<dyn app::api::backend::GithubBackend>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// What every page render and server function call gets in its Leptos context.
fn request_context(
    backend: Arc<dyn Backend>,
    deploy_backend: Arc<dyn DeployBackend>,
    energy_backend: Arc<dyn app::api::backend::EnergyBackend>,
    drift_backend: Arc<dyn app::api::backend::DriftBackend>,
    github_backend: Arc<dyn app::api::backend::GithubBackend>,
) -> impl Fn() + Clone + Send + 'static {
    move || {
        provide_context(app::api::backend::GithubBackendHandle(
            github_backend.clone(),
        ));
        provide_context(app::api::backend::DriftBackendHandle(drift_backend.clone()));
        provide_context(BackendHandle(backend.clone()));
        provide_context(DeployBackendHandle(deploy_backend.clone()));
        provide_context(app::api::backend::EnergyBackendHandle(
            energy_backend.clone(),
        ));
        // A page whose data could not be loaded answers with the error's status and headers.
        provide_context(app::api::backend::ErrorHeadHandle(super::error::head_of));
        // leptos_axum provides a fresh nonce for each page; the policy must name it.
        if let (Some(nonce), Some(response)) =
            (leptos::nonce::use_nonce(), use_context::<ResponseOptions>())
        {
            if let Ok(value) = HeaderValue::from_str(&security::page_policy(&nonce)) {
                response.insert_header(header::CONTENT_SECURITY_POLICY, value);
            }
        }
    }
}

/// Every route served by Canopy's own handlers (pages and server functions are Leptos's:
/// `leptos_axum::generate_route_list(app::App)` and `server_fn::axum::server_fn_paths()`).
fn route_table() -> RouteTable<AppState> {
    const UI_LOGS: &str = "/ui/logs/{team}/{service}/{environment}/{pod}";
    RouteTable::new()
        .get("/healthz", health::healthz)
        .get("/readyz", health::readyz)
        .get("/metrics", metrics::metrics)
        .get("/favicon.ico", assets::favicon)
        .get(
            "/ui/live/{team}/{service}/{environment}",
            live::rollout_events,
        )
        .get(&format!("{UI_LOGS}/follow"), logs::follow_events)
        .get(&format!("{UI_LOGS}/download"), logs::download)
        .nest(
            "/api/v1",
            api::routes()
                .merge(quota_api::routes())
                .merge(identity_api::routes())
                .merge(drift_api::routes())
                .merge(github::api_routes()),
        )
        .merge(github::routes())
        .merge(energy_api::routes())
        .merge(openapi::routes())
        .merge(signin::routes())
        .merge(reports::routes())
}

/// The method and path pattern of every route [`route_table`] serves.
pub fn handler_routes() -> Vec<RouteEntry> {
    route_table().into_parts().1
}

pub fn router(state: AppState, bundle: &SiteBundle) -> Router {
    let routes = generate_route_list(app::App);
    let context = request_context(
        state.backend.clone(),
        state.deploy_backend.clone(),
        state.energy_backend.clone(),
        state.drift_backend.clone(),
        state.github_backend.clone(),
    );
    let options = state.leptos_options.clone();
    let sessions = crate::auth::session::layer(state.pool.clone(), state.secure_cookies);
    let authenticate = middleware::from_fn_with_state(state.clone(), authn::authenticate);
    let rate_limit =
        middleware::from_fn_with_state(state.rate_limit.clone(), super::rate_limit::limit);

    let pkg = ServeDir::new(bundle.site_root.join("pkg"))
        .precompressed_br()
        .precompressed_gzip();

    let (handlers, _) = route_table().into_parts();
    let mut router = handlers
        .leptos_routes_with_context(&state, routes, context.clone(), {
            let options = options.clone();
            move || app::shell(options.clone())
        })
        .nest_service("/pkg", pkg)
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(context, app::shell))
        .with_state(state);

    // Server functions' errors get their statuses from the one table (http/error.rs).
    router = router.layer(middleware::from_fn(super::error::server_fn_status));
    // Who is asking (inside the session layer, which loads the session it reads), then how
    // often they ask.
    router = router.layer(rate_limit).layer(authenticate).layer(sessions);
    // Per route (Router::layer wraps each route), so the matched route pattern is known.
    router = router.layer(middleware::from_fn(metrics::time_requests));
    for layer in security::layers() {
        router = router.layer(layer);
    }
    router.layer(
        ServiceBuilder::new()
            .layer(TraceLayer::new_for_http())
            .layer(TimeoutLayer::with_status_code(
                axum::http::StatusCode::REQUEST_TIMEOUT,
                Duration::from_secs(30),
            ))
            .layer(CompressionLayer::new())
            .layer(middleware::from_fn(assets::cache_control)),
    )
}
