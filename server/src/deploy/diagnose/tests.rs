#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::{problems, Diagnosis, ProblemKind};
use crate::deploy::rollout::fixtures::{
    deployment, event, evidence, pod, refusing, replica_set, NAMESPACE,
};

/// The single problem of a one-pod rollout whose pod is `pod`.
fn only_problem(
    pod: crate::deploy::rollout::fixtures::PodFixture,
    events: Vec<k8s_openapi::api::core::v1::Event>,
    logs: &[(&str, &str)],
) -> Diagnosis {
    let d = deployment("web").build();
    let rs = replica_set(&d, 1);
    let mut e = evidence(d, vec![rs.clone()], vec![pod.of(&rs).build()]);
    e.events = events;
    for (pod, text) in logs {
        e.previous_logs
            .insert(((*pod).to_owned(), "web".to_owned()), (*text).to_owned());
    }
    let mut found = problems(&e);
    assert_eq!(found.len(), 1, "{found:#?}");
    found.remove(0)
}

#[test]
fn a_healthy_rollout_has_no_problems() {
    let d = deployment("web")
        .wanting(1)
        .with_counts(1, 1, 1, 1)
        .rolled_out()
        .build();
    let rs = replica_set(&d, 1);
    let e = evidence(
        d,
        vec![rs.clone()],
        vec![pod("web-1").of(&rs).running_and_ready().build()],
    );
    assert_eq!(problems(&e), Vec::new());
}

#[test]
fn a_missing_tag_says_the_image_does_not_exist() {
    let message = "Failed to pull image \"ghcr.io/acme/web:doesnotexist\": rpc error: code = \
                   NotFound desc = failed to pull and unpack image: ghcr.io/acme/web:doesnotexist: not found";
    let problem = only_problem(
        pod("web-1").waiting(
            "ImagePullBackOff",
            "Back-off pulling image \"ghcr.io/acme/web:1.0.0\"",
        ),
        vec![event("Pod", "web-1", "Failed", message)],
        &[],
    );
    assert_eq!(problem.kind, ProblemKind::ImagePull);
    assert_eq!(problem.title, "The image can't be pulled");
    assert!(
        problem.detail.contains("does not exist"),
        "{}",
        problem.detail
    );
    assert!(
        problem.detail.contains(message),
        "Kubernetes' words are kept"
    );
    assert!(problem.hint.contains("tag"), "{}", problem.hint);
}

#[test]
fn a_registry_that_wants_credentials_says_so() {
    let problem = only_problem(
        pod("web-1").waiting(
            "ErrImagePull",
            "failed to authorize: failed to fetch anonymous token: 401 Unauthorized",
        ),
        Vec::new(),
        &[],
    );
    assert!(
        problem.detail.contains("needs credentials"),
        "{}",
        problem.detail
    );
    assert!(problem.hint.contains("private"), "{}", problem.hint);
}

#[test]
fn an_unknown_registry_host_is_unreachable() {
    let problem = only_problem(
        pod("web-1").waiting(
            "ErrImagePull",
            "dial tcp: lookup registry.invalid: no such host",
        ),
        Vec::new(),
        &[],
    );
    assert!(
        problem.detail.contains("cannot be reached"),
        "{}",
        problem.detail
    );
}

#[test]
fn a_crash_loop_shows_the_exit_code_and_the_previous_log() {
    let problem = only_problem(
        pod("web-1").crashed(1, "Error", 4, "fatal: termination message"),
        Vec::new(),
        &[("web-1", "starting\nfatal: DATABASE_URL is not set")],
    );
    assert_eq!(problem.kind, ProblemKind::CrashLoop);
    assert_eq!(problem.title, "The container keeps crashing");
    assert!(problem.detail.contains("exit code 1"), "{}", problem.detail);
    assert!(problem.detail.contains("restarted 4 time(s)"));
    assert!(problem
        .detail
        .ends_with("Last lines of its log:\nstarting\nfatal: DATABASE_URL is not set"));
}

#[test]
fn without_a_readable_log_the_termination_message_stands_in() {
    let problem = only_problem(
        pod("web-1").crashed(127, "Error", 1, "exec: \"serve\": not found"),
        Vec::new(),
        &[],
    );
    assert!(
        problem.detail.contains("not found in the image"),
        "{}",
        problem.detail
    );
    assert!(problem.detail.ends_with("exec: \"serve\": not found"));
    assert!(problem.hint.contains("entrypoint"));
}

#[test]
fn an_oom_kill_suggests_the_next_size() {
    let problem = only_problem(
        pod("web-1")
            .with_memory_limit("256Mi")
            .crashed(137, "OOMKilled", 2, ""),
        Vec::new(),
        &[],
    );
    assert_eq!(problem.kind, ProblemKind::OutOfMemory);
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
}

#[test]
fn an_oom_kill_at_the_largest_size_asks_for_less_memory() {
    let problem = only_problem(
        pod("web-1")
            .with_memory_limit("2Gi")
            .crashed(137, "OOMKilled", 1, ""),
        Vec::new(),
        &[],
    );
    assert!(
        problem.hint.starts_with("XL is already the largest size"),
        "{}",
        problem.hint
    );
}

