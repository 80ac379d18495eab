//! The deploy service: validates, records, renders, applies and follows a deploy, rolls back,
//! restarts, scales and deletes (what changes a service; reading its pods and logs is
//! [`super::observe`], teams' quotas [`super::quota_admin`]). Reached through
//! [`super::commands::DeployCommands`], the one entry the UI and REST use.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use app::api::{
    deploys::{DeployRecord, DeployStatus, LiveRollout, Problem},
    spec::ServiceSpec,
    ServiceRef,
};
use secrecy::{ExposeSecret, SecretString};

use super::{
    apply::{Applier, ObjectChange},
    error::{no_cluster, not_deployed},
    lease::{FollowerLease, Held},
    live::LiveRollouts,
    quota::TeamQuotas,
    records::{DeployRecords, NewDeploy, Outcome},
    render::{render, RenderSettings},
    DeployError,
};

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
    /// The commit this deploy came from (a GitHub push or pull request).
    pub git_sha: Option<String>,
}

#[derive(Clone)]
pub struct DeployService {
    records: DeployRecords,
    quotas: TeamQuotas,
    applier: Option<Applier>,
    follower: Arc<dyn RolloutFollower>,
    live: LiveRollouts,
    settings: RenderSettings,
    /// This replica's leases on the deploys it follows.
    lease: FollowerLease,
}

