//! Each failure the simulator can play (and the two the real scheduler and quota produce on
//! their own) comes out of a live rollout watch as its plain-language problem.

use std::pin::pin;

use canopy_server::deploy::{
    diagnose::{diagnose, Diagnosis, ProblemKind},
    render::{RenderSettings, RenderedService},
    rollout::{rollout_snapshots, watch_rollout, RolloutEnd, RolloutSnapshot, RolloutStatus},
    size::{Cpu, TeamQuota},
};
use futures::StreamExt;
use k8s_openapi::{api::core::v1::ResourceQuota, apimachinery::pkg::api::resource::Quantity};

use crate::{
    rollout::simulate,
    support::{wait_until, with_team, TestTeam, WAIT},
};

/// Watches `name` until a snapshot shows a problem of `kind` that satisfies `good_enough`;
/// fails with the last snapshot when none does within [`WAIT`].
async fn problem_of(
    team: &TestTeam,
    name: &str,
    kind: ProblemKind,
    good_enough: impl Fn(&Diagnosis) -> bool,
) -> (Diagnosis, RolloutSnapshot) {
    let mut snapshots = pin!(rollout_snapshots(
        team.client.clone(),
        &team.namespace(),
        name
    ));
    let mut last = None;
    let found = tokio::time::timeout(WAIT, async {
        while let Some(snapshot) = snapshots.next().await {
            let snapshot = snapshot.unwrap_or_else(|err| panic!("watching {name}: {err}"));
            if let Some(problem) = snapshot
                .problems
                .iter()
                .find(|p| p.kind == kind && good_enough(p))
            {
                return Some((problem.clone(), snapshot));
            }
            last = Some(snapshot);
        }
        None
    })
    .await;
    match found {
        Ok(Some(found)) => found,
        _ => panic!("no {kind:?} problem for {name} within {WAIT:?}; last snapshot: {last:#?}"),
    }
}

/// Deploys service `web` (1 replica, size S) after `adjust` changed the rendered objects.
async fn deploy(team: &TestTeam, adjust: impl FnOnce(&mut RenderedService)) {
    let spec = team.spec("web", |raw| raw.replicas = Some(1));
    let mut rendered = team.render(&spec, 1).await;
    adjust(&mut rendered);
    team.apply(&rendered).await;
}

fn with_image(rendered: &mut RenderedService, image: &str) {
    let pod = rendered
        .deployment
        .spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap();
    pod.containers[0].image = Some(image.to_owned());
}

