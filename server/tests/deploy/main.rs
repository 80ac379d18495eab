//! Integration tests of the deploy engine against the real local control plane (kube-apiserver,
//! controller manager, scheduler; `CANOPY_TEST_KUBECONFIG`) with simulated nodes.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod apply;
// The main integration tests' database harness (a fresh database per test).
#[path = "../it/support/mod.rs"]
mod db_support;
mod failures;
mod quota;
mod resume;
mod rollout;
mod sandbox;
mod support;
