//! The registry double for drift tests: the drift crate's own (`canopy_drift::testing`, its
//! recorded registry answers and fixture repositories), with Canopy's drift settings pointed
//! at it.

use std::path::PathBuf;

pub use canopy_drift::testing::RegistryDouble;

/// A fixture repository of the drift crate (`shop`: Cargo workspace, npm, Python, Go,
/// Dockerfile, actions), as a canonical path.
pub fn fixture_repo(name: &str) -> PathBuf {
    canopy_drift::testing::repo(name)
        .canonicalize()
        .expect("fixture repository")
}

/// Drift settings with every registry at `double`, no schedule, no retries.
pub fn drift_settings(double: &RegistryDouble) -> canopy_server::config::DriftSettings {
    let mut settings =
        canopy_server::config::DriftSettings::all_at(&double.server.uri()).expect("settings");
    settings.scan_every = None;
    settings.retries = 0;
    settings
}
