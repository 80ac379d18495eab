//! Canopy's node simulator: simulated nodes and a kubelet stand-in for a real control plane
//! that has no machines (the sandbox of `scripts/kube-testenv.sh`; see docs/SANDBOX.md).
//!
//! It registers `N` nodes, and for every pod the real scheduler binds to them it plays the
//! kubelet: after a short delay the pod runs and becomes ready, or fails the way a pod told to
//! through the `canopy.dev/simulate` annotation or its image should (see [`simulation`]).
//! Simulated container logs are kept in a [`LogStore`] and served as a kubelet would
//! ([`kubelet_api`]), so the API server's pod log endpoint works for simulated pods; [`http`]
//! serves the same store shaped like that endpoint, for use without the API server.

pub mod config;
mod context;
mod error;
pub mod http;
mod kubelet;
pub mod kubelet_api;
mod lifecycle;
pub mod logs;
mod messages;
pub mod nodes;
pub mod simulation;
mod simulator;
pub mod status;
#[cfg(feature = "testing")]
pub mod testing;

pub use config::{client_from_kubeconfig, SimulatorConfig};
pub use error::{Error, Result};
pub use logs::{LogKey, LogStore};
pub use simulation::{Outcome, SIMULATE_ANNOTATION};
pub use simulator::{start, start_detached, SimulatorHandle};
