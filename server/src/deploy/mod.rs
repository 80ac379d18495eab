//! The deploy engine: service specs rendered into typed Kubernetes objects and applied.

pub mod apply;
pub mod render;
pub mod size;
