//! Follows a rollout in a real cluster for the deploy service, translating the watcher's
//! snapshots into the live state the service page shows.

use app::api::{
    deploys::{DeployStatus, LiveRollout, Problem},
    spec::ServiceSpec,
};
use kube::Client;

use super::{
    rollout::{watch_rollout, RolloutEnd, RolloutSnapshot, RolloutStatus},
    service::{RolloutFollower, FOLLOW_LIMIT},
};

pub struct KubeFollower {
    client: Client,
}

impl KubeFollower {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

/// The page's view of a watcher snapshot.
pub fn to_live(revision: i64, snapshot: &RolloutSnapshot) -> LiveRollout {
    let (status, desired, updated, ready, available) = match &snapshot.status {
        RolloutStatus::Pending => (DeployStatus::RollingOut, 0, 0, 0, 0),
        RolloutStatus::Progressing {
            updated,
            ready,
            available,
            desired,
            ..
        } => (
            DeployStatus::RollingOut,
            *desired,
            *updated,
            *ready,
            *available,
        ),
        RolloutStatus::Available { replicas } => (
            DeployStatus::Succeeded,
            *replicas,
            *replicas,
            *replicas,
            *replicas,
        ),
        RolloutStatus::Failed { .. } => (DeployStatus::Failed, 0, 0, 0, 0),
    };
    LiveRollout {
        revision,
        status,
        desired,
        updated,
        ready,
        available,
        message: snapshot.status.message(),
        problem: snapshot.problems.first().map(|p| Problem {
            title: p.title.clone(),
            detail: p.detail.clone(),
            hint: p.hint.clone(),
        }),
    }
}

#[async_trait::async_trait]
impl RolloutFollower for KubeFollower {
    async fn follow(
        &self,
        spec: &ServiceSpec,
        revision: i64,
        publish: &(dyn Fn(LiveRollout) + Send + Sync),
    ) -> Result<(), Problem> {
        let outcome = watch_rollout(
            &self.client,
            &spec.namespace(),
            spec.name.as_str(),
            FOLLOW_LIMIT,
            |snapshot| publish(to_live(revision, &snapshot)),
        )
        .await
        .map_err(|error| Problem {
            title: "Canopy lost track of the rollout".to_owned(),
            detail: error.to_string(),
            hint: "Check that Canopy can still reach the cluster, then deploy again.".to_owned(),
        })?;
        if outcome.end == RolloutEnd::Available {
            return Ok(());
        }
        let problem = outcome
            .last
            .as_ref()
            .and_then(|s| s.problems.first())
            .map(|p| Problem {
                title: p.title.clone(),
                detail: p.detail.clone(),
                hint: p.hint.clone(),
            })
            .unwrap_or_else(|| Problem {
                title: "The rollout did not complete".to_owned(),
                detail: outcome.failure_reason().unwrap_or_default(),
                hint: "Look at the pods and events of the service for what is holding it up."
                    .to_owned(),
            });
        if let Some(last) = &outcome.last {
            publish(LiveRollout {
                status: DeployStatus::Failed,
                ..to_live(revision, last)
            });
        }
        Err(problem)
    }
}
