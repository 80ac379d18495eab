//! Rollout followers' leases: each unfinished deploy is followed by exactly one replica, the one
//! named in its row's `follower`, for as long as it renews `follower_lease_until`. A replica that
//! dies stops renewing; another one claims the deploy once the lease has run out
//! ([`FollowerLease::claim_orphans`], `FOR UPDATE SKIP LOCKED`, so two replicas never claim
//! the same one) and completes it. A replica that finds it lost a lease (it was cut off for
//! longer than the lease) stops following that deploy and records nothing more.

use std::time::Duration;

use app::api::{deploys::DeployStatus, spec::ServiceSpec};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::DeployError;
use crate::replicas::ReplicaId;

/// This replica's side of the leases.
#[derive(Clone)]
pub struct FollowerLease {
    pool: PgPool,
    replica: ReplicaId,
    duration: Duration,
}

/// A deploy this replica now follows.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: i64,
    pub spec: ServiceSpec,
    pub revision: i64,
    pub status: DeployStatus,
}

impl FollowerLease {
    pub fn new(pool: PgPool, replica: ReplicaId, duration: Duration) -> Self {
        Self {
            pool,
            replica,
            duration,
        }
    }

    pub fn replica(&self) -> &ReplicaId {
        &self.replica
    }

    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// How often leases are renewed and orphans looked for: a third of the lease, so two
    /// renewals may fail before it runs out.
    pub fn check_every(&self) -> Duration {
        self.duration / 3
    }

    /// Extends the lease on `id`; `false` when this replica no longer holds it (another took
    /// the deploy over) or the deploy has finished.
    pub async fn renew(&self, id: i64) -> Result<bool, DeployError> {
        let renewed = sqlx::query_scalar!(
            r#"UPDATE deploys
               SET follower_lease_until = now() + make_interval(secs => $3)
               WHERE id = $1 AND follower = $2 AND status IN ('applying', 'rolling_out')
               RETURNING id"#,
            id,
            self.replica.as_str(),
            self.duration.as_secs_f64()
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(renewed.is_some())
    }

    /// Takes over unfinished deploys whose follower's lease ran out (or that never had one),
    /// oldest first.
    pub async fn claim_orphans(&self) -> Result<Vec<Claimed>, DeployError> {
        let rows = sqlx::query!(
            r#"UPDATE deploys d
               SET follower = $1, follower_lease_until = now() + make_interval(secs => $2)
               WHERE d.id IN (
                   SELECT id FROM deploys
                   WHERE status IN ('applying', 'rolling_out')
                     AND (follower_lease_until IS NULL OR follower_lease_until < now())
                   ORDER BY id
                   LIMIT 100
                   FOR UPDATE SKIP LOCKED)
               RETURNING d.id, d.spec, d.revision, d.status"#,
            self.replica.as_str(),
            self.duration.as_secs_f64()
        )
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = rows
            .into_iter()
            .map(|row| {
                Ok(Claimed {
                    id: row.id,
                    spec: serde_json::from_value(row.spec)?,
                    revision: row.revision,
                    status: DeployStatus::parse(&row.status)
                        .ok_or(DeployError::CorruptRow("status"))?,
                })
            })
            .collect::<Result<Vec<_>, DeployError>>()?;
        claimed.sort_by_key(|c| c.id);
        Ok(claimed)
    }

    /// Renews the lease on `id` every [`Self::check_every`] until the returned guard is
    /// dropped. The guard's token is cancelled when the lease is lost.
    pub fn keep(&self, id: i64) -> Held {
        let lost = CancellationToken::new();
        let done = CancellationToken::new();
        let lease = self.clone();
        let (on_lost, stop) = (lost.clone(), done.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(lease.check_every());
            tick.tick().await;
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                match lease.renew(id).await {
                    Ok(true) => {}
                    Ok(false) => {
                        if !stop.is_cancelled() {
                            tracing::warn!(deploy = id, replica = %lease.replica, "lost the lease on a deploy; another replica follows it now");
                            on_lost.cancel();
                        }
                        return;
                    }
                    // The database is away: keep following; if it stays away past the lease,
                    // the next renewal finds the deploy taken over.
                    Err(error) => {
                        tracing::warn!(deploy = id, %error, "could not renew the lease on a deploy")
                    }
                }
            }
        });
        Held {
            lost,
            _stop: done.drop_guard(),
        }
    }
}

/// A lease being renewed; renewal stops when this is dropped.
pub struct Held {
    lost: CancellationToken,
    _stop: tokio_util::sync::DropGuard,
}

impl Held {
    /// Completes when another replica has taken the deploy over.
    pub async fn lost(&self) {
        self.lost.cancelled().await;
    }
}
