//! Canopy's dependency-drift library (work in progress).
pub mod datasource;
pub mod lookup;
pub mod manifest;
pub mod model;
pub mod report;
pub mod scan;
pub mod versioning;
