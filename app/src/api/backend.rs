//! The interface server functions use to reach server-side logic (server only).
//!
//! `server` implements [`Backend`] and provides it through Leptos context, so the UI crate
//! never depends on the server crate and server functions stay thin.

use std::sync::Arc;

use std::collections::BTreeMap;

use super::{
    auth::Principal,
    deploy_fns::{DeployPreview, ServiceOverview},
    deploys::DeployRecord,
    spec::ServiceSpec,
    AppError, ServiceName, ServiceRef, ServiceSummary, TeamName, TeamSummary,
};

#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    async fn list_services(&self) -> Result<Vec<ServiceSummary>, AppError>;
    async fn register_service(
        &self,
        who: &Principal,
        team: TeamName,
        name: ServiceName,
    ) -> Result<ServiceSummary, AppError>;
    async fn list_teams(&self) -> Result<Vec<TeamSummary>, AppError>;
    /// One page of the services catalogue, from this replica's in-memory snapshot.
    async fn catalogue(
        &self,
        query: super::catalogue::CatalogueQuery,
    ) -> Result<super::catalogue::CataloguePage, AppError>;
    /// The home page: what needs attention, recent deploys, this week's energy; `who`'s teams
    /// first.
    async fn home(&self, who: &Principal) -> Result<super::home::Home, AppError>;
}

/// What the server puts in Leptos context.
#[derive(Clone)]
pub struct BackendHandle(pub Arc<dyn Backend>);

/// The backend provided by the server for this request.
pub fn backend() -> Result<Arc<dyn Backend>, AppError> {
    leptos::prelude::use_context::<BackendHandle>()
        .map(|handle| handle.0)
        .ok_or_else(|| AppError::Internal {
            reference: "backend-not-provided".to_owned(),
        })
}

/// Deploying services: the interface the deploy server functions use.
#[async_trait::async_trait]
pub trait DeployBackend: Send + Sync + 'static {
    async fn overview(
        &self,
        who: &Principal,
        service: ServiceRef,
    ) -> Result<ServiceOverview, AppError>;
    async fn preview(
        &self,
        who: &Principal,
        spec: ServiceSpec,
        secret_keys: Vec<String>,
    ) -> Result<DeployPreview, AppError>;
    async fn deploy(
        &self,
        who: &Principal,
        spec: ServiceSpec,
        secret_values: BTreeMap<String, String>,
    ) -> Result<DeployRecord, AppError>;
    async fn rollback(
        &self,
        who: &Principal,
        service: ServiceRef,
        revision: i64,
    ) -> Result<DeployRecord, AppError>;
    async fn restart(&self, who: &Principal, service: ServiceRef)
        -> Result<DeployRecord, AppError>;
    async fn scale(
        &self,
        who: &Principal,
        service: ServiceRef,
        replicas: u16,
    ) -> Result<DeployRecord, AppError>;
    /// The team's quota (its own or the default).
    async fn team_quota(
        &self,
        who: &Principal,
        team: TeamName,
    ) -> Result<super::quota::TeamQuotaInfo, AppError>;
    /// Returns `Kind/name` of every object deleted.
    async fn delete(
        &self,
        who: &Principal,
        service: ServiceRef,
        confirm: String,
    ) -> Result<Vec<String>, AppError>;
    /// The service's pods and the events about it, newest first.
    async fn pods(
        &self,
        who: &Principal,
        service: ServiceRef,
    ) -> Result<super::pods::ServicePods, AppError>;
    /// The last lines of a container's log; the pod must be one of the service's.
    async fn pod_log(
        &self,
        who: &Principal,
        service: ServiceRef,
        request: super::pods::LogRequest,
    ) -> Result<super::pods::PodLog, AppError>;
}

#[derive(Clone)]
pub struct DeployBackendHandle(pub Arc<dyn DeployBackend>);

pub fn deploy_backend() -> Result<Arc<dyn DeployBackend>, AppError> {
    leptos::prelude::use_context::<DeployBackendHandle>()
        .map(|handle| handle.0)
        .ok_or_else(|| AppError::Internal {
            reference: "deploy-backend-not-provided".to_owned(),
        })
}

