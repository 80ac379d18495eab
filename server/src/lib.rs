//! The Canopy server: configuration, database, HTTP surface and server-side logic.
//! The `canopy` binary (main.rs) only wires these together.

pub mod auth;
pub mod backend;
pub mod config;
pub mod db;
pub mod deploy;
pub mod drift;
pub mod energy;
pub mod error;
pub mod github;
pub mod home;
pub mod http;
pub mod metrics;
pub mod replicas;
pub mod reports;
pub mod sandbox;
pub mod services;
pub mod startup;
pub mod telemetry;