#[tokio::test]
async fn a_missing_tag_is_an_image_that_does_not_exist() {
    with_team("fail-tag", |team| async move {
        deploy(&team, |r| with_image(r, "ghcr.io/acme/web:doesnotexist")).await;
        // The pod's status says only "Back-off pulling image"; the kubelet's event that follows
        // says why, and the watch picks it up.
        let (problem, snapshot) = problem_of(&team, "web", ProblemKind::ImagePull, |p| {
            p.detail.contains("does not exist")
        })
        .await;
        assert_eq!(problem.title, "The image can't be pulled");
        assert!(
            problem.detail.contains("ghcr.io/acme/web:doesnotexist"),
            "{}",
            problem.detail
        );
        assert!(
            problem.detail.contains("does not exist"),
            "{}",
            problem.detail
        );
        assert!(matches!(snapshot.status, RolloutStatus::Progressing { .. }));
        assert_eq!(snapshot.pods[0].state, "ImagePullBackOff");
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_registry_is_named() {
    with_team("fail-host", |team| async move {
        deploy(&team, |r| with_image(r, "registry.invalid/acme/web:1")).await;
        let (problem, _) = problem_of(&team, "web", ProblemKind::ImagePull, |_| true).await;
        assert!(
            problem
                .detail
                .contains("the registry registry.invalid cannot be reached"),
            "{}",
            problem.detail
        );
    })
    .await;
}

#[tokio::test]
async fn a_crash_loop_shows_the_exit_code_and_the_previous_log() {
    with_team("fail-crash", |team| async move {
        deploy(&team, |r| simulate(r, "crash-loop")).await;
        let (problem, _) = problem_of(&team, "web", ProblemKind::CrashLoop, |p| {
            p.detail.contains("Last lines of its log:")
        })
        .await;
        assert_eq!(problem.title, "The container keeps crashing");
        assert!(
            problem
                .detail
                .contains("exit code 1 (the app reported an error)"),
            "{}",
            problem.detail
        );
        let log = problem
            .detail
            .split("Last lines of its log:\n")
            .nth(1)
            .unwrap();
        assert!(!log.trim().is_empty(), "{}", problem.detail);

        // The same, asked once instead of watched.
        let problems = diagnose(&team.client, &team.namespace(), "web")
            .await
            .unwrap();
        assert_eq!(
            problems.first().map(|p| p.kind),
            Some(ProblemKind::CrashLoop)
        );
    })
    .await;
}

#[tokio::test]
async fn an_oom_kill_suggests_the_next_size() {
    with_team("fail-oom", |team| async move {
        deploy(&team, |r| simulate(r, "oom-killed")).await;
        let (problem, _) = problem_of(&team, "web", ProblemKind::OutOfMemory, |_| true).await;
        assert_eq!(problem.title, "The container runs out of memory");
        assert!(
            problem.detail.contains("256Mi memory limit (size S)"),
            "{}",
            problem.detail
        );
        assert!(
            problem.hint.starts_with("Choose size M (512Mi"),
            "{}",
            problem.hint
        );
    })
    .await;
}

#[tokio::test]
async fn a_failing_readiness_check_names_its_path_and_port() {
    with_team("fail-ready", |team| async move {
        deploy(&team, |r| simulate(r, "readiness-fail")).await;
        let (problem, snapshot) =
            problem_of(&team, "web", ProblemKind::ReadinessFailing, |_| true).await;
        assert_eq!(problem.title, "The health check is failing");
        assert!(
            problem.detail.contains("GET /healthz on port 8080"),
            "{}",
            problem.detail
        );
        assert!(
            problem.detail.contains("statuscode: 503"),
            "{}",
            problem.detail
        );
        assert!(!snapshot.pods[0].ready);
    })
    .await;
}

#[tokio::test]
async fn a_pod_bigger_than_any_node_is_unschedulable_with_the_schedulers_words() {
    with_team("fail-big", |team| async move {
        let spec = team.spec("web", |raw| raw.replicas = Some(1));
        let roomy = RenderSettings {
            quota: TeamQuota {
                requests_cpu: Cpu::cores(64),
                limits_cpu: Cpu::cores(64),
                ..TeamQuota::default()
            },
            ..RenderSettings::default()
        };
        let mut rendered = team.render_with(&spec, 1, &roomy).await;
        let pod = rendered
            .deployment
            .spec
            .as_mut()
            .unwrap()
            .template
            .spec
            .as_mut()
            .unwrap();
        let resources = pod.containers[0].resources.as_mut().unwrap();
        for amounts in [resources.requests.as_mut(), resources.limits.as_mut()]
            .into_iter()
            .flatten()
        {
            amounts.insert("cpu".to_owned(), Quantity("16".to_owned()));
        }
        team.apply(&rendered).await;

        let (problem, _) = problem_of(&team, "web", ProblemKind::Unschedulable, |_| true).await;
        assert_eq!(problem.title, "No node has room for this service");
        assert!(
            problem.detail.contains("Insufficient cpu"),
            "{}",
            problem.detail
        );
        assert!(problem.hint.contains("enough free cpu"), "{}", problem.hint);
    })
    .await;
}

#[tokio::test]
async fn a_used_up_quota_says_so() {
    with_team("fail-quota", |team| async move {
        // Size M asks for 250m CPU per pod: two fit in 500m, a third is refused. Admission
        // enforces a quota only once the quota controller has filled in its status, so the
        // service starts with one pod and is scaled up after that.
        let tight = RenderSettings {
            quota: TeamQuota {
                requests_cpu: Cpu(500),
                ..TeamQuota::default()
            },
            ..RenderSettings::default()
        };
        let sized = |replicas| {
            team.spec("web", |raw| {
                raw.size = "M".to_owned();
                raw.replicas = Some(replicas);
            })
        };
        team.apply(&team.render_with(&sized(1), 1, &tight).await)
            .await;
        wait_until(
            &team.api::<ResourceQuota>(),
            "canopy-team-quota",
            "the quota controller has filled in the quota's status",
            |quota: Option<&ResourceQuota>| {
                quota
                    .and_then(|q| q.status.as_ref()?.hard.as_ref())
                    .is_some()
            },
        )
        .await;
        team.apply(&team.render_with(&sized(3), 2, &tight).await)
            .await;

        let (problem, _) = problem_of(&team, "web", ProblemKind::QuotaExceeded, |_| true).await;
        assert_eq!(problem.title, "The team's quota is used up");
        assert!(
            problem.detail.contains("exceeded quota"),
            "{}",
            problem.detail
        );
        assert!(
            problem.detail.contains(&team.namespace()),
            "{}",
            problem.detail
        );
    })
    .await;
}

#[tokio::test]
async fn a_passed_progress_deadline_fails_the_rollout_after_its_cause() {
    with_team("fail-deadline", |team| async move {
        deploy(&team, |r| {
            simulate(r, "readiness-fail");
            r.deployment
                .spec
                .as_mut()
                .unwrap()
                .progress_deadline_seconds = Some(3);
        })
        .await;

        let outcome = watch_rollout(&team.client, &team.namespace(), "web", WAIT, |_| {})
            .await
            .unwrap();

        assert_eq!(outcome.end, RolloutEnd::Failed, "{outcome:#?}");
        let last = outcome.last.clone().unwrap();
        assert!(matches!(last.status, RolloutStatus::Failed { .. }));
        let kinds: Vec<_> = last.problems.iter().map(|p| p.kind).collect();
        assert_eq!(
            kinds,
            [ProblemKind::ReadinessFailing, ProblemKind::ProgressDeadline],
            "{last:#?}"
        );
        assert!(last.problems[1].detail.contains("3 seconds"));
        assert!(outcome
            .failure_reason()
            .unwrap()
            .starts_with("The health check is failing"));
    })
    .await;
}
