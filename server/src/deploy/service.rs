//! The deploy service: validates, records, renders, applies and follows a deploy, and rolls
//! back. The one entry point the UI's server functions and the REST API use.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use app::api::{
    deploys::{DeployRecord, DeployStatus, LiveRollout, Problem},
    spec::{Environment, ServiceSpec},
    AppError,
};
use secrecy::{ExposeSecret, SecretString};

use super::{
    apply::{Applier, ObjectChange},
    live::{LiveRollouts, ServiceKey},
    quota::TeamQuotas,
    records::{DeployRecords, NewDeploy},
    render::{render, RenderSettings},
};
use crate::error::internal;

mod observe;
mod quotas;

pub use quotas::QuotaUpdate;

/// How long Canopy follows a rollout before calling it failed (beyond Kubernetes' own
/// progress deadline, which normally ends it first).
pub const FOLLOW_LIMIT: Duration = Duration::from_secs(15 * 60);

/// Follows a rollout in the cluster until it is available or has failed.
#[async_trait::async_trait]
pub trait RolloutFollower: Send + Sync + 'static {
    /// Publishes each change through `publish`; `Ok` once every new pod is available.
    async fn follow(
        &self,
        spec: &ServiceSpec,
        revision: i64,
        publish: &(dyn Fn(LiveRollout) + Send + Sync),
    ) -> Result<(), Problem>;
}

/// A deploy request that passed validation at the boundary.
pub struct DeployRequest {
    pub spec: ServiceSpec,
    /// Written to the service's Kubernetes Secret only; never stored by Canopy.
    pub secret_values: BTreeMap<String, SecretString>,
    pub requested_by: String,
    pub reason: Option<String>,
}

#[derive(Clone)]
pub struct DeployService {
    records: DeployRecords,
    quotas: TeamQuotas,
    applier: Option<Applier>,
    follower: Arc<dyn RolloutFollower>,
    live: LiveRollouts,
    settings: RenderSettings,
}

fn no_cluster() -> AppError {
    AppError::NoCluster {
        reason: "no kubeconfig is configured (set CANOPY_KUBECONFIG or KUBECONFIG)".to_owned(),
    }
}

impl DeployService {
    pub fn new(
        records: DeployRecords,
        quotas: TeamQuotas,
        applier: Option<Applier>,
        follower: Arc<dyn RolloutFollower>,
        settings: RenderSettings,
    ) -> Self {
        Self {
            records,
            quotas,
            applier,
            follower,
            live: LiveRollouts::default(),
            settings,
        }
    }

    pub fn live(&self) -> &LiveRollouts {
        &self.live
    }

    pub fn records(&self) -> &DeployRecords {
        &self.records
    }

    /// Whether a cluster is configured to deploy to.
    pub fn has_cluster(&self) -> bool {
        self.applier.is_some()
    }

    /// The live rollout state (if this process follows it, else what the newest record says)
    /// and the history, newest first.
    pub async fn status(
        &self,
        team: &str,
        service: &str,
        environment: Environment,
    ) -> Result<(Option<LiveRollout>, Vec<DeployRecord>), AppError> {
        let history = self.records.history(team, service, environment, 50).await?;
        let key = ServiceKey {
            team: team.to_owned(),
            service: service.to_owned(),
            environment,
        };
        let live = self.live.latest(&key).or_else(|| {
            history.first().map(|d| LiveRollout {
                status: d.status,
                message: d
                    .failure_reason
                    .clone()
                    .unwrap_or_else(|| d.status.label().to_owned()),
                ..LiveRollout::applying(d.revision)
            })
        });
        Ok((live, history))
    }

    /// The render settings for `spec`'s team (its own quota, or the default).
    async fn settings_for(&self, spec: &ServiceSpec) -> Result<RenderSettings, AppError> {
        let (quota, _) = self.quotas.get(&spec.team).await?;
        Ok(RenderSettings {
            quota,
            ..self.settings.clone()
        })
    }

    fn applier(&self) -> Result<&Applier, AppError> {
        self.applier.as_ref().ok_or_else(no_cluster)
    }

    /// What deploying `spec` would change in the cluster, object by object.
    pub async fn preview(
        &self,
        spec: &ServiceSpec,
        secret_keys_with_values: &[String],
    ) -> Result<(Vec<ObjectChange>, Vec<String>), AppError> {
        let applier = self.applier()?;
        let capabilities = applier.capabilities().await.map_err(internal)?;
        let placeholder: BTreeMap<String, String> = secret_keys_with_values
            .iter()
            .map(|k| (k.clone(), String::new()))
            .collect();
        let latest = self
            .records
            .history(spec.team.as_str(), spec.name.as_str(), spec.environment, 1)
            .await?;
        let revision = latest.first().map_or(1, |d| d.revision);
        let settings = self.settings_for(spec).await?;
        let rendered = render(spec, revision, &placeholder, capabilities, &settings);
        let warnings = rendered
            .skipped
            .iter()
            .map(|s| format!("{} skipped: {}", s.kind, s.reason))
            .collect();
        let changes = applier.preview(&rendered).await.map_err(internal)?;
        Ok((changes, warnings))
    }

