//! canopy-agent: measures node energy (RAPL, or an estimate, or a simulation for sandbox pods)
//! and attributes it to pods; exports Prometheus metrics and pushes batches to the server.

pub mod attribution;
pub mod daemon;
pub mod directory;
pub mod exporter;
#[cfg(feature = "kube")]
pub mod kube_watch;
pub mod metrics;
pub mod once;
pub mod push;
pub mod report;
pub mod sampler;
pub mod sensors;
pub mod settings;
pub mod testing;
