//! A deploy survives a Canopy restart, and a second click does not start a duplicate: the deploy
//! service on a real PostgreSQL database and the real control plane.
//!
//! "Canopy stops" is a whole tokio runtime shut down on its own thread: every task it ran (the
//! rollout follower among them) dies with it, as it would with the process. Each Canopy here is
//! a replica of its own with a 3 s follower lease: another one takes a deploy over only once
//! the lease of the one that followed it ran out.

use std::{collections::BTreeMap, time::Duration};

use app::api::deploys::{DeployRecord, DeployStatus};
use canopy_server::{
    deploy::lease::FollowerLease,
    deploy::{
        records::{DeployRecords, NewDeploy},
        render::ANNOTATION_REVISION,
        service::{DeployRequest, DeployService},
        DeployError,
    },
    replicas::ReplicaId,
    startup::deploy_service_with,
};
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use sqlx::{postgres::PgPoolOptions, PgPool};

use crate::{
    app_support::fresh_database,
    support::{kubeconfig_path, simulator_logs, with_team, TestTeam, WAIT},
};

pub async fn pool_for(options: sqlx::postgres::PgConnectOptions) -> PgPool {
    PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .expect("connect to the test database")
}

/// The follower lease of the test replicas.
pub const LEASE: Duration = Duration::from_secs(3);

/// A deploy service (a replica of its own) with its own pool and kube client, on the caller's
/// runtime.
pub async fn canopy(options: sqlx::postgres::PgConnectOptions) -> DeployService {
    let client = canopy_sandbox::client_from_kubeconfig(&kubeconfig_path())
        .await
        .expect("kube client");
    let pool = pool_for(options).await;
    let lease = FollowerLease::new(pool.clone(), ReplicaId::new(Some("test")), LEASE);
    deploy_service_with(pool, Some(client), lease)
}

