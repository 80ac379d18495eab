//! Canopy's implementation of the UI's [`Backend`] interface, provided to server functions.

use app::api::{backend::Backend, AppError, ServiceName, ServiceSummary, TeamName, TeamSummary};

use crate::services::ServiceRepository;

pub struct CanopyBackend {
    services: ServiceRepository,
}

impl CanopyBackend {
    pub fn new(services: ServiceRepository) -> Self {
        Self { services }
    }
}

#[async_trait::async_trait]
impl Backend for CanopyBackend {
    async fn list_services(&self) -> Result<Vec<ServiceSummary>, AppError> {
        self.services.list().await
    }

    async fn register_service(
        &self,
        team: TeamName,
        name: ServiceName,
    ) -> Result<ServiceSummary, AppError> {
        self.services.register(team, name).await
    }

    async fn list_teams(&self) -> Result<Vec<TeamSummary>, AppError> {
        self.services.teams().await
    }
}