    /// Starts a deploy: records it, applies the objects, and follows the rollout in the
    /// background. Returns the record as it stands once the objects are applied.
    pub async fn deploy(&self, request: DeployRequest) -> Result<DeployRecord, AppError> {
        self.start(request, None).await
    }

    /// Re-applies the spec of an earlier successful revision as a new deploy.
    pub async fn rollback(
        &self,
        team: &str,
        service: &str,
        environment: Environment,
        revision: i64,
        requested_by: String,
    ) -> Result<DeployRecord, AppError> {
        let (deploy_id, spec, status) = self
            .records
            .spec_of_revision(team, service, environment, revision)
            .await?;
        if status != DeployStatus::Succeeded {
            return Err(AppError::invalid(
                app::api::Field::Name,
                format!("revision {revision} did not succeed, so it cannot be rolled back to"),
            ));
        }
        let request = DeployRequest {
            spec,
            secret_values: BTreeMap::new(),
            requested_by,
            reason: Some(format!("Rollback to revision {revision}")),
        };
        self.start(request, Some(deploy_id)).await
    }

    /// The spec of the newest deploy of a service in an environment.
    async fn current_spec(
        &self,
        team: &str,
        service: &str,
        environment: Environment,
    ) -> Result<ServiceSpec, AppError> {
        let newest = self.records.history(team, service, environment, 1).await?;
        let revision = newest
            .first()
            .map(|d| d.revision)
            .ok_or_else(|| AppError::NotFound {
                what: format!("A deploy of {service} in {}", environment.as_str()),
            })?;
        Ok(self
            .records
            .spec_of_revision(team, service, environment, revision)
            .await?
            .1)
    }

    /// Replaces every pod with a fresh one (a new revision of the same spec), recorded as a deploy.
    pub async fn restart(
        &self,
        team: &str,
        service: &str,
        environment: Environment,
        requested_by: String,
    ) -> Result<DeployRecord, AppError> {
        let spec = self.current_spec(team, service, environment).await?;
        let request = DeployRequest {
            spec,
            secret_values: BTreeMap::new(),
            requested_by,
            reason: Some("Restart".to_owned()),
        };
        self.start(request, None).await
    }

    /// Runs a fixed number of replicas (turning autoscaling off), recorded as a deploy.
    pub async fn scale(
        &self,
        team: &str,
        service: &str,
        environment: Environment,
        replicas: u16,
        requested_by: String,
    ) -> Result<DeployRecord, AppError> {
        let max = app::api::spec::MAX_REPLICAS;
        if !(1..=max).contains(&replicas) {
            return Err(AppError::InvalidSpec {
                errors: vec![app::api::spec::SpecError {
                    field: "replicas".to_owned(),
                    message: format!("{replicas} is out of range; allowed: 1-{max}"),
                }],
            });
        }
        let mut spec = self.current_spec(team, service, environment).await?;
        spec.scaling = app::api::spec::Scaling::Fixed { replicas };
        let request = DeployRequest {
            spec,
            secret_values: BTreeMap::new(),
            requested_by,
            reason: Some(format!("Scaled to {replicas} replica(s)")),
        };
        self.start(request, None).await
    }

    /// Deletes every object Canopy created for the service in this environment (by label);
    /// the namespace, other services and the deploy history stay. `confirm` must repeat the
    /// service's name. Returns `Kind/name` of what was deleted.
    pub async fn delete(
        &self,
        team: &str,
        service: &str,
        environment: Environment,
        confirm: &str,
    ) -> Result<Vec<String>, AppError> {
        if confirm != service {
            return Err(AppError::invalid(
                app::api::Field::Name,
                format!("type the service's name ({service}) to confirm the deletion"),
            ));
        }
        let applier = self.applier()?;
        let spec = self.current_spec(team, service, environment).await?;
        let deleted = applier
            .delete_service(&spec.namespace(), &super::render::ownership_selector(&spec))
            .await
            .map_err(internal)?;
        tracing::info!(%team, %service, environment = environment.as_str(), count = deleted.len(), "service deleted from the cluster");
        Ok(deleted)
    }

    async fn start(
        &self,
        request: DeployRequest,
        rollback_of: Option<i64>,
    ) -> Result<DeployRecord, AppError> {
        let applier = self.applier()?.clone();
        let record = self
            .records
            .start(NewDeploy {
                spec: &request.spec,
                requested_by: &request.requested_by,
                reason: request.reason.as_deref(),
                rollback_of,
            })
            .await?;
        let key = key_of(&request.spec);
        self.live
            .publish(&key, LiveRollout::applying(record.revision));
        let secrets: BTreeMap<String, String> = request
            .secret_values
            .iter()
            .map(|(k, v)| (k.clone(), v.expose_secret().to_owned()))
            .collect();
        let applied = self
            .apply(&applier, &request.spec, record.revision, &secrets)
            .await;
        match applied {
            Ok(warnings) => {
                self.records.mark_rolling_out(record.id, &warnings).await?;
                self.spawn_follow(record.id, request.spec, record.revision);
            }
            Err(reason) => {
                self.fail(&key, record.id, record.revision, reason).await?;
            }
        }
        self.records.get(record.id).await
    }

