//! [`DeployCommands`]: the one entry to the deploy engine for people and tokens, used by the
//! page's server functions, the REST API and (later) webhooks. Each command checks what the
//! caller may do in the service's team, runs through [`DeployService`], and appends the action,
//! allowed or refused, to the audit log. Deploy history names the person (or token).

use std::collections::BTreeMap;

use app::api::{
    auth::{Permission, Principal},
    deploys::{DeployRecord, LiveRollout},
    pods::{LogRequest, PodLog, ServicePods},
    spec::ServiceSpec,
    AppError, ServiceRef, TeamName,
};
use secrecy::SecretString;

use super::{
    apply::ObjectChange,
    logs::LogSource,
    observe::ServiceObserver,
    quota::{QuotaChange, QuotaSource},
    quota_admin::{QuotaAdmin, QuotaUpdate},
    service::{DeployRequest, DeployService},
    size::TeamQuota,
    DeployError,
};
use crate::auth::{audit::Target, Audit};

#[derive(Clone)]
pub struct DeployCommands {
    deploys: DeployService,
    observer: ServiceObserver,
    quotas: QuotaAdmin,
    audit: Audit,
    /// Refreshed at once after a deploy on this replica.
    catalogue: Option<crate::services::Catalogue>,
}

impl DeployCommands {
    pub fn new(
        deploys: DeployService,
        observer: ServiceObserver,
        quotas: QuotaAdmin,
        audit: Audit,
    ) -> Self {
        Self {
            deploys,
            observer,
            quotas,
            audit,
            catalogue: None,
        }
    }

    /// Refreshes `catalogue` after every deploy, rollback, restart, scale or delete.
    pub fn with_catalogue(mut self, catalogue: crate::services::Catalogue) -> Self {
        self.catalogue = Some(catalogue);
        self
    }

    async fn catalogue_changed(&self) {
        if let Some(catalogue) = &self.catalogue {
            catalogue.refresh_after_change().await;
        }
    }

    /// The engine itself, for what needs no caller (startup resume, live streams).
    pub fn service(&self) -> &DeployService {
        &self.deploys
    }

    /// Refuses (and records the refusal) unless `who` may `permission` in `team`.
    async fn allow(
        &self,
        who: &Principal,
        action: &str,
        target: Target<'_>,
        team: &TeamName,
        permission: Permission,
    ) -> Result<(), AppError> {
        if let Err(refused) = who.require(team, permission) {
            self.audit
                .record(who, action, target, false, &refused.to_string())
                .await;
            return Err(refused);
        }
        Ok(())
    }

    /// Records how an allowed action ended and turns its error into what users see.
    async fn finish<T>(
        &self,
        who: &Principal,
        action: &str,
        target: Target<'_>,
        outcome: Result<T, DeployError>,
        describe: impl FnOnce(&T) -> String,
    ) -> Result<T, AppError> {
        let outcome = outcome.map_err(AppError::from);
        let result = match &outcome {
            Ok(value) => describe(value),
            Err(error) => format!("error: {error}"),
        };
        self.audit.record(who, action, target, true, &result).await;
        outcome
    }

    async fn run_deploy(
        &self,
        who: &Principal,
        action: &str,
        of: &ServiceRef,
        outcome: Result<DeployRecord, DeployError>,
    ) -> Result<DeployRecord, AppError> {
        self.catalogue_changed().await;
        self.finish(who, action, Target::Service(of), outcome, |record| {
            format!("revision {} {}", record.revision, record.status.label())
        })
        .await
    }

    /// What deploying `spec` would change; needs the deployer role.
    pub async fn preview(
        &self,
        who: &Principal,
        spec: &ServiceSpec,
        secret_keys: &[String],
    ) -> Result<(Vec<ObjectChange>, Vec<String>), AppError> {
        let of = ServiceRef::of(spec);
        who.require(&of.team, Permission::Deploy)?;
        Ok(self.deploys.preview(spec, secret_keys).await?)
    }

    pub async fn deploy(
        &self,
        who: &Principal,
        spec: ServiceSpec,
        secret_values: BTreeMap<String, SecretString>,
        reason: Option<String>,
    ) -> Result<DeployRecord, AppError> {
        self.deploy_commit(who, spec, secret_values, reason, None)
            .await
    }

    /// As [`DeployCommands::deploy`], recording the commit the deploy came from (GitHub).
    pub async fn deploy_commit(
        &self,
        who: &Principal,
        spec: ServiceSpec,
        secret_values: BTreeMap<String, SecretString>,
        reason: Option<String>,
        git_sha: Option<String>,
    ) -> Result<DeployRecord, AppError> {
        let of = ServiceRef::of(&spec);
        self.allow(
            who,
            "deploy",
            Target::Service(&of),
            &of.team,
            Permission::Deploy,
        )
        .await?;
        let outcome = self
            .deploys
            .deploy(DeployRequest {
                spec,
                secret_values,
                requested_by: who.actor(),
                reason,
                git_sha,
            })
            .await;
        self.run_deploy(who, "deploy", &of, outcome).await
    }

