//! A team's quota as the portal shows it: what each of its namespaces (`<team>-<env>`) may use.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::AppError;

/// Quantities written the Kubernetes way (`8`, `500m`, `16Gi`).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamQuotaView {
    pub requests_cpu: String,
    pub requests_memory: String,
    pub limits_cpu: String,
    pub limits_memory: String,
    pub pods: u32,
}

/// The team's quota, and whether it is the team's own (`true`) or Canopy's default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamQuotaInfo {
    pub quota: TeamQuotaView,
    pub own: bool,
}

#[server(prefix = "/api/fn", endpoint = "get_team_quota")]
pub async fn get_team_quota(team: String) -> Result<TeamQuotaInfo, AppError> {
    let team =
        super::TeamName::parse(&team).map_err(|e| AppError::invalid(super::Field::Team, e))?;
    super::backend::deploy_backend()?
        .team_quota(&super::auth::principal()?, team)
        .await
}
