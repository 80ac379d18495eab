//! A deployed service's pods, events and container logs, read from the real control plane with
//! simulated pods (whose logs the simulator serves as the kubelet would).

use std::time::Duration;

use app::api::pods::LogRequest;
use canopy_server::deploy::{logs, pods::service_pods, DeployError};
use futures::StreamExt;
use k8s_openapi::{
    api::{apps::v1::Deployment, core::v1::Pod},
    jiff::Timestamp,
};
use kube::api::ListParams;

use crate::{
    rollout::simulate,
    support::{wait_until, with_team, TestTeam, WAIT},
};

/// Deploys `name` (after `adjust` on the rendered objects) with `replicas` pods.
async fn deploy(
    team: &TestTeam,
    name: &str,
    replicas: u16,
    adjust: impl FnOnce(&mut canopy_server::deploy::render::RenderedService),
) {
    let spec = team.spec(name, |raw| raw.replicas = Some(replicas));
    let mut rendered = team.render(&spec, 1).await;
    adjust(&mut rendered);
    team.apply(&rendered).await;
}

/// Waits until the Deployment has all its pods available.
async fn wait_available(team: &TestTeam, name: &str) {
    let available = |d: Option<&Deployment>| {
        d.and_then(|d| d.status.as_ref()).is_some_and(|s| {
            s.available_replicas.unwrap_or(0) > 0
                && s.available_replicas == s.replicas
                && s.updated_replicas == s.replicas
        })
    };
    wait_until(
        &team.api::<Deployment>(),
        name,
        "all pods are available",
        available,
    )
    .await;
}

