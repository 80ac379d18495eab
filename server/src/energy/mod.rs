//! Energy insights: agent batches in, kWh and CO2e per service, team, namespace and node out.
//!
//! - [`tokens`]: node tokens (SHA-256 digests only), created and revoked by admins;
//! - [`agent_identity`]: agents' projected ServiceAccount tokens, reviewed by the API server
//!   and bound to their pod's node;
//! - [`ingest`]: validation, pod → service mapping ([`mapping`]), one statement per batch
//!   that writes raw samples and updates the hourly rollup (and the daily one for late days);
//! - [`rollup`]: the daily rollup derived from the hourly one by a background job, behind the
//!   view `energy_rollup_daily`;
//! - [`partitions`]: day partitions of the raw tables, created ahead and on demand; retention
//!   drops whole partitions; the background job;
//! - [`carbon`]: `gCO2e = kWh × PUE × grid intensity`, the built-in grid table;
//! - [`grid`]: live grid intensity from Electricity Maps (optional), stored per zone and hour;
//! - [`query`]: series and overview figures read from the rollups;
//! - [`pods`]: power now and the per-pod breakdown of a service (raw samples);
//! - [`sci`]: operational CO2e per deploy and per request (SCI-style), request counts;
//! - [`backend`]: the UI's `EnergyBackend`.

pub mod agent_identity;
pub mod backend;
pub mod buckets;
pub mod carbon;
pub mod grid;
pub mod ingest;
pub mod mapping;
pub mod partitions;
pub mod pods;
pub mod query;
pub mod rollup;
pub mod sci;
pub mod tokens;

use std::sync::Arc;

use sqlx::PgPool;

pub use ingest::{IngestStats, Ingestor, RefusalKind};

/// What the energy capability is configured with (read from the environment in
/// `config.rs`): raw retention, carbon factors per cluster, live grid intensity.
#[derive(Debug, Clone)]
pub struct EnergySettings {
    /// Days of raw samples kept (whole day partitions); rollups are kept forever.
    pub retention_days: u32,
    pub carbon: carbon::CarbonSettings,
    /// Live grid intensity, when `CANOPY_ELECTRICITY_MAPS_TOKEN` is set.
    pub electricity_maps: Option<grid::ElectricityMapsSettings>,
}

impl Default for EnergySettings {
    fn default() -> Self {
        Self {
            retention_days: 7,
            carbon: carbon::CarbonSettings::default(),
            electricity_maps: None,
        }
    }
}

/// Everything the energy capability needs, shared by the HTTP handlers and the UI backend.
#[derive(Clone)]
pub struct EnergyState {
    pub tokens: tokens::NodeTokens,
    pub ingestor: Arc<Ingestor>,
    pub query: query::EnergyQuery,
    pub retention_days: u32,
    /// Agents' ServiceAccount tokens as node identity, when configured.
    pub agents: Option<Arc<agent_identity::AgentIdentity>>,
}

impl EnergyState {
    pub fn new(pool: PgPool, settings: EnergySettings) -> Self {
        let carbon = Arc::new(settings.carbon);
        let live = settings
            .electricity_maps
            .map(|em| Arc::new(grid::LiveGrid::new(pool.clone(), em)));
        Self {
            tokens: tokens::NodeTokens::new(pool.clone()),
            ingestor: Arc::new(Ingestor::new(pool.clone(), settings.retention_days)),
            query: query::EnergyQuery::new(pool, carbon, settings.retention_days).with_live(live),
            retention_days: settings.retention_days,
            agents: None,
        }
    }

    /// Also accepts agents' ServiceAccount tokens (when `agents` is `Some`).
    pub fn with_agent_identity(mut self, agents: Option<agent_identity::AgentIdentity>) -> Self {
        self.agents = agents.map(Arc::new);
        self
    }

    /// Starts the hourly Electricity Maps task when a token is configured and any cluster has
    /// a zone; else logs why live intensity is off.
    pub fn spawn_live_grid(&self, jobs: &crate::replicas::jobs::Jobs) {
        let Some(live) = self.query.live() else {
            return;
        };
        let zones = self.query.carbon().zones();
        if zones.is_empty() {
            tracing::warn!("CANOPY_ELECTRICITY_MAPS_TOKEN is set but no cluster has an Electricity Maps zone (CANOPY_ENERGY_GRID_ZONE, or zone= in CANOPY_ENERGY_CLUSTERS): the yearly table is used");
            return;
        }
        tracing::info!(?zones, "live grid intensity from Electricity Maps, hourly");
        live.clone().spawn(jobs, zones);
    }
}

/// Failures of the energy capability; mapped to HTTP in `http/energy_api.rs` and to the UI's
/// error in `energy/backend.rs`.
#[derive(Debug, thiserror::Error)]
pub enum EnergyError {
    /// The batch was refused; nothing of it was written.
    #[error("{0}")]
    Refused(#[from] ingest::Refusal),
    /// This batch_id is already stored; nothing was written again.
    #[error("batch {0} was already stored")]
    Duplicate(uuid::Uuid),
    /// The batch covers time already stored for its node under another batch_id; nothing of
    /// it was written.
    #[error("{0}")]
    Overlapping(Box<ingest::Overlap>),
    /// The credential belongs to another node than the batch names.
    #[error(
        "{credential} belongs to node {token_node:?} of cluster {cluster:?}, not {batch_node:?}"
    )]
    WrongNode {
        credential: String,
        token_node: String,
        cluster: String,
        batch_node: String,
    },
    #[error("{field}: {message}")]
    InvalidInput {
        field: &'static str,
        message: String,
    },
    #[error("{0} not found")]
    NotFound(&'static str),
    /// An agent's ServiceAccount token was not accepted.
    #[error(transparent)]
    Identity(#[from] agent_identity::IdentityError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}
