//! The HTTP surface: routes, static assets, health checks and response headers.

pub mod api;
mod assets;
pub mod energy_api;
mod health;
mod live;
mod logs;
mod quota_api;
mod router;
mod security;

pub use assets::SiteBundle;
pub use router::{router, AppState};
