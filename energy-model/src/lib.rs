//! Canopy's power models, shared by the node agent and the server's sandbox feed without the
//! agent's binary dependencies: Cloud Carbon Footprint's per-vCPU model ([`cloud`]) and the
//! simulated sandbox pods ([`simulated`]), whose intervals become ingest samples.

pub mod cloud;
pub mod simulated;
