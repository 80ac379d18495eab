#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use super::{
    fixtures::deployment, judge, RolloutEnd, RolloutOutcome, RolloutSnapshot, RolloutStatus,
};
use crate::deploy::diagnose::{Diagnosis, ProblemKind};

#[test]
fn a_change_the_controller_has_not_seen_is_pending() {
    let d = deployment("web")
        .wanting(2)
        .with_counts(2, 2, 2, 2)
        .rolled_out()
        .changed_but_not_observed()
        .build();
    assert_eq!(judge(&d), RolloutStatus::Pending);
}

#[test]
fn fewer_updated_than_desired_is_progressing() {
    let d = deployment("web").wanting(3).with_counts(1, 1, 0, 1).build();
    let status = judge(&d);
    assert_eq!(
        status,
        RolloutStatus::Progressing {
            updated: 1,
            ready: 1,
            available: 0,
            desired: 3,
            old: 0
        }
    );
    assert_eq!(status.message(), "1 of 3 pods are on the new version…");
}

#[test]
fn old_pods_still_running_keep_it_progressing() {
    let d = deployment("web").wanting(2).with_counts(2, 3, 2, 3).build();
    let status = judge(&d);
    assert!(
        matches!(status, RolloutStatus::Progressing { old: 1, .. }),
        "{status:?}"
    );
    assert!(status.message().contains("1 old pod(s) are stopping"));
}

#[test]
fn updated_but_not_yet_available_is_progressing() {
    let d = deployment("web").wanting(2).with_counts(2, 1, 1, 2).build();
    let status = judge(&d);
    assert!(matches!(
        status,
        RolloutStatus::Progressing {
            available: 1,
            desired: 2,
            ..
        }
    ));
    assert_eq!(status.message(), "1 of 2 new pods are ready…");
}

#[test]
fn every_pod_updated_and_available_is_available() {
    let d = deployment("web")
        .wanting(2)
        .with_counts(2, 2, 2, 2)
        .rolled_out()
        .build();
    let status = judge(&d);
    assert_eq!(status, RolloutStatus::Available { replicas: 2 });
    assert!(status.is_finished());
    assert_eq!(status.message(), "Running: 2 of 2 pods ready");
}

#[test]
fn an_available_condition_that_is_false_is_not_available_yet() {
    let d = deployment("web")
        .wanting(2)
        .with_counts(2, 2, 2, 2)
        .unavailable()
        .build();
    assert!(matches!(judge(&d), RolloutStatus::Progressing { .. }));
}

#[test]
fn a_passed_progress_deadline_is_a_failure_whatever_the_counts() {
    let d = deployment("web")
        .wanting(2)
        .with_counts(1, 0, 0, 2)
        .past_deadline()
        .build();
    match judge(&d) {
        RolloutStatus::Failed { reason } => {
            assert!(reason.contains("180 seconds"), "{reason}");
            assert!(reason.contains("progress deadline"), "{reason}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn a_deployment_without_a_status_is_progressing_from_zero() {
    let mut d = deployment("web").wanting(1).build();
    d.status = None;
    d.metadata.generation = None;
    assert!(matches!(
        judge(&d),
        RolloutStatus::Progressing {
            updated: 0,
            desired: 1,
            ..
        }
    ));
}

fn snapshot(status: RolloutStatus, problems: Vec<Diagnosis>) -> RolloutSnapshot {
    RolloutSnapshot {
        status,
        revision: Some(2),
        pods: Vec::new(),
        problems,
    }
}

#[test]
fn the_failure_reason_is_the_first_problem_or_the_status() {
    let crash = Diagnosis {
        kind: ProblemKind::CrashLoop,
        title: "The container keeps crashing".to_owned(),
        detail: "exit code 1".to_owned(),
        hint: "read the log".to_owned(),
    };
    let failed = RolloutOutcome {
        end: RolloutEnd::Failed,
        last: Some(snapshot(
            RolloutStatus::Failed {
                reason: "deadline".to_owned(),
            },
            vec![crash],
        )),
        elapsed: Duration::from_secs(200),
    };
    assert_eq!(
        failed.failure_reason().as_deref(),
        Some("The container keeps crashing: exit code 1")
    );

    let timed_out = RolloutOutcome {
        end: RolloutEnd::TimedOut,
        last: Some(snapshot(RolloutStatus::Pending, Vec::new())),
        elapsed: Duration::from_secs(30),
    };
    assert_eq!(
        timed_out.failure_reason().as_deref(),
        Some("not available after 30 s: Waiting for Kubernetes to pick up the change…")
    );

    let available = RolloutOutcome {
        end: RolloutEnd::Available,
        last: Some(snapshot(
            RolloutStatus::Available { replicas: 1 },
            Vec::new(),
        )),
        elapsed: Duration::from_secs(3),
    };
    assert_eq!(available.failure_reason(), None);
}
