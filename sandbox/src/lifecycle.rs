//! One simulated pod's life on its node: `ContainerCreating`, then each container's outcome
//! (running and ready, a pull failure, a failing readiness probe), and for crashing containers
//! the restart loop with the kubelet's doubling back-off.

use std::{
    collections::HashMap,
    hash::{DefaultHasher, Hash, Hasher},
    sync::Arc,
    time::Duration,
};

use k8s_openapi::{
    api::core::v1::{Pod, PodCondition},
    jiff::{SignedDuration, Timestamp},
};
use kube::{
    api::{Patch, PatchParams},
    runtime::events::EventType,
    Api, ResourceExt,
};
use tracing::{debug, info, instrument, warn};

use crate::{
    config::MAX_CRASH_BACKOFF,
    kubelet::Context,
    logs::{instance_lines, termination_message, ContainerKey, ContainerLogs, LogContext},
    simulation::{outcomes_for_pod, Outcome, SIMULATE_ANNOTATION},
    status::{pod_status, ContainerPhase, Placement, SimContainer, Termination},
    Error, Result,
};

/// How long a crashing container runs before it exits again, at most.
const MAX_CRASH_LIFETIME: Duration = Duration::from_secs(2);

/// Runs a pod's simulation until it settles (or forever, for crash loops, until aborted).
#[instrument(skip_all, fields(namespace = pod.metadata.namespace.as_deref(), pod = pod.metadata.name.as_deref()))]
pub(crate) async fn simulate(ctx: Arc<Context>, pod: Pod, node_index: u32) {
    match PodSim::new(&ctx, pod, node_index) {
        Ok(mut sim) => match sim.run(&ctx).await {
            Ok(()) => {}
            Err(err) if err.is_not_found() => debug!("pod is gone"),
            Err(err) => warn!(error = %err, "pod simulation stopped"),
        },
        Err(err) => warn!(error = %err, "cannot simulate pod"),
    }
}

/// A container under simulation.
struct SimulatedContainer {
    sim: SimContainer,
    outcome: Outcome,
    port: Option<i32>,
}

struct PodSim {
    pod: Pod,
    api: Api<Pod>,
    namespace: String,
    name: String,
    uid: String,
    placement: Placement,
    init_containers: Vec<(String, String)>,
    containers: Vec<SimulatedContainer>,
    conditions: Vec<PodCondition>,
}

impl PodSim {
    fn new(ctx: &Context, pod: Pod, node_index: u32) -> Result<Self> {
        let namespace = pod.namespace().ok_or(Error::IncompletePod("namespace"))?;
        let name = pod
            .metadata
            .name
            .clone()
            .ok_or(Error::IncompletePod("name"))?;
        let uid = pod.uid().ok_or(Error::IncompletePod("uid"))?;
        let (outcomes, unknown) = outcomes_for_pod(&pod);
        if let Some(value) = unknown {
            let known: Vec<&str> = Outcome::ALL
                .iter()
                .map(|outcome| outcome.as_str())
                .collect();
            warn!(value, known = ?known, "unknown {SIMULATE_ANNOTATION} value: the pod runs normally");
        }
        let spec = pod.spec.clone().unwrap_or_default();
        let status = pod.status.clone().unwrap_or_default();
        let ports = spec.containers.iter().map(|c| {
            c.ports
                .as_ref()
                .and_then(|ports| ports.first())
                .map(|port| port.container_port)
        });
        let containers = outcomes
            .into_iter()
            .zip(ports)
            .map(|((name, image, outcome), port)| SimulatedContainer {
                sim: SimContainer {
                    name,
                    image,
                    phase: ContainerPhase::Creating,
                },
                outcome,
                port,
            })
            .collect();
        let init_containers = spec
            .init_containers
            .unwrap_or_default()
            .into_iter()
            .map(|c| (c.name, c.image.unwrap_or_default()))
            .collect();
        // A pod this simulator already ran before a restart keeps its address and start time.
        let placement = Placement {
            host_ip: crate::nodes::NODE_ADDRESS.to_owned(),
            pod_ip: status
                .pod_ip
                .clone()
                .unwrap_or_else(|| Context::pod_ip(node_index, &uid)),
            start_time: status
                .start_time
                .as_ref()
                .map_or_else(Timestamp::now, |time| time.0),
        };
        Ok(Self {
            api: Api::namespaced(ctx.client.clone(), &namespace),
            namespace,
            name,
            uid,
            placement,
            init_containers,
            containers,
            conditions: status.conditions.unwrap_or_default(),
            pod,
        })
    }

    async fn run(&mut self, ctx: &Context) -> Result<()> {
        let previous = self
            .pod
            .status
            .as_ref()
            .and_then(|status| status.container_statuses.clone())
            .unwrap_or_default();
        if previous.is_empty() {
            let delay = jittered(ctx.config.start_delay, &self.uid);
            tokio::time::sleep(delay.mul_f64(0.4)).await;
            self.patch().await?;
            tokio::time::sleep(delay.mul_f64(0.6)).await;
            self.start_containers(ctx, &HashMap::new()).await?;
        } else {
            // Taken over after a simulator restart: same outcome, restart counts carried on.
            let restarts = previous
                .iter()
                .map(|c| (c.name.clone(), c.restart_count))
                .collect();
            self.start_containers(ctx, &restarts).await?;
        }
        info!(outcomes = ?self.containers.iter().map(|c| c.outcome.as_str()).collect::<Vec<_>>(), "pod simulated");
        if self.containers.iter().any(|c| c.outcome.is_restarting()) {
            self.crash_loop(ctx).await?;
        }
        Ok(())
    }

