//! Canopy's dependency-drift library: manifest parsers, registry datasources and the
//! Renovate-like lookup rules that turn both into a drift report (no database, no web server).
//!
//! The server calls three things, in this order:
//! 1. [`scan_directory`] (or [`scan_files`] for files read through another source) to find the
//!    dependencies a repository declares, each with its file and line;
//! 2. [`Registries::lookup_all`] to ask each ecosystem's registry what exists and judge every
//!    dependency ([`DependencyReport`]);
//! 3. [`summarise`] for the figures a dashboard ranks services by.
//!
//! The rules, and where they follow or leave Renovate, are written down in `docs/DRIFT.md`.

pub mod datasource;
pub mod lookup;
pub mod manifest;
pub mod model;
pub mod report;
pub mod scan;
pub mod summary;
#[cfg(feature = "testing")]
pub mod testing;
pub mod versioning;

pub use datasource::{
    cache::{Cache, CachedResponse, DiskCache, MemoryCache},
    registries::{Registries, RegistrySettings},
    DatasourceError, Release, Releases,
};
pub use lookup::judge;
pub use model::{Dependency, DependencyKind, Ecosystem, ManifestError, ScanInput, SkipReason};
pub use report::{DependencyReport, Outcome, Outdated, UpToDate, UpdateType};
pub use scan::{scan_directory, scan_files, SourceFile, SKIPPED_DIRS};
pub use summary::{summarise, DriftSummary, EcosystemSummary};
