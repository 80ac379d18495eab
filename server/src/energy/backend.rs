//! Canopy's implementation of the UI's `EnergyBackend` (energy failures become the error users
//! see in `server/src/error.rs`).

use app::api::{
    backend::EnergyBackend,
    energy::{EnergyOverview, EnergySeries, PeriodSelection, ServicePodPower, TeamEnergy},
    AppError,
};
use time::OffsetDateTime;

use super::{
    query::{EnergyQuery, Selection},
    EnergyError,
};

pub struct CanopyEnergyBackend {
    pub query: EnergyQuery,
}

#[async_trait::async_trait]
impl EnergyBackend for CanopyEnergyBackend {
    async fn overview_for(&self, period: PeriodSelection) -> Result<EnergyOverview, AppError> {
        self.query
            .overview_for(period, OffsetDateTime::now_utc())
            .await
            .map_err(AppError::from)
    }

    async fn service_series_for(
        &self,
        team: String,
        service: String,
        period: PeriodSelection,
    ) -> Result<EnergySeries, AppError> {
        let (from, to, step_secs) = EnergyQuery::selection_range(period, OffsetDateTime::now_utc());
        let selection = Selection::Service {
            team: team.clone(),
            service: service.clone(),
        };
        let mut series = self
            .query
            .series(&selection, from, to, step_secs)
            .await
            .map_err(AppError::from)?;
        series.request_sci = Some(
            super::sci::request_sci(&self.query, &team, &service, from, to)
                .await
                .map_err(AppError::from)?,
        );
        Ok(series)
    }

    async fn team(&self, team: String, period: PeriodSelection) -> Result<TeamEnergy, AppError> {
        match self
            .query
            .team(&team, period, OffsetDateTime::now_utc())
            .await
        {
            Err(EnergyError::NotFound(_)) => Err(AppError::NotFound {
                what: format!("Team {team:?} (no registered services and no energy reported)"),
            }),
            other => other.map_err(AppError::from),
        }
    }

    async fn service_pods(
        &self,
        team: String,
        service: String,
    ) -> Result<ServicePodPower, AppError> {
        super::pods::service_pods(
            self.query.pool(),
            &team,
            &service,
            OffsetDateTime::now_utc(),
        )
        .await
        .map_err(AppError::from)
    }
}
