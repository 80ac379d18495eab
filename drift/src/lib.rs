//! Canopy's dependency-drift library (work in progress).
pub mod manifest;
pub mod model;
pub mod scan;