/// Calls `resume_unfinished` until it takes over something (at most twice the lease).
async fn take_over(service: &DeployService) -> usize {
    let deadline = tokio::time::Instant::now() + LEASE * 2;
    loop {
        let taken = service.resume_unfinished().await.expect("resume");
        if taken > 0 || tokio::time::Instant::now() > deadline {
            return taken;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub fn request(team: &TestTeam, name: &str) -> DeployRequest {
    DeployRequest {
        spec: team.spec(name, |_| {}),
        secret_values: BTreeMap::new(),
        requested_by: "resume-test".to_owned(),
        reason: None,
        git_sha: None,
    }
}

/// Runs `work` on a Canopy that lives on its own runtime and thread, then stops that runtime
/// abruptly (its background tasks are dropped mid-flight) and returns what `work` returned.
async fn run_then_crash<T, F>(options: sqlx::postgres::PgConnectOptions, work: F) -> T
where
    T: Send + 'static,
    F: FnOnce(DeployService) -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>
        + Send
        + 'static,
{
    tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let out = runtime.block_on(async move {
            let service = canopy(options).await;
            work(service).await
        });
        runtime.shutdown_background();
        out
    })
    .await
    .expect("the crashed Canopy's thread")
}

/// Waits until the record of `id` has finished (succeeded or failed).
pub async fn finished(records: &DeployRecords, id: i64) -> DeployRecord {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let record = records.get(id).await.expect("read the record");
        if matches!(
            record.status,
            DeployStatus::Succeeded | DeployStatus::Failed
        ) {
            return record;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "deploy {id} still {:?} after {WAIT:?}",
            record.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_rollout_in_progress_when_canopy_stops_is_completed_after_it_restarts() {
    simulator_logs();
    with_team("resume", |team| async move {
        let (_db, options) = fresh_database().await;
        let deploy = request(&team, "web");
        // The first Canopy applies the objects and starts following, then dies before the pods
        // (0.5-1 s start delay in the test simulator) are ready.
        let started = run_then_crash(options.clone(), |service| {
            Box::pin(async move { service.deploy(deploy).await })
        })
        .await
        .expect("the deploy starts");
        assert_eq!(started.status, DeployStatus::RollingOut);

        let pool = pool_for(options.clone()).await;
        let records = DeployRecords::new(pool);
        let orphaned = records.get(started.id).await.expect("record");
        assert_eq!(
            orphaned.status,
            DeployStatus::RollingOut,
            "nobody follows the rollout while Canopy is down"
        );
        assert!(orphaned.finished_at.is_none());

        // The second Canopy cannot tell a dead follower from a live one until its lease runs
        // out: it takes nothing over at once, then resumes from the cluster's state and
        // completes the record.
        let restarted = canopy(options).await;
        assert_eq!(
            restarted.resume_unfinished().await.expect("resume"),
            0,
            "a deploy whose follower's lease holds is not taken over"
        );
        assert_eq!(take_over(&restarted).await, 1);
        let done = finished(&records, started.id).await;
        assert_eq!(done.status, DeployStatus::Succeeded, "{done:?}");
        assert_eq!(done.revision, 1);
        assert!(done.finished_at.is_some());
        assert!(done.duration_ms.is_some_and(|ms| ms > 0));
        let deployment = team
            .api::<Deployment>()
            .get("web")
            .await
            .expect("the Deployment exists");
        let status = deployment.status.expect("status");
        assert_eq!(status.available_replicas, Some(2));

        // Nothing is left to resume afterwards.
        assert_eq!(restarted.resume_unfinished().await.expect("resume"), 0);
    })
    .await;
}

#[tokio::test]
async fn a_deploy_recorded_but_never_applied_is_applied_and_followed_after_a_restart() {
    simulator_logs();
    with_team("resume", |team| async move {
        let (_db, options) = fresh_database().await;
        let records = DeployRecords::new(pool_for(options.clone()).await);
        // Canopy died between recording the deploy and applying its objects.
        let spec = team.spec("api", |_| {});
        let recorded = records
            .start(NewDeploy {
                spec: &spec,
                requested_by: "resume-test",
                reason: None,
                rollback_of: None,
                git_sha: None,
                follower: None,
            })
            .await
            .expect("record");
        let recorded = records.get(recorded.id).await.expect("the record");
        assert_eq!(recorded.status, DeployStatus::Applying);
        let deployments: Api<Deployment> = team.api();
        assert!(deployments.get_opt("api").await.expect("get").is_none());

        let restarted = canopy(options).await;
        assert_eq!(restarted.resume_unfinished().await.expect("resume"), 1);
        let done = finished(&records, recorded.id).await;
        assert_eq!(done.status, DeployStatus::Succeeded, "{done:?}");
        let deployment = deployments.get("api").await.expect("applied on resume");
        let annotations = deployment.metadata.annotations.unwrap_or_default();
        assert_eq!(
            annotations.get(ANNOTATION_REVISION).map(String::as_str),
            Some("1")
        );
    })
    .await;
}

#[tokio::test]
async fn a_second_click_while_a_deploy_is_in_progress_starts_no_duplicate() {
    simulator_logs();
    with_team("twice", |team| async move {
        let (_db, options) = fresh_database().await;
        let service = canopy(options.clone()).await;
        // Two clicks at once: both requests race for the same service and environment.
        let (first, second) = tokio::join!(
            service.deploy(request(&team, "web")),
            service.deploy(request(&team, "web"))
        );
        let (accepted, refused) = match (first, second) {
            (Ok(record), Err(error)) | (Err(error), Ok(record)) => (record, error),
            (first, second) => {
                panic!("expected one deploy and one refusal, got {first:?} and {second:?}")
            }
        };
        match &refused {
            DeployError::Conflict { message, .. } => assert!(
                message.contains("already in progress"),
                "the refusal says why: {message}"
            ),
            other => panic!("expected a conflict, got {other:?}"),
        }
        // A third click while the rollout is still going is refused the same way.
        let third = service.deploy(request(&team, "web")).await;
        assert!(
            matches!(third, Err(DeployError::Conflict { .. })),
            "a click during the rollout: {third:?}"
        );

        let records = DeployRecords::new(pool_for(options).await);
        let done = finished(&records, accepted.id).await;
        assert_eq!(done.status, DeployStatus::Succeeded, "{done:?}");
        let history = records
            .history(
                &app::api::ServiceRef::parse(team.team.as_str(), "web", "dev").expect("valid"),
                10,
            )
            .await
            .expect("history");
        assert_eq!(
            history.len(),
            1,
            "exactly one deploy was recorded: {history:?}"
        );

        // Once it has finished, the next click deploys again (revision 2).
        let next = service
            .deploy(request(&team, "web"))
            .await
            .expect("a deploy after the first finished");
        assert_eq!(next.revision, 2);
        assert_eq!(
            finished(&records, next.id).await.status,
            DeployStatus::Succeeded
        );
    })
    .await;
}

/// The caller of a deploy goes away once the deploy is recorded, while its objects are being
/// applied (as when the browser disconnects or the request times out: the request's future is
/// dropped). The deploy is Canopy's own work, so it still ends, and the next one is accepted.
#[tokio::test]
async fn a_deploy_whose_caller_goes_away_mid_apply_still_ends_and_the_next_one_is_accepted() {
    simulator_logs();
    with_team("owned", |team| async move {
        let (_db, options) = fresh_database().await;
        let canopy = canopy(options.clone()).await;
        let pool = pool_for(options).await;
        let records = DeployRecords::new(pool.clone());

        let caller = {
            let canopy = canopy.clone();
            let request = request(&team, "api");
            tokio::spawn(async move { canopy.deploy(request).await })
        };
        let id = loop {
            let recorded: Option<(i64, String)> =
                sqlx::query_as("SELECT id, status FROM deploys ORDER BY id DESC LIMIT 1")
                    .fetch_optional(&pool)
                    .await
                    .expect("deploys");
            if let Some((id, status)) = recorded {
                assert_eq!(
                    status, "applying",
                    "caught after the record, before the apply"
                );
                break id;
            }
            assert!(
                !caller.is_finished(),
                "the deploy finished before it could be dropped"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        caller.abort();

        let ended = finished(&records, id).await;
        assert_eq!(ended.status, DeployStatus::Succeeded, "{ended:?}");
        let next = canopy
            .deploy(request(&team, "api"))
            .await
            .expect("the next deploy is accepted");
        assert_eq!(next.revision, 2);
        assert_eq!(
            finished(&records, next.id).await.status,
            DeployStatus::Succeeded
        );
    })
    .await;
}

/// Two live replicas: the one that started a deploy keeps its lease (renewing it) for as long
/// as it follows, and the other never takes that deploy over, however often it looks.
#[tokio::test]
async fn a_replica_never_takes_over_a_deploy_that_a_live_replica_follows() {
    simulator_logs();
    with_team("owned", |team| async move {
        let (_db, options) = fresh_database().await;
        let first = canopy(options.clone()).await;
        let second = canopy(options.clone()).await;
        // Pods that run but never pass their readiness probe: the rollout stays in progress.
        let mut deploy = request(&team, "slow");
        deploy.spec = team.spec("slow", |raw| {
            raw.image = "ghcr.io/acme/web:readiness-fail".to_owned();
        });
        let started = first.deploy(deploy).await.expect("the deploy starts");
        let records = DeployRecords::new(pool_for(options).await);
        let watch_until = tokio::time::Instant::now() + LEASE * 3;
        while tokio::time::Instant::now() < watch_until {
            assert_eq!(
                second.resume_unfinished().await.expect("look for orphans"),
                0,
                "the second replica took over a deploy the first still follows"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let record = records.get(started.id).await.expect("record");
        assert_eq!(
            record.status,
            DeployStatus::RollingOut,
            "the rollout was still in progress throughout (three leases long): {record:?}"
        );
    })
    .await;
}

/// The database goes away right after a deploy is recorded (every connection of the test
/// database is terminated and new ones are refused for three seconds, while the objects are
/// being applied). The deploy still ends, with a reason if it failed, and the next deploy of the
/// service is accepted, without a restart.
#[tokio::test]
async fn a_database_outage_right_after_the_record_is_written_still_ends_the_deploy() {
    use sqlx::{Connection, Executor};
    crate::app_support::init_logs();
    simulator_logs();
    with_team("dbfault", |team| async move {
        let (db_name, options) = fresh_database().await;
        let canopy = canopy(options.clone()).await;
        // As in the binary: this replica also takes over deploys whose lease ran out.
        let takeover = canopy.spawn_takeover();
        let admin_options = options.clone().database("postgres");
        let mut admin = sqlx::PgConnection::connect_with(&admin_options)
            .await
            .expect("admin connection");
        let mut watcher = sqlx::PgConnection::connect_with(&options)
            .await
            .expect("watching connection");

        let caller = {
            let canopy = canopy.clone();
            let request = request(&team, "api");
            tokio::spawn(async move { canopy.deploy(request).await })
        };
        // The moment the record exists, the database goes away.
        let deadline = tokio::time::Instant::now() + WAIT;
        let id: i64 = loop {
            let recorded: Option<i64> = sqlx::query_scalar("SELECT id FROM deploys LIMIT 1")
                .fetch_optional(&mut watcher)
                .await
                .expect("watch");
            if let Some(id) = recorded {
                break id;
            }
            assert!(tokio::time::Instant::now() < deadline, "never recorded");
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        admin
            .execute(format!("ALTER DATABASE {db_name} ALLOW_CONNECTIONS false").as_str())
            .await
            .expect("refuse connections");
        let terminated: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
        )
        .bind(&db_name)
        .fetch_all(&mut admin)
        .await
        .expect("terminate");
        assert!(!terminated.is_empty(), "Canopy had connections to cut");
        tokio::time::sleep(Duration::from_secs(3)).await;
        admin
            .execute(format!("ALTER DATABASE {db_name} ALLOW_CONNECTIONS true").as_str())
            .await
            .expect("allow connections");
        // The caller may have seen an error (it could not read the record back): that is fine;
        // the deploy is Canopy's work and must end anyway.
        let _ = caller.await;

        let records = DeployRecords::new(pool_for(options.clone()).await);
        let ended = finished(&records, id).await;
        match ended.status {
            DeployStatus::Succeeded => {}
            DeployStatus::Failed => assert!(
                ended
                    .failure_reason
                    .as_deref()
                    .is_some_and(|reason| !reason.trim().is_empty()),
                "a failed deploy says why: {ended:?}"
            ),
            other => panic!("the deploy did not end: {other:?}"),
        }
        let next = canopy
            .deploy(request(&team, "api"))
            .await
            .expect("the next deploy is accepted without a restart");
        assert_eq!(
            finished(&records, next.id).await.status,
            DeployStatus::Succeeded
        );
        takeover.abort();
    })
    .await;
}