/// Energy figures: the interface the energy server functions use (implemented in
/// `server/src/energy/backend.rs`).
#[async_trait::async_trait]
pub trait EnergyBackend: Send + Sync + 'static {
    /// The overview for a preset or custom period (trend against the previous period of equal
    /// length).
    async fn overview_for(
        &self,
        period: super::energy::PeriodSelection,
    ) -> Result<super::energy::EnergyOverview, AppError>;
    async fn service_series_for(
        &self,
        team: String,
        service: String,
        period: super::energy::PeriodSelection,
    ) -> Result<super::energy::EnergySeries, AppError>;
    /// A team's services side by side; `NotFound` for a team Canopy knows nothing about.
    async fn team(
        &self,
        team: String,
        period: super::energy::PeriodSelection,
    ) -> Result<super::energy::TeamEnergy, AppError>;
    /// Power now and the per-pod breakdown over the last few minutes.
    async fn service_pods(
        &self,
        team: String,
        service: String,
    ) -> Result<super::energy::ServicePodPower, AppError>;
}

#[derive(Clone)]
pub struct EnergyBackendHandle(pub Arc<dyn EnergyBackend>);

pub fn energy_backend() -> Result<Arc<dyn EnergyBackend>, AppError> {
    leptos::prelude::use_context::<EnergyBackendHandle>()
        .map(|handle| handle.0)
        .ok_or_else(|| AppError::Internal {
            reference: "energy-backend-not-provided".to_owned(),
        })
}

/// Dependency drift: the interface the drift server functions use (implemented in
/// `server/src/drift/backend.rs`). Who may do what is checked on the server side too.
#[async_trait::async_trait]
pub trait DriftBackend: Send + Sync + 'static {
    async fn org(
        &self,
        who: &Principal,
        ecosystem: Option<String>,
        team: Option<TeamName>,
    ) -> Result<super::drift::OrgDrift, AppError>;
    async fn service(
        &self,
        who: &Principal,
        team: TeamName,
        service: ServiceName,
    ) -> Result<super::drift::ServiceDrift, AppError>;
    async fn set_source(
        &self,
        who: &Principal,
        team: TeamName,
        service: ServiceName,
        source_path: String,
    ) -> Result<super::drift::Source, AppError>;
    async fn scan_now(
        &self,
        who: &Principal,
        team: TeamName,
        service: ServiceName,
    ) -> Result<super::drift::ScanView, AppError>;
}

#[derive(Clone)]
pub struct DriftBackendHandle(pub Arc<dyn DriftBackend>);

pub fn drift_backend() -> Result<Arc<dyn DriftBackend>, AppError> {
    leptos::prelude::use_context::<DriftBackendHandle>()
        .map(|handle| handle.0)
        .ok_or_else(|| AppError::Internal {
            reference: "drift-backend-not-provided".to_owned(),
        })
}

/// GitHub-linked delivery: the deploy button and a service's GitHub card.
#[async_trait::async_trait]
pub trait GithubBackend: Send + Sync + 'static {
    async fn deploy_button(
        &self,
        who: &Principal,
        repo: String,
        git_ref: Option<String>,
        path: Option<String>,
    ) -> Result<super::github::DeployButton, AppError>;
    async fn card(
        &self,
        who: &Principal,
        of: ServiceRef,
    ) -> Result<super::github::GithubCard, AppError>;
}

#[derive(Clone)]
pub struct GithubBackendHandle(pub Arc<dyn GithubBackend>);

pub fn github_backend() -> Result<Arc<dyn GithubBackend>, AppError> {
    leptos::prelude::use_context::<GithubBackendHandle>()
        .map(|handle| handle.0)
        .ok_or_else(|| AppError::Internal {
            reference: "github-backend-not-provided".to_owned(),
        })
}

/// How a page whose data could not be loaded answers over HTTP: the server's one table of
/// statuses and headers for [`AppError`] (`server/src/http/error.rs`), provided through context
/// so the UI crate keeps no copy of it.
#[derive(Clone, Copy)]
pub struct ErrorHeadHandle(pub fn(&AppError) -> (http::StatusCode, http::HeaderMap));
