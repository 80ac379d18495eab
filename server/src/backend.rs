//! Canopy's implementation of the UI's [`Backend`] interface, provided to server functions.

use app::api::{
    backend::Backend, AppError, ServiceName, ServiceRef, ServiceSummary, TeamName, TeamSummary,
};

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

/// Deploys for the UI's server functions, backed by the deploy service.
pub struct CanopyDeployBackend {
    pub deploys: crate::deploy::service::DeployService,
    pub sandbox: bool,
}

#[async_trait::async_trait]
impl app::api::backend::DeployBackend for CanopyDeployBackend {
    async fn team_quota(
        &self,
        team: app::api::TeamName,
    ) -> Result<app::api::quota::TeamQuotaInfo, AppError> {
        let (quota, source) = self.deploys.team_quota(&team).await?;
        Ok(app::api::quota::TeamQuotaInfo {
            quota: quota.into(),
            own: source == crate::deploy::quota::QuotaSource::Team,
        })
    }

    async fn overview(
        &self,
        service: ServiceRef,
    ) -> Result<app::api::deploy_fns::ServiceOverview, AppError> {
        let (live, history) = self.deploys.status(&service).await?;
        // The newest deploy's spec pre-fills the form.
        let current = match history.first() {
            Some(newest) => Some(
                self.deploys
                    .records()
                    .spec_of_revision(&service, newest.revision)
                    .await?
                    .1
                    .to_raw(),
            ),
            None => None,
        };
        Ok(app::api::deploy_fns::ServiceOverview {
            team: service.team.to_string(),
            service: service.service.to_string(),
            environment: service.environment.as_str().to_owned(),
            current,
            live,
            history,
            sandbox: self.sandbox,
            cluster_problem: (!self.deploys.has_cluster()).then(|| {
                "Canopy has no Kubernetes cluster to deploy to: set CANOPY_KUBECONFIG (or KUBECONFIG), or start Canopy without one to use its sandbox.".to_owned()
            }),
        })
    }

    async fn preview(
        &self,
        spec: app::api::spec::ServiceSpec,
        secret_keys: Vec<String>,
    ) -> Result<app::api::deploy_fns::DeployPreview, AppError> {
        let (changes, warnings) = self.deploys.preview(&spec, &secret_keys).await?;
        Ok(app::api::deploy_fns::DeployPreview {
            objects: changes.into_iter().map(Into::into).collect(),
            warnings,
            form: app::api::deploy_fns::DeployForm::default(),
        })
    }

    async fn deploy(
        &self,
        spec: app::api::spec::ServiceSpec,
        secret_values: std::collections::BTreeMap<String, String>,
    ) -> Result<app::api::deploys::DeployRecord, AppError> {
        Ok(self
            .deploys
            .deploy(crate::deploy::service::DeployRequest {
                spec,
                secret_values: secret_values
                    .into_iter()
                    .map(|(k, v)| (k, secrecy::SecretString::from(v)))
                    .collect(),
                requested_by: "web".to_owned(),
                reason: None,
            })
            .await?)
    }

    async fn rollback(
        &self,
        service: ServiceRef,
        revision: i64,
    ) -> Result<app::api::deploys::DeployRecord, AppError> {
        Ok(self
            .deploys
            .rollback(&service, revision, "web".to_owned())
            .await?)
    }

    async fn restart(
        &self,
        service: ServiceRef,
    ) -> Result<app::api::deploys::DeployRecord, AppError> {
        Ok(self.deploys.restart(&service, "web".to_owned()).await?)
    }

    async fn scale(
        &self,
        service: ServiceRef,
        replicas: u16,
    ) -> Result<app::api::deploys::DeployRecord, AppError> {
        Ok(self
            .deploys
            .scale(&service, replicas, "web".to_owned())
            .await?)
    }

    async fn delete(&self, service: ServiceRef, confirm: String) -> Result<Vec<String>, AppError> {
        Ok(self.deploys.delete(&service, &confirm).await?)
    }

    async fn pods(&self, service: ServiceRef) -> Result<app::api::pods::ServicePods, AppError> {
        Ok(self.deploys.pods(&service).await?)
    }

    async fn pod_log(
        &self,
        service: ServiceRef,
        request: app::api::pods::LogRequest,
    ) -> Result<app::api::pods::PodLog, AppError> {
        Ok(self.deploys.pod_log(&service, &request).await?)
    }
}
