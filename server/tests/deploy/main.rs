//! Integration tests of the deploy engine against the real local control plane (kube-apiserver,
//! controller manager, scheduler; `CANOPY_TEST_KUBECONFIG`) with simulated nodes.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod api;
// The real server with a database of its own (and a fresh database per test), as in the main
// integration tests.
#[path = "../it/support/mod.rs"]
mod app_support;
mod apply;
mod failures;
mod github;
mod isolation;
mod pods;
mod quota;
mod replicas;
mod resume;
mod rollout;
mod sandbox;
mod support;
