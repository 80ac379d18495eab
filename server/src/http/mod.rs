//! The HTTP surface: routes, static assets, health checks and response headers.

pub mod api;
mod assets;
mod authn;
mod drift_api;
pub mod energy_api;
pub mod error;
mod extract;
pub mod github;
mod github_signin;
mod health;
mod identity_api;
mod live;
mod logs;
mod metrics;
pub mod openapi;
mod people;
mod quota_api;
pub mod rate_limit;
mod reports;
mod router;
pub mod routes;
mod security;
mod signin;
pub mod streams;

pub use assets::SiteBundle;
pub use router::{handler_routes, router, AppState};
