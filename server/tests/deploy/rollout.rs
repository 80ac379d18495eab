//! Watching rollouts against the real control plane: a healthy service is judged available
//! after live snapshots of its progress, a missing Deployment is an error, and a caller's
//! timeout ends the watch with the reason it was not available.

use std::time::Duration;

use canopy_sandbox::SIMULATE_ANNOTATION;
use canopy_server::deploy::{
    diagnose::ProblemKind,
    render::RenderedService,
    rollout::{watch_rollout, RolloutEnd, RolloutError, RolloutSnapshot, RolloutStatus},
};

use crate::support::{with_team, TestTeam, WAIT};

/// Puts the simulator's `canopy.dev/simulate` annotation on the pod template.
pub fn simulate(rendered: &mut RenderedService, outcome: &str) {
    let template = &mut rendered
        .deployment
        .spec
        .as_mut()
        .expect("a Deployment spec")
        .template;
    template
        .metadata
        .get_or_insert_with(Default::default)
        .annotations
        .get_or_insert_with(Default::default)
        .insert(SIMULATE_ANNOTATION.to_owned(), outcome.to_owned());
}

/// Watches `name` in the team's namespace, collecting every snapshot.
async fn watch(
    team: &TestTeam,
    name: &str,
    timeout: Duration,
) -> (
    canopy_server::deploy::rollout::RolloutOutcome,
    Vec<RolloutSnapshot>,
) {
    let mut seen = Vec::new();
    let outcome = watch_rollout(&team.client, &team.namespace(), name, timeout, |snapshot| {
        seen.push(snapshot)
    })
    .await
    .unwrap_or_else(|err| panic!("watching {name} failed: {err}"));
    (outcome, seen)
}

#[tokio::test]
async fn a_healthy_rollout_is_watched_until_available() {
    with_team("ro-ok", |team| async move {
        let spec = team.spec("web", |raw| raw.replicas = Some(3));
        team.apply(&team.render(&spec, 1).await).await;

        let (outcome, seen) = watch(&team, "web", WAIT).await;

        assert_eq!(outcome.end, RolloutEnd::Available, "{seen:#?}");
        assert_eq!(outcome.failure_reason(), None);
        assert!(
            seen.iter()
                .any(|s| matches!(s.status, RolloutStatus::Progressing { .. })),
            "progress was reported on the way: {seen:#?}"
        );
        let last = outcome.last.expect("a last snapshot");
        assert_eq!(last.status, RolloutStatus::Available { replicas: 3 });
        assert_eq!(last.revision, Some(1));
        assert_eq!(last.pods.len(), 3);
        assert!(last
            .pods
            .iter()
            .all(|p| p.ready && p.new_version && p.state == "Running"));
        assert!(last.problems.is_empty());
        assert_eq!(seen.last(), Some(&last));
    })
    .await;
}

#[tokio::test]
async fn an_update_is_watched_to_the_new_revision() {
    with_team("ro-update", |team| async move {
        let v1 = team.spec("web", |_| {});
        team.apply(&team.render(&v1, 1).await).await;
        assert_eq!(watch(&team, "web", WAIT).await.0.end, RolloutEnd::Available);

        let v2 = team.spec("web", |raw| raw.image = "ghcr.io/acme/web:1.1.0".to_owned());
        team.apply(&team.render(&v2, 2).await).await;
        let (outcome, _) = watch(&team, "web", WAIT).await;

        assert_eq!(outcome.end, RolloutEnd::Available);
        let last = outcome.last.unwrap();
        assert_eq!(last.revision, Some(2));
        assert!(
            last.pods
                .iter()
                .filter(|p| p.state != "Terminating")
                .all(|p| p.new_version),
            "{:#?}",
            last.pods
        );
    })
    .await;
}

#[tokio::test]
async fn watching_a_deployment_that_does_not_exist_is_an_error() {
    with_team("ro-missing", |team| async move {
        let result = watch_rollout(
            &team.client,
            &team.namespace(),
            "nothing-here",
            Duration::from_secs(5),
            |_| {},
        )
        .await;
        assert!(
            matches!(result, Err(RolloutError::NotFound { .. })),
            "{result:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_timeout_ends_the_watch_with_the_reason() {
    with_team("ro-timeout", |team| async move {
        let spec = team.spec("web", |raw| raw.replicas = Some(1));
        let mut rendered = team.render(&spec, 1).await;
        simulate(&mut rendered, "readiness-fail");
        team.apply(&rendered).await;

        let (outcome, seen) = watch(&team, "web", Duration::from_secs(12)).await;

        assert_eq!(outcome.end, RolloutEnd::TimedOut, "{seen:#?}");
        let reason = outcome.failure_reason().unwrap();
        assert!(reason.starts_with("not available after 12 s"), "{reason}");
        let last = outcome.last.unwrap();
        assert_eq!(
            last.problems.first().map(|p| p.kind),
            Some(ProblemKind::ReadinessFailing),
            "{last:#?}"
        );
        assert!(reason.contains("The health check is failing"), "{reason}");
    })
    .await;
}
