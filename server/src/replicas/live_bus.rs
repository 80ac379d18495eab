//! Live rollout state shared between replicas through PostgreSQL. The replica that follows a
//! rollout publishes each state into its own [`LiveRollouts`] and hands it to this bus, which
//! writes it to `live_rollouts` and sends `NOTIFY canopy_live` with the service's key, in one
//! statement, in publishing order. Every replica LISTENs; on a notice from another replica it
//! reads the row and publishes it into its own [`LiveRollouts`], where its pages' streams pick
//! it up. A replica that starts (or whose listening connection was lost) first loads the states
//! of the last [`FOLLOW_LIMIT`] from the table, so it misses no rollout in progress.

use std::time::Duration;

use app::api::{deploys::LiveRollout, ServiceRef};
use serde::{Deserialize, Serialize};
use sqlx::{postgres::PgListener, PgPool};
use tokio::sync::mpsc;

use super::ReplicaId;
use crate::deploy::{live::LiveRollouts, service::FOLLOW_LIMIT};

/// The NOTIFY channel.
pub const CHANNEL: &str = "canopy_live";

/// States waiting to be written; past this, the oldest states are not shared (the local page
/// and the deploy's record still have them) and a warning says so.
const QUEUE: usize = 1024;

/// What a notice carries: whose state changed, and which replica wrote it.
#[derive(Debug, Serialize, Deserialize)]
struct Notice {
    replica: String,
    team: String,
    service: String,
    environment: String,
}

/// One state to share.
pub struct Shared {
    pub key: ServiceRef,
    pub state: LiveRollout,
}

/// The sending half, held by [`LiveRollouts`].
pub type Outbox = mpsc::Sender<Shared>;

/// Connects `live` to the other replicas: returns the outbox to give
/// [`LiveRollouts::shared`] and starts the writer (on `pool`) and the listener (its own
/// connection from the `coordination` pool, reads on `pool`).
pub fn start(pool: PgPool, coordination: PgPool, replica: ReplicaId, live: LiveRollouts) -> Outbox {
    let (outbox, queue) = mpsc::channel(QUEUE);
    tokio::spawn(write(pool.clone(), replica.clone(), queue));
    tokio::spawn(listen(pool, coordination, replica, live));
    outbox
}

async fn write(pool: PgPool, replica: ReplicaId, mut queue: mpsc::Receiver<Shared>) {
    while let Some(Shared { key, state }) = queue.recv().await {
        if let Err(error) = store(&pool, &replica, &key, &state).await {
            tracing::warn!(service = %key, %error, "could not share a live rollout state with the other replicas");
        }
    }
}

async fn store(
    pool: &PgPool,
    replica: &ReplicaId,
    key: &ServiceRef,
    state: &LiveRollout,
) -> Result<(), sqlx::Error> {
    let environment = key.environment.to_string();
    let notice = serde_json::to_string(&Notice {
        replica: replica.to_string(),
        team: key.team.to_string(),
        service: key.service.to_string(),
        environment: environment.clone(),
    })
    .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let state = serde_json::to_value(state).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query!(
        r#"WITH stored AS (
               INSERT INTO live_rollouts (team, service, environment, state, replica)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (team, service, environment)
               DO UPDATE SET state = EXCLUDED.state, replica = EXCLUDED.replica,
                             updated_at = now()
               RETURNING 1)
           SELECT pg_notify($6, $7) FROM stored"#,
        key.team.as_str(),
        key.service.as_str(),
        environment,
        state,
        replica.as_str(),
        CHANNEL,
        notice
    )
    .execute(pool)
    .await?;
    Ok(())
}

async fn listen(pool: PgPool, coordination: PgPool, replica: ReplicaId, live: LiveRollouts) {
    loop {
        match listen_once(&pool, &coordination, &replica, &live).await {
            Ok(()) => return,
            Err(_) if pool.is_closed() || coordination.is_closed() => return,
            Err(error) => {
                tracing::warn!(%error, "live rollout updates from other replicas paused; listening again");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Listens until an error; after each (re)connection, first catches up from the table.
async fn listen_once(
    pool: &PgPool,
    coordination: &PgPool,
    replica: &ReplicaId,
    live: &LiveRollouts,
) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(coordination).await?;
    listener.listen(CHANNEL).await?;
    catch_up(pool, replica, live).await?;
    loop {
        let Some(notification) = listener.try_recv().await? else {
            // The connection was lost and is back: notices in between are gone.
            catch_up(pool, replica, live).await?;
            continue;
        };
        let notice: Notice = match serde_json::from_str(notification.payload()) {
            Ok(notice) => notice,
            Err(error) => {
                tracing::warn!(%error, "an unreadable live rollout notice was ignored");
                continue;
            }
        };
        if notice.replica == replica.as_str() {
            continue;
        }
        let Ok(key) = ServiceRef::parse(&notice.team, &notice.service, &notice.environment) else {
            continue;
        };
        if let Some(state) = fetch(pool, &key).await? {
            live.publish_local(&key, state);
        }
    }
}

/// Loads the states other replicas wrote during the last [`FOLLOW_LIMIT`].
async fn catch_up(
    pool: &PgPool,
    replica: &ReplicaId,
    live: &LiveRollouts,
) -> Result<(), sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT team, service, environment, state FROM live_rollouts
           WHERE replica <> $1 AND updated_at > now() - make_interval(secs => $2)"#,
        replica.as_str(),
        FOLLOW_LIMIT.as_secs_f64()
    )
    .fetch_all(pool)
    .await?;
    for row in rows {
        let (Ok(key), Ok(state)) = (
            ServiceRef::parse(&row.team, &row.service, &row.environment),
            serde_json::from_value::<LiveRollout>(row.state),
        ) else {
            continue;
        };
        live.publish_local(&key, state);
    }
    Ok(())
}

async fn fetch(pool: &PgPool, key: &ServiceRef) -> Result<Option<LiveRollout>, sqlx::Error> {
    let state = sqlx::query_scalar!(
        "SELECT state FROM live_rollouts WHERE team = $1 AND service = $2 AND environment = $3",
        key.team.as_str(),
        key.service.as_str(),
        &*key.environment.as_str()
    )
    .fetch_optional(pool)
    .await?;
    Ok(state.and_then(|state| serde_json::from_value(state).ok()))
}