/// The name of the first pod of service `name` (waiting for one to exist).
async fn first_pod(team: &TestTeam, name: &str) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let pods = team
            .api::<Pod>()
            .list(&ListParams::default().labels(&format!("canopy.dev/service={name}")))
            .await
            .unwrap();
        let mut names: Vec<String> = pods
            .items
            .into_iter()
            .filter_map(|p| p.metadata.name)
            .collect();
        names.sort();
        if let Some(first) = names.into_iter().next() {
            return first;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no pod of {name} after {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Retries a log read that fails because another test process's simulator (playing the same
/// nodes) just ended (docs/SANDBOX.md, "Limits").
/// Reads a log through the API server, trying again for a few seconds: with several test
/// processes simulating the same nodes, a node may for a moment name the log port of another
/// process, which does not know this pod's instances ("not found"). What persists is returned.
async fn read_log(team: &TestTeam, request: &LogRequest) -> Result<Vec<String>, DeployError> {
    let mut last = None;
    for _ in 0..5 {
        match logs::pod_log(&team.client, &team.namespace(), "web", request).await {
            Ok(log) if !log.lines.is_empty() => return Ok(log.lines),
            Ok(log) => last = Some(Ok(log.lines)),
            Err(error @ (DeployError::Kube(_) | DeployError::NotFound { .. })) => {
                last = Some(Err(error))
            }
            Err(error) => return Err(error),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    last.unwrap_or(Ok(Vec::new()))
}

#[tokio::test]
async fn running_pods_are_listed_with_their_events() {
    with_team("pods-list", |team| async move {
        deploy(&team, "web", 2, |_| {}).await;
        wait_available(&team, "web").await;

        let found = service_pods(&team.client, &team.namespace(), "web")
            .await
            .unwrap();

        assert!(found.cluster);
        assert_eq!(found.pods.len(), 2, "{:#?}", found.pods);
        for pod in &found.pods {
            assert_eq!(pod.phase, "Running", "{pod:#?}");
            assert_eq!(pod.status, "Running", "{pod:#?}");
            assert_eq!(pod.ready_text(), "1/1");
            assert_eq!(pod.restarts, 0);
            assert!(pod.healthy(), "{pod:#?}");
            assert!(pod.problem.is_none(), "{pod:#?}");
            assert_eq!(pod.revision, Some(1));
            assert!(pod.newest);
            assert_eq!(pod.containers, ["web"]);
            assert!(
                pod.node
                    .as_deref()
                    .is_some_and(|n| n.starts_with("canopy-test-sim-")),
                "{pod:#?}"
            );
            assert!(pod.age.ends_with('s'), "just created: {}", pod.age);
        }

        let events = &found.events;
        let has = |object_kind: &str, reason: &str| {
            events
                .iter()
                .any(|e| e.object.starts_with(&format!("{object_kind}/")) && e.reason == reason)
        };
        assert!(has("Deployment", "ScalingReplicaSet"), "{events:#?}");
        assert!(has("ReplicaSet", "SuccessfulCreate"), "{events:#?}");
        assert!(
            has("Pod", "Scheduled"),
            "the scheduler's events: {events:#?}"
        );
        assert!(
            has("Pod", "Started"),
            "the simulated kubelet's events: {events:#?}"
        );
        let scheduled = events.iter().find(|e| e.reason == "Scheduled").unwrap();
        assert_eq!(scheduled.kind, "Normal");
        assert!(
            scheduled.message.contains("Successfully assigned"),
            "{scheduled:#?}"
        );
        let times: Vec<Timestamp> = events
            .iter()
            .map(|e| e.last_seen.as_deref().unwrap().parse().unwrap())
            .collect();
        let mut newest_first = times.clone();
        newest_first.sort_by(|a, b| b.cmp(a));
        assert_eq!(times, newest_first, "events are newest first");
    })
    .await;
}

#[tokio::test]
async fn logs_show_the_simulated_lines_and_say_when_there_is_no_previous_container() {
    with_team("pods-logs", |team| async move {
        deploy(&team, "web", 1, |_| {}).await;
        wait_available(&team, "web").await;
        let pod = first_pod(&team, "web").await;
        let request = LogRequest {
            pod: pod.clone(),
            container: None,
            tail_lines: 100,
            previous: false,
        };

        let lines = read_log(&team, &request).await.unwrap();
        assert!(
            lines[0].contains("INFO  starting web (image ghcr.io/acme/web:1.0.0)"),
            "{lines:#?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("listening on 0.0.0.0:8080")),
            "{lines:#?}"
        );

        let two = read_log(
            &team,
            &LogRequest {
                tail_lines: 2,
                ..request.clone()
            },
        )
        .await
        .unwrap();
        assert_eq!(two.len(), 2, "{two:#?}");

        let previous = logs::pod_log(
            &team.client,
            &team.namespace(),
            "web",
            &LogRequest {
                previous: true,
                ..request.clone()
            },
        )
        .await;
        match previous {
            Err(DeployError::NotFound { what }) => {
                assert!(what.contains("it has not restarted"), "{what}")
            }
            other => panic!("expected a clear 'no previous container', got {other:?}"),
        }

        let wrong_container = logs::pod_log(
            &team.client,
            &team.namespace(),
            "web",
            &LogRequest {
                container: Some("sidecar".to_owned()),
                ..request
            },
        )
        .await;
        match wrong_container {
            Err(DeployError::NotFound { what }) => {
                assert!(what.contains("its containers: web"), "{what}")
            }
            other => panic!("expected 'no such container', got {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn a_crash_looping_container_shows_its_previous_log() {
    with_team("pods-crash", |team| async move {
        deploy(&team, "web", 1, |r| simulate(r, "crash-loop")).await;
        let restarted = |pod: Option<&Pod>| {
            pod.and_then(|p| p.status.as_ref())
                .and_then(|s| s.container_statuses.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.restart_count > 0))
        };
        let pod = first_pod(&team, "web").await;
        wait_until(
            &team.api::<Pod>(),
            &pod,
            "the container restarted",
            restarted,
        )
        .await;

        let found = service_pods(&team.client, &team.namespace(), "web")
            .await
            .unwrap();
        let listed = found.pods.iter().find(|p| p.name == pod).unwrap();
        assert!(listed.restarts > 0, "{listed:#?}");
        assert!(!listed.healthy());
        let problem = listed.problem.as_ref().expect("a problem is shown");
        assert_eq!(
            problem.title, "The container keeps crashing",
            "{problem:#?}"
        );
        assert!(problem.detail.contains("exit code 1"), "{problem:#?}");

        let previous = read_log(
            &team,
            &LogRequest {
                pod: pod.clone(),
                container: Some("web".to_owned()),
                tail_lines: 100,
                previous: true,
            },
        )
        .await
        .unwrap();
        assert!(
            previous
                .last()
                .is_some_and(|l| l
                    .ends_with("fatal: cannot start without a database, exiting with status 1")),
            "{previous:#?}"
        );
        // The kubelet reports the restart and posts its BackOff event separately (the status
        // can come first): the event must show up, within the usual wait.
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut events = found.events;
        while !events
            .iter()
            .any(|e| e.kind == "Warning" && e.reason == "BackOff")
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no BackOff warning among the events: {events:#?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
            events = service_pods(&team.client, &team.namespace(), "web")
                .await
                .unwrap()
                .events;
        }
    })
    .await;
}

#[tokio::test]
async fn follow_delivers_a_line_written_after_it_started() {
    with_team("pods-follow", |team| async move {
        deploy(&team, "web", 1, |_| {}).await;
        wait_available(&team, "web").await;
        let pod = first_pod(&team, "web").await;
        let source = logs::source(&team.client, &team.namespace(), "web", &pod, None)
            .await
            .unwrap();
        // The simulator for tests writes a health-check line every second.
        let mut found = None;
        for _attempt in 0..3 {
            let started = Timestamp::now();
            let lines = match source.follow(&team.client, 1).await {
                Ok(lines) => lines,
                // The simulator whose log port the node reports just ended: try again.
                Err(DeployError::Kube(_)) => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                Err(error) => panic!("follow refused: {error}"),
            };
            let mut lines = Box::pin(lines);
            let new_line = tokio::time::timeout(WAIT, async {
                while let Some(line) = lines.next().await {
                    let Ok(line) = line else { return None };
                    let time: Option<Timestamp> =
                        line.split(' ').next().and_then(|t| t.parse().ok());
                    if time.is_some_and(|t| t > started) {
                        return Some(line);
                    }
                }
                None
            })
            .await
            .expect("no new line within the wait");
            if new_line.is_some() {
                found = new_line;
                break;
            }
            // The stream ended (the simulator serving it belonged to a test process that
            // ended): follow again.
        }
        let line = found.expect("a line written after the follow started");
        assert!(line.contains("GET /healthz 200 OK"), "{line}");
    })
    .await;
}

#[tokio::test]
async fn a_pod_of_another_service_is_not_found() {
    with_team("pods-other", |team| async move {
        deploy(&team, "web", 1, |_| {}).await;
        deploy(&team, "api", 1, |_| {}).await;
        wait_available(&team, "api").await;
        let theirs = first_pod(&team, "api").await;

        for pod in [theirs.as_str(), "../secrets", "web-missing-12345"] {
            match logs::source(&team.client, &team.namespace(), "web", pod, None).await {
                Err(DeployError::NotFound { what }) => {
                    assert_eq!(what, format!("Pod {pod} of service web"))
                }
                other => panic!("{pod}: expected not found, got {other:?}"),
            }
        }
        let listed = service_pods(&team.client, &team.namespace(), "web")
            .await
            .unwrap();
        assert!(
            listed.pods.iter().all(|p| p.name.starts_with("web-")),
            "{:#?}",
            listed.pods
        );
    })
    .await;
}
