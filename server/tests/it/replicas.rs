//! Several replicas on one real PostgreSQL, in one process: background jobs run once per
//! period whoever ticks them, a run that dies is run again, and a live rollout state published
//! on one replica reaches another one's subscribers. (Three real `canopy` processes with the
//! control plane: `server/tests/deploy/replicas.rs`.)

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use app::api::{
    deploys::{DeployStatus, LiveRollout},
    ServiceRef,
};
use canopy_server::{
    deploy::live::LiveRollouts,
    replicas::{
        jobs::{Job, Jobs, Tick},
        live_bus, ReplicaId,
    },
};
use sqlx::postgres::PgPoolOptions;
use time::macros::datetime;

use crate::support::fresh_database;

async fn pool(options: &sqlx::postgres::PgConnectOptions) -> sqlx::PgPool {
    let pool = PgPoolOptions::new()
        .max_connections(5)
        .connect_with(options.clone())
        .await
        .expect("connect");
    canopy_server::db::migrate(&pool).await.expect("migrate");
    pool
}

#[tokio::test]
async fn three_replicas_ticking_the_same_period_run_the_job_once() {
    let (_db, options) = fresh_database().await;
    let replicas: Vec<Jobs> = futures::future::join_all((0..3).map(|i| {
        let options = options.clone();
        async move { Jobs::new(pool(&options).await, ReplicaId::new(Some(&format!("r{i}")))) }
    }))
    .await;
    let runs = Arc::new(AtomicUsize::new(0));
    let every = Duration::from_secs(3600);
    let now = datetime!(2026-11-30 21:15 UTC);
    // All three tick at once, each many times: the work takes a while, so they overlap.
    let ticks = futures::future::join_all(replicas.iter().flat_map(|jobs| {
        let runs = runs.clone();
        (0..5).map(move |_| {
            let runs = runs.clone();
            async move {
                jobs.tick(Job::EnergyPartitions, every, now, async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Ok::<_, String>(())
                })
                .await
                .expect("tick")
            }
        })
    }))
    .await;
    assert_eq!(runs.load(Ordering::SeqCst), 1, "ticks: {ticks:?}");
    assert_eq!(ticks.iter().filter(|t| **t == Tick::Ran).count(), 1);
    assert!(ticks
        .iter()
        .all(|t| matches!(t, Tick::Ran | Tick::Busy | Tick::AlreadyDone)));

    // Later in the same hour: done already. The next hour: runs again, once.
    let later = replicas[2]
        .tick(
            Job::EnergyPartitions,
            every,
            datetime!(2026-11-30 21:59 UTC),
            async { Ok::<_, String>(()) },
        )
        .await
        .expect("tick");
    assert_eq!(later, Tick::AlreadyDone);
    let next_hour = replicas[1]
        .tick(
            Job::EnergyPartitions,
            every,
            datetime!(2026-11-30 22:00 UTC),
            async { Ok::<_, String>(()) },
        )
        .await
        .expect("tick");
    assert_eq!(next_hour, Tick::Ran);
    // Another job is not held up by this one's period.
    let other = replicas[0]
        .tick(Job::EnergyDailyRollup, every, now, async {
            Ok::<_, String>(())
        })
        .await
        .expect("tick");
    assert_eq!(other, Tick::Ran);
}

