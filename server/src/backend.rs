//! Canopy's implementation of the UI's [`Backend`] interfaces, provided to server functions.
//! Thin: each call goes to the capability's one entry (deploys through [`DeployCommands`],
//! which checks the caller's role and writes the audit log).

use std::collections::BTreeMap;

use app::api::{
    auth::{Permission, Principal},
    backend::{Backend, DeployBackend},
    catalogue::{CataloguePage, CatalogueQuery},
    deploy_fns::{DeployForm, DeployPreview, ServiceOverview},
    deploys::DeployRecord,
    home::Home,
    pods::{LogRequest, PodLog, ServicePods},
    quota::TeamQuotaInfo,
    spec::ServiceSpec,
    AppError, ServiceName, ServiceRef, ServiceSummary, TeamName, TeamSummary,
};
use secrecy::SecretString;

use crate::{
    auth::{audit::Target, Audit},
    deploy::{commands::DeployCommands, quota::QuotaSource},
    home::HomeFeed,
    services::{Catalogue, ServiceRepository},
};

pub struct CanopyBackend {
    services: ServiceRepository,
    audit: Audit,
    catalogue: Catalogue,
    home: HomeFeed,
}

impl CanopyBackend {
    pub fn new(
        services: ServiceRepository,
        audit: Audit,
        catalogue: Catalogue,
        home: HomeFeed,
    ) -> Self {
        Self {
            services,
            audit,
            catalogue,
            home,
        }
    }
}

#[async_trait::async_trait]
impl Backend for CanopyBackend {
    async fn list_services(&self) -> Result<Vec<ServiceSummary>, AppError> {
        self.services.list().await
    }

    /// Registering a service for a team needs the deployer role there (or organisation admin,
    /// for a team nobody belongs to yet).
    async fn register_service(
        &self,
        who: &Principal,
        team: TeamName,
        name: ServiceName,
    ) -> Result<ServiceSummary, AppError> {
        if let Err(refused) = who.require(&team, Permission::Deploy) {
            self.audit
                .record(
                    who,
                    "register_service",
                    Target::Team(&team),
                    false,
                    &refused.to_string(),
                )
                .await;
            return Err(refused);
        }
        let outcome = self.services.register(team.clone(), name.clone()).await;
        let result = match &outcome {
            Ok(_) => format!("registered {name}"),
            Err(error) => format!("error: {error}"),
        };
        self.audit
            .record(who, "register_service", Target::Team(&team), true, &result)
            .await;
        if outcome.is_ok() {
            self.catalogue.refresh_after_change().await;
        }
        outcome
    }

    async fn list_teams(&self) -> Result<Vec<TeamSummary>, AppError> {
        self.services.teams().await
    }

    async fn catalogue(&self, query: CatalogueQuery) -> Result<CataloguePage, AppError> {
        self.catalogue.query(query)
    }

    /// Any signed-in person or token (the server function checked that someone is).
    async fn home(&self, who: &Principal) -> Result<Home, AppError> {
        self.home.home(who).await
    }
}

/// Deploys for the UI's server functions.
pub struct CanopyDeployBackend {
    pub commands: DeployCommands,
    pub sandbox: bool,
}

fn secret_strings(values: BTreeMap<String, String>) -> BTreeMap<String, SecretString> {
    values
        .into_iter()
        .map(|(k, v)| (k, SecretString::from(v)))
        .collect()
}

#[async_trait::async_trait]
impl DeployBackend for CanopyDeployBackend {
    async fn team_quota(&self, who: &Principal, team: TeamName) -> Result<TeamQuotaInfo, AppError> {
        let (quota, source) = self.commands.team_quota(who, &team).await?;
        Ok(TeamQuotaInfo {
            quota: quota.into(),
            own: source == QuotaSource::Team,
        })
    }

    async fn overview(
        &self,
        who: &Principal,
        service: ServiceRef,
    ) -> Result<ServiceOverview, AppError> {
        let (live, history) = self.commands.status(who, &service).await?;
        let deploys = self.commands.service();
        // The newest deploy's spec pre-fills the form.
        let current = match history.first() {
            Some(newest) => Some(
                deploys
                    .records()
                    .spec_of_revision(&service, newest.revision)
                    .await?
                    .1
                    .to_raw(),
            ),
            None => None,
        };
        Ok(ServiceOverview {
            team: service.team.to_string(),
            service: service.service.to_string(),
            environment: service.environment.to_string(),
            current,
            live,
            history,
            sandbox: self.sandbox,
            cluster_problem: (!deploys.has_cluster()).then(|| {
                "Canopy has no Kubernetes cluster to deploy to: set CANOPY_KUBECONFIG (or KUBECONFIG), or start Canopy without one to use its sandbox.".to_owned()
            }),
            may_deploy: who.may(&service.team, Permission::Deploy),
            may_delete: who.may(&service.team, Permission::Admin),
        })
    }

    async fn preview(
        &self,
        who: &Principal,
        spec: ServiceSpec,
        secret_keys: Vec<String>,
    ) -> Result<DeployPreview, AppError> {
        let (changes, warnings) = self.commands.preview(who, &spec, &secret_keys).await?;
        Ok(DeployPreview {
            objects: changes.into_iter().map(Into::into).collect(),
            warnings,
            form: DeployForm::default(),
        })
    }

    async fn deploy(
        &self,
        who: &Principal,
        spec: ServiceSpec,
        secret_values: BTreeMap<String, String>,
    ) -> Result<DeployRecord, AppError> {
        self.commands
            .deploy(who, spec, secret_strings(secret_values), None)
            .await
    }

    async fn rollback(
        &self,
        who: &Principal,
        service: ServiceRef,
        revision: i64,
    ) -> Result<DeployRecord, AppError> {
        self.commands.rollback(who, &service, revision).await
    }

    async fn restart(
        &self,
        who: &Principal,
        service: ServiceRef,
    ) -> Result<DeployRecord, AppError> {
        self.commands.restart(who, &service).await
    }

    async fn scale(
        &self,
        who: &Principal,
        service: ServiceRef,
        replicas: u16,
    ) -> Result<DeployRecord, AppError> {
        self.commands.scale(who, &service, replicas).await
    }

    async fn delete(
        &self,
        who: &Principal,
        service: ServiceRef,
        confirm: String,
    ) -> Result<Vec<String>, AppError> {
        self.commands.delete(who, &service, &confirm).await
    }

    async fn pods(&self, who: &Principal, service: ServiceRef) -> Result<ServicePods, AppError> {
        self.commands.pods(who, &service).await
    }

    async fn pod_log(
        &self,
        who: &Principal,
        service: ServiceRef,
        request: LogRequest,
    ) -> Result<PodLog, AppError> {
        self.commands.pod_log(who, &service, &request).await
    }
}