    /// Moves every container to its outcome's first state and writes its logs.
    async fn start_containers(
        &mut self,
        ctx: &Context,
        restarts: &HashMap<String, i32>,
    ) -> Result<()> {
        let now = Timestamp::now();
        let mut events = Vec::new();
        for container in &mut self.containers {
            let image = container.sim.image.clone();
            let key = ContainerKey::new(&self.namespace, &self.name, &container.sim.name);
            let restart_count = restarts.get(&container.sim.name).copied().unwrap_or(0);
            let started_at = now - SignedDuration::from_millis(800);
            let lines = instance_lines(&LogContext {
                container: &container.sim.name,
                image: &image,
                port: container.port,
                outcome: container.outcome,
                started_at,
            });
            if !lines.is_empty() && !ctx.logs.contains(&key) {
                ctx.logs.set(
                    key.clone(),
                    ContainerLogs {
                        current: lines.clone(),
                        previous: None,
                    },
                );
            }
            container.sim.phase = match container.outcome {
                Outcome::Healthy | Outcome::ReadinessFail => {
                    let ready = container.outcome == Outcome::Healthy;
                    events.push((
                        EventType::Normal,
                        "Pulled",
                        format!("Container image \"{image}\" already present on machine"),
                    ));
                    events.push((
                        EventType::Normal,
                        "Started",
                        format!("Started container {}", container.sim.name),
                    ));
                    if !ready {
                        events.push((
                            EventType::Warning,
                            "Unhealthy",
                            "Readiness probe failed: HTTP probe failed with statuscode: 503"
                                .to_owned(),
                        ));
                    }
                    ContainerPhase::Running {
                        started_at: now,
                        ready,
                        restart_count,
                        last: None,
                    }
                }
                Outcome::ImagePullBackOff => {
                    events.push((EventType::Warning, "Failed", pull_error(&image)));
                    events.push((
                        EventType::Normal,
                        "BackOff",
                        format!("Back-off pulling image \"{image}\""),
                    ));
                    ContainerPhase::Waiting {
                        reason: "ImagePullBackOff",
                        message: format!("Back-off pulling image \"{image}\""),
                    }
                }
                Outcome::ErrImagePull => {
                    events.push((EventType::Warning, "Failed", pull_error(&image)));
                    ContainerPhase::Waiting {
                        reason: "ErrImagePull",
                        message: pull_error(&image),
                    }
                }
                Outcome::CrashLoop | Outcome::OomKilled => {
                    let last = termination(container.outcome, &lines, started_at, now);
                    events.push((
                        EventType::Warning,
                        "BackOff",
                        "Back-off restarting failed container".to_owned(),
                    ));
                    let restart_count = restart_count.max(1);
                    let message = backoff_message(
                        ctx.config.crash_backoff,
                        &container.sim.name,
                        &self.name,
                        &self.namespace,
                        &self.uid,
                    );
                    ContainerPhase::BackOff {
                        message,
                        restart_count,
                        last,
                    }
                }
            };
        }
        self.patch().await?;
        for (type_, reason, note) in events {
            ctx.event(&self.pod, type_, reason, note).await;
        }
        Ok(())
    }

    /// Restarts crashing containers after a back-off that doubles (capped at 5 minutes); each
    /// new instance runs briefly, writes its logs, and exits the same way again.
    async fn crash_loop(&mut self, ctx: &Context) -> Result<()> {
        let mut backoff = ctx.config.crash_backoff;
        loop {
            tokio::time::sleep(backoff).await;
            let started_at = Timestamp::now();
            for container in self
                .containers
                .iter_mut()
                .filter(|c| c.outcome.is_restarting())
            {
                if let ContainerPhase::BackOff {
                    restart_count,
                    last,
                    ..
                } = &container.sim.phase
                {
                    let (restart_count, last) = (*restart_count, last.clone());
                    container.sim.phase = ContainerPhase::Running {
                        started_at,
                        ready: false,
                        restart_count,
                        last: Some(last),
                    };
                    let lines = instance_lines(&LogContext {
                        container: &container.sim.name,
                        image: &container.sim.image,
                        port: container.port,
                        outcome: container.outcome,
                        started_at,
                    });
                    ctx.logs.start_instance(
                        ContainerKey::new(&self.namespace, &self.name, &container.sim.name),
                        lines,
                    );
                }
            }
            self.patch().await?;
            tokio::time::sleep(backoff.div_f64(4.0).min(MAX_CRASH_LIFETIME)).await;
            backoff = (backoff * 2).min(MAX_CRASH_BACKOFF);
            let finished_at = Timestamp::now();
            for container in self
                .containers
                .iter_mut()
                .filter(|c| c.outcome.is_restarting())
            {
                if let ContainerPhase::Running { restart_count, .. } = container.sim.phase {
                    let key = ContainerKey::new(&self.namespace, &self.name, &container.sim.name);
                    let lines = ctx.logs.lines(&key, false).unwrap_or_default();
                    let last = termination(container.outcome, &lines, started_at, finished_at);
                    let message = backoff_message(
                        backoff,
                        &container.sim.name,
                        &self.name,
                        &self.namespace,
                        &self.uid,
                    );
                    container.sim.phase = ContainerPhase::BackOff {
                        message,
                        restart_count: restart_count + 1,
                        last,
                    };
                }
            }
            self.patch().await?;
            ctx.event(
                &self.pod,
                EventType::Warning,
                "BackOff",
                "Back-off restarting failed container".to_owned(),
            )
            .await;
        }
    }

