//! Canopy's implementation of the UI's `DriftBackend` (drift failures become the error users
//! see in `server/src/error.rs`).

use app::api::{
    auth::Principal,
    backend::DriftBackend,
    drift::{OrgDrift, ScanView, ServiceDrift, Source},
    AppError, ServiceName, TeamName,
};

use super::Drift;

pub struct CanopyDriftBackend {
    pub drift: Drift,
}

#[async_trait::async_trait]
impl DriftBackend for CanopyDriftBackend {
    async fn org(
        &self,
        _who: &Principal,
        ecosystem: Option<String>,
        team: Option<TeamName>,
    ) -> Result<OrgDrift, AppError> {
        Ok(self.drift.org(ecosystem, team).await?)
    }

    async fn service(
        &self,
        who: &Principal,
        team: TeamName,
        service: ServiceName,
    ) -> Result<ServiceDrift, AppError> {
        Ok(self.drift.service(who, &team, &service).await?)
    }

    async fn set_source(
        &self,
        who: &Principal,
        team: TeamName,
        service: ServiceName,
        source_path: String,
    ) -> Result<Source, AppError> {
        Ok(self
            .drift
            .set_source(who, &team, &service, &source_path)
            .await?)
    }

    async fn scan_now(
        &self,
        who: &Principal,
        team: TeamName,
        service: ServiceName,
    ) -> Result<ScanView, AppError> {
        Ok(self.drift.scan_now(who, &team, &service).await?)
    }
}
