//! One file per page.

pub mod dependencies;
pub mod deploy_button;
pub mod energy;
pub mod home;
pub mod not_found;
pub mod service;
pub mod service_new;
pub mod services;
pub mod team;
pub mod teams;
