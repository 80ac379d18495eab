//! Server functions and the data types they exchange with the browser.

pub mod auth;
pub mod catalogue;
pub mod deploy_fns;
pub mod deploys;
pub mod drift;
pub mod energy;
mod error;
pub mod github;
pub mod home;
mod names;
pub mod pods;
pub mod quota;
mod service_ref;
mod services;
pub mod spec;

#[cfg(feature = "ssr")]
pub mod backend;

pub use error::{AppError, Field};
pub use names::{NameError, ServiceName, TeamName, SERVICE_NAME_PATTERN, TEAM_NAME_PATTERN};
pub use service_ref::{parse_environment, ServiceRef};
pub use services::*;