    async fn apply(
        &self,
        applier: &Applier,
        spec: &ServiceSpec,
        revision: i64,
        secrets: &BTreeMap<String, String>,
    ) -> Result<Vec<String>, String> {
        let capabilities = applier
            .capabilities()
            .await
            .map_err(|e| format!("Canopy could not reach the cluster: {e}"))?;
        let settings = self
            .settings_for(spec)
            .await
            .map_err(|e| format!("Canopy could not read the team's quota: {e}"))?;
        let rendered = render(spec, revision, secrets, capabilities, &settings);
        applier
            .apply(&rendered)
            .await
            .map_err(|e| format!("The cluster refused the objects: {e}"))?;
        Ok(rendered
            .skipped
            .iter()
            .map(|s| format!("{} skipped: {}", s.kind, s.reason))
            .collect())
    }

    async fn fail(
        &self,
        key: &ServiceKey,
        id: i64,
        revision: i64,
        reason: String,
    ) -> Result<(), AppError> {
        tracing::warn!(deploy = id, %reason, "deploy failed");
        self.live.publish(
            key,
            LiveRollout {
                status: DeployStatus::Failed,
                message: reason.clone(),
                ..LiveRollout::applying(revision)
            },
        );
        self.records.finish(id, Err(reason)).await
    }

    fn spawn_follow(&self, id: i64, spec: ServiceSpec, revision: i64) {
        let this = self.clone();
        tokio::spawn(async move {
            let key = key_of(&spec);
            // Progress goes out as it happens; the final state only once it is recorded, so a
            // page that reloads its history on seeing it finds the outcome there.
            let terminal: Arc<std::sync::Mutex<Option<LiveRollout>>> = Arc::default();
            let publish = {
                let live = this.live.clone();
                let key = key.clone();
                let terminal = terminal.clone();
                move |state: LiveRollout| {
                    if state.status.in_progress() {
                        live.publish(&key, state);
                    } else if let Ok(mut last) = terminal.lock() {
                        *last = Some(state);
                    }
                }
            };
            let outcome = tokio::time::timeout(
                FOLLOW_LIMIT,
                this.follower.follow(&spec, revision, &publish),
            )
            .await
            .unwrap_or_else(|_| {
                Err(Problem {
                    title: "The rollout did not finish in time".to_owned(),
                    detail: format!(
                        "Canopy followed it for {} minutes.",
                        FOLLOW_LIMIT.as_secs() / 60
                    ),
                    hint: "Look at the pods and events below for what is holding it up.".to_owned(),
                })
            });
            let last = terminal.lock().ok().and_then(|mut last| last.take());
            let (result, final_state) = match outcome {
                Ok(()) => (
                    this.records.finish(id, Ok(())).await,
                    LiveRollout {
                        status: DeployStatus::Succeeded,
                        ..last.unwrap_or_else(|| LiveRollout {
                            message: "Running".to_owned(),
                            ..LiveRollout::applying(revision)
                        })
                    },
                ),
                Err(problem) => {
                    let reason = format!("{}: {}", problem.title, problem.detail);
                    let state = LiveRollout {
                        status: DeployStatus::Failed,
                        problem: Some(problem),
                        ..last.unwrap_or_else(|| LiveRollout {
                            message: reason.clone(),
                            ..LiveRollout::applying(revision)
                        })
                    };
                    (this.records.finish(id, Err(reason)).await, state)
                }
            };
            if let Err(error) = result {
                tracing::error!(deploy = id, %error, "could not record the deploy's outcome");
            }
            this.live.publish(&key, final_state);
        });
    }

    /// Picks up deploys that a stopped Canopy left in progress: re-applies those that may not
    /// have been applied, then follows each rollout to its end from the cluster's state.
    pub async fn resume_unfinished(&self) -> Result<usize, AppError> {
        let Some(applier) = self.applier.clone() else {
            return Ok(0);
        };
        let unfinished = self.records.unfinished().await?;
        let count = unfinished.len();
        for deploy in unfinished {
            let record = self.records.get(deploy.id).await?;
            tracing::info!(
                deploy = deploy.id,
                revision = record.revision,
                "resuming an unfinished deploy"
            );
            if record.status == DeployStatus::Applying {
                match self
                    .apply(&applier, &deploy.spec, record.revision, &BTreeMap::new())
                    .await
                {
                    Ok(warnings) => self.records.mark_rolling_out(deploy.id, &warnings).await?,
                    Err(reason) => {
                        self.fail(&key_of(&deploy.spec), deploy.id, record.revision, reason)
                            .await?;
                        continue;
                    }
                }
            }
            self.spawn_follow(deploy.id, deploy.spec, record.revision);
        }
        Ok(count)
    }
}

pub fn key_of(spec: &ServiceSpec) -> ServiceKey {
    ServiceKey {
        team: spec.team.to_string(),
        service: spec.name.to_string(),
        environment: spec.environment,
    }
}