#[tokio::test]
async fn a_run_that_fails_or_dies_midway_is_run_again_in_the_same_period() {
    let (_db, options) = fresh_database().await;
    let first = Jobs::new(pool(&options).await, ReplicaId::new(Some("first")));
    let second = Jobs::new(pool(&options).await, ReplicaId::new(Some("second")));
    let every = Duration::from_secs(3600);
    let now = datetime!(2026-11-30 21:15 UTC);

    // A failed run records nothing.
    let failed = first
        .tick(Job::EnergyDailyRollup, every, now, async {
            Err::<(), _>("the database said no")
        })
        .await
        .expect("tick");
    assert_eq!(failed, Tick::Failed("the database said no".to_owned()));

    // A replica that dies mid-run (its task is dropped, as with the process): the lock goes
    // with its transaction, and the period is still to do.
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let dying = tokio::spawn({
        let first = first.clone();
        async move {
            first
                .tick(Job::EnergyDailyRollup, every, now, async move {
                    let _ = started_tx.send(());
                    std::future::pending::<Result<(), String>>().await
                })
                .await
        }
    });
    started_rx.await.expect("the first run started");
    let busy = second
        .tick(Job::EnergyDailyRollup, every, now, async {
            Ok::<_, String>(())
        })
        .await
        .expect("tick");
    assert_eq!(busy, Tick::Busy, "the running replica holds the job");
    dying.abort();
    let _ = dying.await;

    let mut taken = Tick::Busy;
    for _ in 0..50 {
        taken = second
            .tick(Job::EnergyDailyRollup, every, now, async {
                Ok::<_, String>(())
            })
            .await
            .expect("tick");
        if taken != Tick::Busy {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        taken,
        Tick::Ran,
        "the period the dead run left is run again"
    );
}

fn state(revision: i64, ready: i32) -> LiveRollout {
    LiveRollout {
        status: DeployStatus::RollingOut,
        desired: 3,
        updated: 3,
        ready,
        available: ready,
        message: format!("{ready} of 3 new pods are ready"),
        ..LiveRollout::applying(revision)
    }
}

#[tokio::test]
async fn a_live_state_published_on_one_replica_reaches_the_others_within_a_second() {
    let (_db, options) = fresh_database().await;
    let replica = |name: &'static str| {
        let options = options.clone();
        async move {
            let local = LiveRollouts::default();
            let outbox = live_bus::start(
                pool(&options).await,
                pool(&options).await,
                ReplicaId::new(Some(name)),
                local.clone(),
            );
            local.shared(outbox)
        }
    };
    let a = replica("a").await;
    let b = replica("b").await;
    let key = ServiceRef::parse("payments", "api", "prod").expect("valid");
    let mut follower = b.subscribe(&key);
    // Give B's listener time to LISTEN (it starts in the background).
    tokio::time::sleep(Duration::from_millis(500)).await;

    for ready in 0..=3 {
        let published = std::time::Instant::now();
        a.publish(&key, state(7, ready));
        let seen = tokio::time::timeout(Duration::from_secs(1), async {
            loop {
                follower.changed().await.expect("the channel is open");
                let current = follower.borrow_and_update().clone();
                if current.as_ref().is_some_and(|s| s.ready == ready) {
                    return current;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("B did not see state {ready} within a second"));
        assert_eq!(seen, Some(state(7, ready)));
        assert!(published.elapsed() < Duration::from_secs(1));
    }

    // A replica that starts later begins from the newest state.
    let c = replica("c").await;
    let mut latest = None;
    for _ in 0..20 {
        latest = c.latest(&key);
        if latest.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(latest, Some(state(7, 3)));
}

#[tokio::test]
async fn replicas_share_one_rate_limit_budget() {
    use canopy_server::http::rate_limit::{Decision, RateLimitSettings, RateLimiter};
    let (_db, options) = fresh_database().await;
    let settings = RateLimitSettings {
        per_second: 0.1,
        burst: 5,
    };
    let a = RateLimiter::new(pool(&options).await, settings);
    let b = RateLimiter::new(pool(&options).await, settings);
    let mut allowed = 0;
    let mut refused = Vec::new();
    for i in 0..12 {
        let limiter = if i % 2 == 0 { &a } else { &b };
        match limiter.check("user:7").await.expect("check") {
            Decision::Allowed => allowed += 1,
            Decision::Limited { retry_after } => refused.push(retry_after),
        }
    }
    assert_eq!(allowed, 5, "one budget of 5 across both replicas");
    assert_eq!(refused.len(), 7);
    // The next request fits once one interval (10 s) has passed since the budget ran out.
    assert!(
        refused
            .iter()
            .all(|wait| *wait > Duration::from_secs(8) && *wait <= Duration::from_secs(10)),
        "{refused:?}"
    );
    // Another caller has a budget of their own.
    assert_eq!(
        b.check("addr:10.0.0.9").await.expect("check"),
        Decision::Allowed
    );
    // Nothing to prune while the budgets are in use.
    assert_eq!(a.prune().await.expect("prune"), 0);
}