#[test]
fn an_unschedulable_pod_quotes_the_scheduler() {
    let message = "0/2 nodes are available: 2 Insufficient cpu.";
    let problem = only_problem(pod("web-1").unschedulable(message), Vec::new(), &[]);
    assert_eq!(problem.kind, ProblemKind::Unschedulable);
    assert!(problem.detail.contains(message), "{}", problem.detail);
    assert!(problem.hint.contains("enough free cpu"), "{}", problem.hint);
    assert!(problem.hint.contains("smaller size"), "{}", problem.hint);
}

#[test]
fn a_failing_readiness_check_names_path_and_port() {
    let problem = only_problem(
        pod("web-1").running_but_not_ready(),
        vec![event(
            "Pod",
            "web-1",
            "Unhealthy",
            "Readiness probe failed: HTTP probe failed with statuscode: 503",
        )],
        &[],
    );
    assert_eq!(problem.kind, ProblemKind::ReadinessFailing);
    assert!(
        problem.detail.contains("GET /healthz on port 8080"),
        "the named port is resolved: {}",
        problem.detail
    );
    assert!(problem
        .detail
        .contains("HTTP probe failed with statuscode: 503"));
    assert!(problem.hint.contains("/healthz"));
}

#[test]
fn a_tcp_readiness_check_names_the_port() {
    let d = deployment("web").with_tcp_probe().build();
    let rs = replica_set(&d, 1);
    let mut e = evidence(
        d,
        vec![rs.clone()],
        vec![pod("web-1").of(&rs).running_but_not_ready().build()],
    );
    e.events = vec![event(
        "Pod",
        "web-1",
        "Unhealthy",
        "Readiness probe failed: dial tcp 10.0.0.7:8080: connect: connection refused",
    )];
    let found = problems(&e);
    assert!(
        found[0].detail.contains("connect to port 8080"),
        "{found:#?}"
    );
}

#[test]
fn a_pod_that_is_just_starting_is_not_a_problem() {
    let problem_free = {
        let d = deployment("web").build();
        let rs = replica_set(&d, 1);
        evidence(
            d,
            vec![rs.clone()],
            vec![pod("web-1").of(&rs).running_but_not_ready().build()],
        )
    };
    assert!(problems(&problem_free).is_empty());
}

#[test]
fn an_exceeded_quota_says_the_team_quota_is_used_up() {
    let message = "pods \"web-1-x\" is forbidden: exceeded quota: canopy-team-quota, requested: \
                   requests.cpu=250m, used: requests.cpu=500m, limited: requests.cpu=500m";
    let d = deployment("web").wanting(3).build();
    let rs = refusing(replica_set(&d, 1), message);
    let e = evidence(d, vec![rs], Vec::new());
    let found = problems(&e);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].kind, ProblemKind::QuotaExceeded);
    assert!(found[0].detail.contains(NAMESPACE));
    assert!(found[0].detail.contains("requests.cpu=250m"));
    assert!(found[0].hint.contains("bigger quota"));
}

#[test]
fn other_refusals_are_reported_as_they_are() {
    let d = deployment("web")
        .refusing_pods("pods \"web-1-x\" is forbidden: violates PodSecurity")
        .build();
    let rs = replica_set(&d, 1);
    let found = problems(&evidence(d, vec![rs], Vec::new()));
    assert_eq!(found[0].kind, ProblemKind::PodsRefused);
    assert!(found[0].detail.contains("violates PodSecurity"));
}

#[test]
fn a_passed_deadline_comes_after_the_cause() {
    let d = deployment("web").at_revision(2).past_deadline().build();
    let old = replica_set(&d, 1);
    let new = replica_set(&d, 2);
    let e = evidence(
        d,
        vec![old.clone(), new.clone()],
        vec![
            pod("web-old").of(&old).running_and_ready().build(),
            pod("web-new")
                .of(&new)
                .crashed(1, "Error", 6, "boom")
                .build(),
        ],
    );
    let kinds: Vec<_> = problems(&e).iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds,
        [ProblemKind::CrashLoop, ProblemKind::ProgressDeadline]
    );
    let deadline = problems(&e).pop().unwrap();
    assert!(deadline.detail.contains("180 seconds"));
    assert!(deadline.hint.starts_with("Fix the problem shown above"));
}

#[test]
fn only_the_pods_of_the_newest_replica_set_count() {
    let d = deployment("web").at_revision(2).build();
    let old = replica_set(&d, 1);
    let new = replica_set(&d, 2);
    let e = evidence(
        d,
        vec![new.clone(), old.clone()],
        vec![
            pod("web-old")
                .of(&old)
                .crashed(1, "Error", 9, "old crash")
                .build(),
            pod("web-new").of(&new).running_and_ready().build(),
        ],
    );
    assert!(problems(&e).is_empty(), "{:#?}", problems(&e));
}

#[test]
fn one_problem_per_kind_says_how_many_pods_it_affects() {
    let d = deployment("web").wanting(3).build();
    let rs = replica_set(&d, 1);
    let e = evidence(
        d,
        vec![rs.clone()],
        vec![
            pod("web-a").of(&rs).crashed(1, "Error", 3, "x").build(),
            pod("web-b").of(&rs).crashed(1, "Error", 2, "x").build(),
            pod("web-c").of(&rs).running_and_ready().build(),
        ],
    );
    let found = problems(&e);
    assert_eq!(found.len(), 1);
    assert!(
        found[0].detail.contains("pod web-a"),
        "the first pod is the example"
    );
    assert!(found[0].detail.contains("time(s); Kubernetes waits longer before each restart. (2 of 3 new pods are affected.)\nLast lines"), "{}", found[0].detail);
}
