//! Simulated power for Canopy's sandbox pods: the model lives in `canopy-energy-model` (shared
//! with the server's sandbox feed); the agent's `--simulate` source uses it from here.

pub use canopy_energy_model::simulated::{load_at, simulate, SimulatedInterval, SimulatedPod};