    /// Removes a pull request's preview of a service (its objects in the `<team>-pr-<n>`
    /// namespace; the history stays), when the pull request closes or its time runs out. Only
    /// previews: the standing environments are deleted by a team admin through `delete`.
    pub async fn end_preview(
        &self,
        who: &Principal,
        of: &ServiceRef,
    ) -> Result<Vec<String>, AppError> {
        if !of.environment.is_preview() {
            return Err(AppError::invalid(
                app::api::Field::Name,
                format!("{} is not a preview environment", of.environment),
            ));
        }
        self.allow(
            who,
            "end preview",
            Target::Service(of),
            &of.team,
            Permission::Deploy,
        )
        .await?;
        let outcome = self.deploys.delete(of, of.service.as_str()).await;
        self.finish(
            who,
            "end preview",
            Target::Service(of),
            outcome,
            |deleted| format!("deleted {}", deleted.join(", ")),
        )
        .await
    }

    pub async fn rollback(
        &self,
        who: &Principal,
        of: &ServiceRef,
        revision: i64,
    ) -> Result<DeployRecord, AppError> {
        self.allow(
            who,
            "rollback",
            Target::Service(of),
            &of.team,
            Permission::Deploy,
        )
        .await?;
        let outcome = self.deploys.rollback(of, revision, who.actor()).await;
        self.run_deploy(who, "rollback", of, outcome).await
    }

    pub async fn restart(
        &self,
        who: &Principal,
        of: &ServiceRef,
    ) -> Result<DeployRecord, AppError> {
        self.allow(
            who,
            "restart",
            Target::Service(of),
            &of.team,
            Permission::Deploy,
        )
        .await?;
        let outcome = self.deploys.restart(of, who.actor()).await;
        self.run_deploy(who, "restart", of, outcome).await
    }

    pub async fn scale(
        &self,
        who: &Principal,
        of: &ServiceRef,
        replicas: u16,
    ) -> Result<DeployRecord, AppError> {
        self.allow(
            who,
            "scale",
            Target::Service(of),
            &of.team,
            Permission::Deploy,
        )
        .await?;
        let outcome = self.deploys.scale(of, replicas, who.actor()).await;
        self.run_deploy(who, "scale", of, outcome).await
    }

    /// Deleting a service's objects needs the team's admin role.
    pub async fn delete(
        &self,
        who: &Principal,
        of: &ServiceRef,
        confirm: &str,
    ) -> Result<Vec<String>, AppError> {
        self.allow(
            who,
            "delete",
            Target::Service(of),
            &of.team,
            Permission::Admin,
        )
        .await?;
        let outcome = self.deploys.delete(of, confirm).await;
        self.finish(who, "delete", Target::Service(of), outcome, |deleted| {
            format!("deleted {} object(s)", deleted.len())
        })
        .await
    }

    /// Live state and history: every signed-in person may read them.
    pub async fn status(
        &self,
        who: &Principal,
        of: &ServiceRef,
    ) -> Result<(Option<LiveRollout>, Vec<DeployRecord>), AppError> {
        who.require(&of.team, Permission::Read)?;
        Ok(self.deploys.status(of).await?)
    }

    pub async fn get_deploy(&self, who: &Principal, id: i64) -> Result<DeployRecord, AppError> {
        let record = self.deploys.records().get(id).await?;
        if let Ok(team) = TeamName::parse(&record.team) {
            who.require(&team, Permission::Read)?;
        }
        Ok(record)
    }

    pub async fn pods(&self, who: &Principal, of: &ServiceRef) -> Result<ServicePods, AppError> {
        who.require(&of.team, Permission::Read)?;
        Ok(self.observer.pods(of).await?)
    }

    /// Logs may hold secrets the service prints: deployers only.
    pub async fn pod_log(
        &self,
        who: &Principal,
        of: &ServiceRef,
        request: &LogRequest,
    ) -> Result<PodLog, AppError> {
        who.require(&of.team, Permission::Deploy)?;
        Ok(self.observer.pod_log(of, request).await?)
    }

    pub async fn log_source(
        &self,
        who: &Principal,
        of: &ServiceRef,
        pod: &str,
        container: Option<&str>,
    ) -> Result<LogSource, AppError> {
        who.require(&of.team, Permission::Deploy)?;
        Ok(self.observer.log_source(of, pod, container).await?)
    }

    pub fn client(&self) -> Result<&kube::Client, AppError> {
        Ok(self.observer.client()?)
    }

    pub async fn team_quota(
        &self,
        who: &Principal,
        team: &TeamName,
    ) -> Result<(TeamQuota, QuotaSource), AppError> {
        who.require(team, Permission::Read)?;
        Ok(self.quotas.team_quota(team).await?)
    }

    pub async fn set_team_quota(
        &self,
        who: &Principal,
        team: &TeamName,
        change: &QuotaChange,
    ) -> Result<QuotaUpdate, AppError> {
        self.allow(
            who,
            "set_quota",
            Target::Team(team),
            team,
            Permission::Admin,
        )
        .await?;
        let outcome = self.quotas.set_team_quota(team, change, &who.actor()).await;
        self.finish(who, "set_quota", Target::Team(team), outcome, |update| {
            format!("quota set; applied to {}", update.applied_to.join(", "))
        })
        .await
    }

    pub async fn reset_team_quota(
        &self,
        who: &Principal,
        team: &TeamName,
    ) -> Result<QuotaUpdate, AppError> {
        self.allow(
            who,
            "reset_quota",
            Target::Team(team),
            team,
            Permission::Admin,
        )
        .await?;
        let outcome = self.quotas.reset_team_quota(team).await;
        self.finish(who, "reset_quota", Target::Team(team), outcome, |_| {
            "back to the default quota".to_owned()
        })
        .await
    }
}