/// Why applying a deploy's objects failed; the message is what the deploy's record shows.
#[derive(Debug, thiserror::Error)]
enum ApplyFailure {
    #[error("Canopy could not reach the cluster: {0}")]
    Unreachable(#[source] super::apply::ApplyError),
    #[error("Canopy could not read the team's quota: {0}")]
    Quota(#[source] DeployError),
    #[error("The cluster refused the objects: {0}")]
    Refused(#[source] super::apply::ApplyError),
    /// Another team's (or nobody's) object, or a host routed elsewhere: nothing was written.
    #[error("Nothing was deployed: {0}")]
    NotCanopys(#[source] super::apply::ApplyError),
}

impl DeployService {
    pub fn new(
        records: DeployRecords,
        quotas: TeamQuotas,
        applier: Option<Applier>,
        follower: Arc<dyn RolloutFollower>,
        settings: RenderSettings,
        lease: FollowerLease,
    ) -> Self {
        Self {
            records,
            quotas,
            applier,
            follower,
            live: LiveRollouts::default(),
            settings,
            lease,
        }
    }

    /// The same service, sharing its live states with the other replicas through `outbox`.
    pub fn with_shared_live(mut self, outbox: crate::replicas::live_bus::Outbox) -> Self {
        self.live = self.live.shared(outbox);
        self
    }

    pub fn live(&self) -> &LiveRollouts {
        &self.live
    }

    pub fn lease(&self) -> &FollowerLease {
        &self.lease
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
        of: &ServiceRef,
    ) -> Result<(Option<LiveRollout>, Vec<DeployRecord>), DeployError> {
        let history = self.records.history(of, 50).await?;
        let live = self.live.latest(of).or_else(|| {
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
    async fn settings_for(&self, spec: &ServiceSpec) -> Result<RenderSettings, DeployError> {
        let (quota, _) = self.quotas.get(&spec.team).await?;
        Ok(RenderSettings {
            quota,
            ..self.settings.clone()
        })
    }

    fn applier(&self) -> Result<&Applier, DeployError> {
        self.applier.as_ref().ok_or_else(no_cluster)
    }

    /// What deploying `spec` would change in the cluster, object by object.
    pub async fn preview(
        &self,
        spec: &ServiceSpec,
        secret_keys_with_values: &[String],
    ) -> Result<(Vec<ObjectChange>, Vec<String>), DeployError> {
        let applier = self.applier()?;
        let capabilities = applier.capabilities().await?;
        let placeholder: BTreeMap<String, String> = secret_keys_with_values
            .iter()
            .map(|k| (k.clone(), String::new()))
            .collect();
        let latest = self.records.history(&ServiceRef::of(spec), 1).await?;
        let revision = latest.first().map_or(1, |d| d.revision);
        let settings = self.settings_for(spec).await?;
        let rendered = render(spec, revision, &placeholder, capabilities, &settings);
        let warnings = rendered
            .skipped
            .iter()
            .map(|s| format!("{} skipped: {}", s.kind, s.reason))
            .collect();
        let changes = applier.preview(&rendered).await?;
        Ok((changes, warnings))
    }

    /// Starts a deploy: records it, applies the objects, and follows the rollout in the
    /// background. Returns the record as it stands once the objects are applied. The one entry
    /// for new specs, whether they come from the page's form, the REST API or `canopy.yaml`.
    pub async fn deploy(&self, request: DeployRequest) -> Result<DeployRecord, DeployError> {
        check_secret_values(&request)?;
        self.start(request, None).await
    }

    /// Re-applies the spec of an earlier successful revision as a new deploy.
    pub async fn rollback(
        &self,
        of: &ServiceRef,
        revision: i64,
        requested_by: String,
    ) -> Result<DeployRecord, DeployError> {
        let (deploy_id, spec, status) = self.records.spec_of_revision(of, revision).await?;
        if status != DeployStatus::Succeeded {
            return Err(DeployError::invalid(
                app::api::Field::Name,
                format!("revision {revision} did not succeed, so it cannot be rolled back to"),
            ));
        }
        let request = DeployRequest {
            spec,
            secret_values: BTreeMap::new(),
            requested_by,
            reason: Some(format!("Rollback to revision {revision}")),
            git_sha: None,
        };
        self.start(request, Some(deploy_id)).await
    }

    /// The spec of the newest deploy of a service in an environment.
    pub(crate) async fn current_spec(&self, of: &ServiceRef) -> Result<ServiceSpec, DeployError> {
        let newest = self.records.history(of, 1).await?;
        let revision = newest
            .first()
            .map(|d| d.revision)
            .ok_or_else(|| not_deployed(of))?;
        Ok(self.records.spec_of_revision(of, revision).await?.1)
    }

    /// Replaces every pod with a fresh one (a new revision of the same spec), recorded as a deploy.
    pub async fn restart(
        &self,
        of: &ServiceRef,
        requested_by: String,
    ) -> Result<DeployRecord, DeployError> {
        let spec = self.current_spec(of).await?;
        let request = DeployRequest {
            spec,
            secret_values: BTreeMap::new(),
            requested_by,
            reason: Some("Restart".to_owned()),
            git_sha: None,
        };
        self.start(request, None).await
    }

    /// Runs a fixed number of replicas (turning autoscaling off), recorded as a deploy.
    pub async fn scale(
        &self,
        of: &ServiceRef,
        replicas: u16,
        requested_by: String,
    ) -> Result<DeployRecord, DeployError> {
        let max = app::api::spec::MAX_REPLICAS;
        if !(1..=max).contains(&replicas) {
            return Err(DeployError::invalid_field(
                "replicas",
                format!("{replicas} is out of range; allowed: 1-{max}"),
            ));
        }
        let mut spec = self.current_spec(of).await?;
        spec.scaling = app::api::spec::Scaling::Fixed { replicas };
        let request = DeployRequest {
            spec,
            secret_values: BTreeMap::new(),
            requested_by,
            reason: Some(format!("Scaled to {replicas} replica(s)")),
            git_sha: None,
        };
        self.start(request, None).await
    }

    /// Deletes every object Canopy created for the service in this environment (by label);
    /// the namespace, other services and the deploy history stay. `confirm` must repeat the
    /// service's name. Returns `Kind/name` of what was deleted.
    pub async fn delete(&self, of: &ServiceRef, confirm: &str) -> Result<Vec<String>, DeployError> {
        if confirm != of.service.as_str() {
            return Err(DeployError::invalid(
                app::api::Field::Name,
                format!(
                    "type the service's name ({}) to confirm the deletion",
                    of.service
                ),
            ));
        }
        let applier = self.applier()?;
        let spec = self.current_spec(of).await?;
        let deleted = applier
            .delete_service(&spec.namespace(), &super::render::ownership_selector(&spec))
            .await?;
        tracing::info!(service = %of, count = deleted.len(), "service deleted from the cluster");
        Ok(deleted)
    }

    async fn start(
        &self,
        request: DeployRequest,
        rollback_of: Option<i64>,
    ) -> Result<DeployRecord, DeployError> {
        let applier = self.applier()?.clone();
        // The deploy is Canopy's work, not the request's: recording it, applying it and handing
        // it to the follower run in a task of their own. A client that goes away or a request
        // that times out drops the request's future, never this task, so once recorded, the
        // deploy always moves on to rolling out (and then to its end) or to failed.
        let this = self.clone();
        let owned = tokio::spawn(async move {
            let started = this
                .records
                .start(NewDeploy {
                    spec: &request.spec,
                    requested_by: &request.requested_by,
                    reason: request.reason.as_deref(),
                    rollback_of,
                    git_sha: request.git_sha.as_deref(),
                    follower: Some(&this.lease),
                })
                .await?;
            let held = this.lease.keep(started.id);
            this.apply_recorded(applier, request, started.id, started.revision, held)
                .await;
            Ok::<_, DeployError>(started.id)
        });
        let id = owned.await.map_err(|error| {
            tracing::error!(%error, "the deploy task ended abnormally");
            DeployError::Task(error.to_string())
        })??;
        self.records.get(id).await
    }

    /// Applies a recorded deploy (whose lease this replica `held`) and hands it to the
    /// follower; every way out records an end, unless another replica took the deploy over.
    /// Recording is retried with backoff while the database is unavailable (the row would
    /// otherwise stay `applying` and block the service's next deploy).
    async fn apply_recorded(
        &self,
        applier: Applier,
        request: DeployRequest,
        id: i64,
        revision: i64,
        held: Held,
    ) {
        let key = ServiceRef::of(&request.spec);
        self.live.publish(&key, LiveRollout::applying(revision));
        let secrets: BTreeMap<String, String> = request
            .secret_values
            .iter()
            .map(|(k, v)| (k.clone(), v.expose_secret().to_owned()))
            .collect();
        let applied = tokio::select! {
            applied = self.apply(&applier, &request.spec, revision, &secrets) => applied,
            () = held.lost() => return,
        };
        let replica = self.lease.replica();
        match applied {
            Ok(warnings) => {
                let recorded =
                    persist(|| self.records.mark_rolling_out(id, &warnings, replica)).await;
                match recorded {
                    Ok(()) => self.spawn_follow(id, request.spec, revision, held),
                    Err(error) => {
                        tracing::error!(deploy = id, %error, "could not record that the deploy is rolling out")
                    }
                }
            }
            Err(failure) => {
                let reason = failure.to_string();
                let recorded = persist(|| self.fail(&key, id, revision, reason.clone())).await;
                if let Err(error) = recorded {
                    tracing::error!(deploy = id, %error, "could not record the deploy's failure");
                }
            }
        }
    }

    async fn apply(
        &self,
        applier: &Applier,
        spec: &ServiceSpec,
        revision: i64,
        secrets: &BTreeMap<String, String>,
    ) -> Result<Vec<String>, ApplyFailure> {
        let capabilities = applier
            .capabilities()
            .await
            .map_err(ApplyFailure::Unreachable)?;
        let settings = self.settings_for(spec).await.map_err(ApplyFailure::Quota)?;
        let rendered = render(spec, revision, secrets, capabilities, &settings);
        applier
            .apply(&rendered)
            .await
            .map_err(|error| match error {
                super::apply::ApplyError::NotOurs { .. }
                | super::apply::ApplyError::HostTaken { .. } => ApplyFailure::NotCanopys(error),
                other => ApplyFailure::Refused(other),
            })?;
        Ok(rendered
            .skipped
            .iter()
            .map(|s| format!("{} skipped: {}", s.kind, s.reason))
            .collect())
    }

    async fn fail(
        &self,
        key: &ServiceRef,
        id: i64,
        revision: i64,
        reason: String,
    ) -> Result<(), DeployError> {
        tracing::warn!(deploy = id, %reason, "deploy failed");
        crate::metrics::global().deploy_finished(crate::metrics::DeployOutcome::Failed);
        self.live.publish(
            key,
            LiveRollout {
                status: DeployStatus::Failed,
                message: reason.clone(),
                ..LiveRollout::applying(revision)
            },
        );
        self.records
            .finish(id, Outcome::Failed { reason }, self.lease.replica())
            .await
    }

    /// Follows the rollout of `id` to its end while this replica `held` its lease.
    fn spawn_follow(&self, id: i64, spec: ServiceSpec, revision: i64, held: Held) {
        let this = self.clone();
        tokio::spawn(async move {
            let key = ServiceRef::of(&spec);
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
            let followed = tokio::select! {
                followed = tokio::time::timeout(
                    FOLLOW_LIMIT,
                    this.follower.follow(&spec, revision, &publish),
                ) => followed,
                // Another replica follows it now and records its end.
                () = held.lost() => return,
            };
            let replica = this.lease.replica();
            let outcome = followed.unwrap_or_else(|_| {
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
            crate::metrics::global().deploy_finished(if outcome.is_ok() {
                crate::metrics::DeployOutcome::Succeeded
            } else {
                crate::metrics::DeployOutcome::Failed
            });
            let (result, final_state) = match outcome {
                Ok(()) => (
                    this.records.finish(id, Outcome::Succeeded, replica).await,
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
                    (
                        this.records
                            .finish(id, Outcome::Failed { reason }, replica)
                            .await,
                        state,
                    )
                }
            };
            if let Err(error) = result {
                tracing::error!(deploy = id, %error, "could not record the deploy's outcome");
            }
            this.live.publish(&key, final_state);
            drop(held);
        });
    }

    /// Takes over the deploys nobody follows: those a stopped replica left in progress (once
    /// its lease ran out) or that were recorded without a follower. Re-applies those that may
    /// not have been applied, then follows each rollout to its end from the cluster's state.
    /// Never touches a deploy whose follower still renews its lease. Returns how many it took.
    pub async fn resume_unfinished(&self) -> Result<usize, DeployError> {
        let Some(applier) = self.applier.clone() else {
            return Ok(0);
        };
        let claimed = self.lease.claim_orphans().await?;
        let count = claimed.len();
        for deploy in claimed {
            tracing::info!(
                deploy = deploy.id,
                revision = deploy.revision,
                replica = %self.lease.replica(),
                "taking over an unfinished deploy"
            );
            let held = self.lease.keep(deploy.id);
            if deploy.status == DeployStatus::Applying {
                // The secret values were never stored: the Secret keeps what the cluster has.
                let no_secrets = BTreeMap::new();
                let applied = tokio::select! {
                    applied = self.apply(&applier, &deploy.spec, deploy.revision, &no_secrets) => applied,
                    () = held.lost() => continue,
                };
                match applied {
                    Ok(warnings) => {
                        self.records
                            .mark_rolling_out(deploy.id, &warnings, self.lease.replica())
                            .await?
                    }
                    Err(failure) => {
                        self.fail(
                            &ServiceRef::of(&deploy.spec),
                            deploy.id,
                            deploy.revision,
                            failure.to_string(),
                        )
                        .await?;
                        continue;
                    }
                }
            }
            self.spawn_follow(deploy.id, deploy.spec, deploy.revision, held);
        }
        Ok(count)
    }

    /// Looks for deploys to take over now and then every third of the lease, until the
    /// process ends: a replica that dies leaves its rollouts to the others within the lease
    /// time plus one check.
    pub fn spawn_takeover(&self) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(this.lease.check_every());
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match this.resume_unfinished().await {
                    Ok(0) => {}
                    Ok(count) => tracing::info!(count, "took over unfinished deploys"),
                    Err(error) => {
                        tracing::warn!(%error, "could not look for unfinished deploys to take over")
                    }
                }
            }
        })
    }
}

/// Every secret value given must be declared under `secrets` in the spec (its key is what the
/// workload reads); values for undeclared keys are refused, naming each key.
fn check_secret_values(request: &DeployRequest) -> Result<(), DeployError> {
    let errors: Vec<_> = request
        .secret_values
        .keys()
        .filter(|key| !request.spec.secret_keys.contains(key))
        .map(|key| app::api::spec::SpecError {
            field: format!("secrets.{key}"),
            message: format!("{key} is not listed under `secrets` in the spec"),
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(DeployError::InvalidSpec { errors })
    }
}

/// Runs `write` until it succeeds, retrying with backoff (from 200 ms, doubling, for about ten
/// minutes) while the database cannot be reached; other errors are returned at once.
async fn persist<F, Fut>(write: F) -> Result<(), DeployError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), DeployError>>,
{
    use backon::{ExponentialBuilder, Retryable};
    write
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(std::time::Duration::from_millis(200))
                .with_max_delay(std::time::Duration::from_secs(30))
                .with_max_times(25),
        )
        .when(|error| matches!(error, DeployError::Database(_)))
        .notify(|error, after| {
            tracing::warn!(%error, retry_in_ms = after.as_millis() as u64, "recording a deploy's state failed; trying again");
        })
        .await
}
