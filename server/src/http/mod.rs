//! The HTTP surface: routes, static assets, health checks and response headers.

mod assets;
pub mod energy_api;
mod health;
mod router;
mod security;

pub use assets::SiteBundle;
pub use router::{router, AppState};
