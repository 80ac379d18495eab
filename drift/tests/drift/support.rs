//! The shared test support of the crate (`canopy_drift::testing`, feature `testing`).

pub use canopy_drift::testing::{repo, RegistryDouble};