    /// Writes the current simulated state through the pod's status subresource.
    async fn patch(&mut self) -> Result<()> {
        let containers: Vec<SimContainer> = self.containers.iter().map(|c| c.sim.clone()).collect();
        let status = pod_status(
            &self.uid,
            &containers,
            &self.init_containers,
            &self.placement,
            &self.conditions,
            Timestamp::now(),
        );
        self.conditions = status.conditions.clone().unwrap_or_default();
        let patch = serde_json::json!({ "status": status });
        self.api
            .patch_status(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        Ok(())
    }
}

/// How an instance of a crashing container ended.
fn termination(
    outcome: Outcome,
    lines: &[String],
    started_at: Timestamp,
    finished_at: Timestamp,
) -> Termination {
    if outcome == Outcome::OomKilled {
        Termination {
            exit_code: 137,
            reason: "OOMKilled",
            message: String::new(),
            started_at,
            finished_at,
        }
    } else {
        Termination {
            exit_code: 1,
            reason: "Error",
            message: termination_message(lines),
            started_at,
            finished_at,
        }
    }
}

fn backoff_message(
    backoff: Duration,
    container: &str,
    pod: &str,
    namespace: &str,
    uid: &str,
) -> String {
    let secs = backoff.as_secs();
    let human = if secs >= 60 {
        format!("{}m{}s", secs / 60, secs % 60)
    } else {
        format!("{secs}s")
    };
    format!("back-off {human} restarting failed container={container} pod={pod}_{namespace}({uid})")
}

/// The message containerd gives for an image that cannot be pulled.
fn pull_error(image: &str) -> String {
    let host = image
        .split('/')
        .next()
        .filter(|first| first.contains('.') && image.contains('/'));
    match host {
        Some(host) if host.split(':').next().is_some_and(|name| name.ends_with(".invalid")) => {
            let name = host.split(':').next().unwrap_or(host);
            format!("Failed to pull image \"{image}\": rpc error: code = Unknown desc = failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": failed to do request: Head \"https://{host}/v2/\": dial tcp: lookup {name}: no such host")
        }
        _ => format!("Failed to pull image \"{image}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": {image}: not found"),
    }
}

/// Between 2/3 and 4/3 of `delay`, stable for a pod.
fn jittered(delay: Duration, uid: &str) -> Duration {
    let mut hasher = DefaultHasher::new();
    uid.hash(&mut hasher);
    let fraction = (hasher.finish() % 1000) as f64 / 1000.0;
    delay.mul_f64(2.0 / 3.0 + fraction * 2.0 / 3.0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn jitter_stays_within_a_third_of_the_delay() {
        for uid in ["a", "b", "c", "0c6b0e8e-9d1f-4c6e-8f57-2a3f1f1d9c11"] {
            let delay = jittered(Duration::from_millis(1500), uid);
            assert!(
                delay >= Duration::from_millis(1000) && delay <= Duration::from_millis(2000),
                "{delay:?}"
            );
            assert_eq!(delay, jittered(Duration::from_millis(1500), uid));
        }
    }

    #[test]
    fn pull_errors_read_like_containerd() {
        assert!(pull_error("nginx:doesnotexist").ends_with("nginx:doesnotexist: not found"));
        assert!(
            pull_error("registry.invalid/app:1").contains("lookup registry.invalid: no such host")
        );
    }

    #[test]
    fn backoff_messages_name_the_container_and_pod() {
        let message = backoff_message(Duration::from_secs(80), "api", "web-1", "team-dev", "u1");
        assert_eq!(
            message,
            "back-off 1m20s restarting failed container=api pod=web-1_team-dev(u1)"
        );
    }

    #[test]
    fn oom_kills_exit_with_137() {
        let now = Timestamp::UNIX_EPOCH;
        let end = termination(Outcome::OomKilled, &[], now, now);
        assert_eq!((end.exit_code, end.reason), (137, "OOMKilled"));
        let end = termination(
            Outcome::CrashLoop,
            &["a".into(), "b".into(), "fatal".into()],
            now,
            now,
        );
        assert_eq!((end.exit_code, end.message.as_str()), (1, "b\nfatal"));
    }
}
