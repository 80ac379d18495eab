//! Against the real control plane: every simulated failure shows up in pod status with the
//! container state and reason a real kubelet would report, and crash loops keep logs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use canopy_sandbox::{nodes::NODE_POOL_LABEL, LogKey, SimulatorConfig, SIMULATE_ANNOTATION};
use common::{api_logs, in_namespace, simulator_logs, wait_until, TestNamespace};
use k8s_openapi::api::core::v1::{Container, ContainerStatus, Pod, PodSpec};
use kube::api::{LogParams, ObjectMeta, PostParams};

/// Creates a one-container pod on this binary's simulated nodes.
async fn create_pod(ns: &TestNamespace, name: &str, image: &str, simulate: Option<&str>) {
    let pod = Pod {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            annotations: simulate
                .map(|value| [(SIMULATE_ANNOTATION.to_owned(), value.to_owned())].into()),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "app".to_owned(),
                image: Some(image.to_owned()),
                ..Container::default()
            }],
            // Deleted at once with the namespace: these tests are not about termination.
            termination_grace_period_seconds: Some(0),
            node_selector: Some(
                [(
                    NODE_POOL_LABEL.to_owned(),
                    SimulatorConfig::for_tests().node_prefix,
                )]
                .into(),
            ),
            ..PodSpec::default()
        }),
        ..Pod::default()
    };
    ns.api::<Pod>()
        .create(&PostParams::default(), &pod)
        .await
        .unwrap();
}

fn container(pod: Option<&Pod>) -> Option<&ContainerStatus> {
    pod?.status.as_ref()?.container_statuses.as_ref()?.first()
}

fn waiting_reason(pod: Option<&Pod>) -> Option<&str> {
    container(pod)?
        .state
        .as_ref()?
        .waiting
        .as_ref()?
        .reason
        .as_deref()
}

fn condition<'a>(pod: &'a Pod, type_: &str) -> Option<&'a str> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.status.as_str())
}

async fn pull_failure(prefix: &str, image: &str, simulate: Option<&str>, reason: &'static str) {
    in_namespace(prefix, |ns| async move {
        create_pod(&ns, "app", image, simulate).await;
        let pods = ns.api::<Pod>();
        let pod = wait_until(&pods, "app", reason, move |pod: Option<&Pod>| {
            waiting_reason(pod) == Some(reason)
        })
        .await;
        let status = pod.status.as_ref().unwrap();
        assert_eq!(status.phase.as_deref(), Some("Pending"));
        let message = container(Some(&pod))
            .unwrap()
            .state
            .as_ref()
            .unwrap()
            .waiting
            .as_ref()
            .unwrap()
            .message
            .clone();
        assert!(message.unwrap_or_default().contains(image));
        assert_eq!(condition(&pod, "Ready"), Some("False"));
        // The container never started: no logs.
        assert_eq!(
            simulator_logs().lines(&LogKey::new(&ns.name, "app", "app"), false),
            None
        );
    })
    .await;
}

#[tokio::test]
async fn image_pull_backoff_by_annotation() {
    pull_failure(
        "pull-backoff",
        "acme/api:1.0",
        Some("image-pull-backoff"),
        "ImagePullBackOff",
    )
    .await;
}

#[tokio::test]
async fn err_image_pull_by_annotation() {
    pull_failure(
        "err-pull",
        "acme/api:1.0",
        Some("err-image-pull"),
        "ErrImagePull",
    )
    .await;
}

#[tokio::test]
async fn a_missing_image_tag_gives_image_pull_backoff() {
    pull_failure(
        "missing-tag",
        "nginx:doesnotexist",
        None,
        "ImagePullBackOff",
    )
    .await;
}

#[tokio::test]
async fn an_unreachable_registry_gives_err_image_pull() {
    pull_failure(
        "bad-registry",
        "registry.invalid/acme/api:1.0",
        None,
        "ErrImagePull",
    )
    .await;
}

#[tokio::test]
async fn a_crash_loop_reports_exit_code_message_and_restarts() {
    in_namespace("crash-loop", |ns| async move {
        create_pod(&ns, "app", "acme/api:1.0", Some("crash-loop")).await;
        let pods = ns.api::<Pod>();
        let pod = wait_until(&pods, "app", "it has crashed twice", |pod: Option<&Pod>| {
            waiting_reason(pod) == Some("CrashLoopBackOff")
                && container(pod).is_some_and(|c| c.restart_count >= 2)
        })
        .await;
        assert_eq!(
            pod.status.as_ref().unwrap().phase.as_deref(),
            Some("Running")
        );
        assert_eq!(condition(&pod, "Ready"), Some("False"));
        let status = container(Some(&pod)).unwrap();
        assert!(!status.ready);
        let terminated = status
            .last_state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap();
        assert_eq!(terminated.exit_code, 1);
        assert_eq!(terminated.reason.as_deref(), Some("Error"));
        let message = terminated.message.clone().unwrap_or_default();
        assert!(message.contains("exiting with status 1"), "{message}");

        // The previous instance's log ends with the lines before the crash, in the store and
        // through the API server (`kubectl logs --previous`).
        let params = LogParams {
            previous: true,
            tail_lines: Some(1),
            ..LogParams::default()
        };
        let last = api_logs(&pods, "app", &params, "exiting with status 1").await;
        assert_eq!(last.lines().count(), 1, "{last}");
        let key = LogKey::new(&ns.name, "app", "app");
        let previous = simulator_logs()
            .lines(&key, true)
            .expect("logs of the previous instance");
        assert!(
            previous.last().unwrap().contains("exiting with status 1"),
            "{previous:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn an_oom_kill_reports_oomkilled_with_exit_code_137() {
    in_namespace("oom", |ns| async move {
        create_pod(&ns, "app", "acme/api:1.0", Some("oom-killed")).await;
        let pods = ns.api::<Pod>();
        let pod = wait_until(&pods, "app", "it was OOM-killed", |pod: Option<&Pod>| {
            container(pod)
                .and_then(|c| c.last_state.as_ref()?.terminated.as_ref())
                .is_some_and(|t| t.reason.as_deref() == Some("OOMKilled"))
        })
        .await;
        let status = container(Some(&pod)).unwrap();
        let terminated = status
            .last_state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap();
        assert_eq!(terminated.exit_code, 137);
        assert!(status.restart_count >= 1);
    })
    .await;
}

#[tokio::test]
async fn a_failing_readiness_probe_runs_but_is_not_ready() {
    in_namespace("unready", |ns| async move {
        create_pod(&ns, "app", "acme/api:readiness-fail", None).await;
        let pods = ns.api::<Pod>();
        let pod = wait_until(&pods, "app", "it runs", |pod: Option<&Pod>| {
            container(pod)
                .and_then(|c| c.state.as_ref()?.running.as_ref())
                .is_some()
        })
        .await;
        assert_eq!(
            pod.status.as_ref().unwrap().phase.as_deref(),
            Some("Running")
        );
        assert_eq!(condition(&pod, "Ready"), Some("False"));
        assert_eq!(condition(&pod, "ContainersReady"), Some("False"));
        let status = container(Some(&pod)).unwrap();
        assert!(!status.ready);
        assert_eq!(status.restart_count, 0);
    })
    .await;
}
