//! Administering per-team quotas: read, change and reset a team's quota (stored by
//! [`TeamQuotas`]), applying it at once to the team's existing namespaces.

use std::collections::BTreeMap;

use app::api::{spec::Environment, TeamName};

use super::{
    apply::Applier,
    quota::{QuotaChange, QuotaSource, QuotaView, TeamQuotas},
    render::{team_namespace, team_quota},
    size::{Amount, TeamQuota},
    DeployError,
};

/// A team's quota after a change, and what happened in the cluster.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct QuotaUpdate {
    pub team: String,
    pub quota: QuotaView,
    pub source: QuotaSource,
    /// The team's namespaces the new quota was applied to (those that exist).
    pub applied_to: Vec<String>,
    /// Plain warnings: usage already above the new quota, or a namespace it could not reach.
    pub warnings: Vec<String>,
}

/// Changes teams' quotas and applies them to the teams' namespaces.
#[derive(Clone)]
pub struct QuotaAdmin {
    quotas: TeamQuotas,
    applier: Option<Applier>,
}

impl QuotaAdmin {
    pub fn new(quotas: TeamQuotas, applier: Option<Applier>) -> Self {
        Self { quotas, applier }
    }

    /// The team's quota and whether it is the team's own or the default.
    pub async fn team_quota(
        &self,
        team: &TeamName,
    ) -> Result<(TeamQuota, QuotaSource), DeployError> {
        self.quotas.get(team).await
    }

    /// Changes the team's quota (fields left out keep their value), stores it, and applies it
    /// to the team's existing namespaces at once.
    pub async fn set_team_quota(
        &self,
        team: &TeamName,
        change: &QuotaChange,
        updated_by: &str,
    ) -> Result<QuotaUpdate, DeployError> {
        let (current, _) = self.quotas.get(team).await?;
        let quota = change
            .apply_to(current)
            .map_err(|errors| DeployError::InvalidSpec { errors: errors.0 })?;
        self.quotas.set(team, quota, updated_by).await?;
        tracing::info!(%team, ?quota, %updated_by, "team quota set");
        self.push_quota(team, quota, QuotaSource::Team).await
    }

    /// Gives the team the default quota again and applies it to its existing namespaces.
    pub async fn reset_team_quota(&self, team: &TeamName) -> Result<QuotaUpdate, DeployError> {
        self.quotas.reset(team).await?;
        let (quota, source) = self.quotas.get(team).await?;
        self.push_quota(team, quota, source).await
    }

    async fn push_quota(
        &self,
        team: &TeamName,
        quota: TeamQuota,
        source: QuotaSource,
    ) -> Result<QuotaUpdate, DeployError> {
        let mut update = QuotaUpdate {
            team: team.to_string(),
            quota: quota.into(),
            source,
            applied_to: Vec::new(),
            warnings: Vec::new(),
        };
        let Some(applier) = &self.applier else {
            update.warnings.push(
                "Canopy is not connected to a cluster: the quota applies from the team's next deploy."
                    .to_owned(),
            );
            return Ok(update);
        };
        for environment in [Environment::Dev, Environment::Staging, Environment::Prod] {
            let namespace = team_namespace(team, environment);
            match applier
                .apply_quota(&team_quota(team, environment, &quota))
                .await
            {
                Ok(None) => {}
                Ok(Some(used)) => {
                    update
                        .warnings
                        .extend(over_quota(&namespace, &quota, &used));
                    update.applied_to.push(namespace);
                }
                Err(error) => {
                    tracing::warn!(%namespace, %error, "could not apply a team quota");
                    update.warnings.push(format!(
                        "{namespace}: the quota could not be applied now ({error}); it applies with the next deploy there."
                    ));
                }
            }
        }
        Ok(update)
    }
}

/// Warnings for usage (as the quota controller last recorded it) above a new quota.
fn over_quota(namespace: &str, quota: &TeamQuota, used: &BTreeMap<String, String>) -> Vec<String> {
    fn over<A: Amount>(what: &str, used: Option<&String>, limit: A) -> Option<String> {
        let used = A::parse(used?).ok()?;
        (used > limit).then(|| format!("{what}: {used} in use, above the new {limit}"))
    }
    [
        over("CPU requests", used.get("requests.cpu"), quota.requests_cpu),
        over("CPU limits", used.get("limits.cpu"), quota.limits_cpu),
        over("memory requests", used.get("requests.memory"), quota.requests_memory),
        over("memory limits", used.get("limits.memory"), quota.limits_memory),
        over("pods", used.get("pods"), quota.pods),
    ]
    .into_iter()
    .flatten()
    .map(|what| {
        format!("{namespace} is over its new quota ({what}): running pods stay, new ones are refused until usage drops.")
    })
    .collect()
}
