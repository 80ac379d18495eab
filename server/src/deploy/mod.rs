//! The deploy engine: service specs rendered into typed Kubernetes objects and applied.

pub mod apply;
pub mod commands;
pub mod diagnose;
pub mod error;
pub mod follow;
pub mod kube_words;
pub mod lease;
pub mod live;
pub mod logs;
pub mod manifest;
pub mod observe;
pub mod pods;
pub mod quota;
pub mod quota_admin;
pub mod records;
pub mod render;
pub mod rollout;
pub mod service;
pub mod size;

pub use error::DeployError;
