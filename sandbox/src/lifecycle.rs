//! One simulated pod's life on its node: `ContainerCreating`, then each container's outcome
//! (running and ready, a pull failure, a failing readiness probe), and for crashing containers
//! the restart loop with the kubelet's doubling back-off.

use std::{collections::HashMap, sync::Arc, time::Duration};

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
    context::Context,
    logs::{instance_lines, periodic_line, ContainerLogs, LogContext, LogKey},
    messages::{backoff_message, jittered, pull_error, termination},
    simulation::{outcomes_for_pod, Outcome, SIMULATE_ANNOTATION},
    status::{pod_status, ContainerPhase, Placement, SimContainer},
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
            // Taken over after a simulator restart: same outcome, restart counts and start
            // times carried on, no events repeated.
            let earlier = previous
                .iter()
                .map(|c| {
                    let running = c.state.as_ref().and_then(|state| state.running.as_ref());
                    let started_at = running.and_then(|r| r.started_at.as_ref()).map(|t| t.0);
                    (c.name.clone(), (c.restart_count, started_at))
                })
                .collect();
            self.start_containers(ctx, &earlier).await?;
        }
        info!(outcomes = ?self.containers.iter().map(|c| c.outcome.as_str()).collect::<Vec<_>>(), "pod simulated");
        if self.containers.iter().any(|c| c.outcome.is_restarting()) {
            self.crash_loop(ctx).await?;
        } else {
            self.keep_logging(ctx).await;
        }
        Ok(())
    }

    /// Running containers write a line now and then, until the pod's task is aborted.
    async fn keep_logging(&self, ctx: &Context) {
        if ctx.config.log_interval.is_zero() {
            return;
        }
        loop {
            tokio::time::sleep(ctx.config.log_interval).await;
            for container in &self.containers {
                if let Some(line) = periodic_line(container.outcome, Timestamp::now()) {
                    let key = LogKey::new(&self.namespace, &self.name, &container.sim.name);
                    ctx.logs.append(&key, line);
                }
            }
        }
    }

    /// Moves every container to its outcome's first state and writes its logs.
    async fn start_containers(
        &mut self,
        ctx: &Context,
        earlier: &HashMap<String, (i32, Option<Timestamp>)>,
    ) -> Result<()> {
        let now = Timestamp::now();
        let mut events = Vec::new();
        for container in &mut self.containers {
            let image = container.sim.image.clone();
            let key = LogKey::new(&self.namespace, &self.name, &container.sim.name);
            let (restart_count, running_since) = earlier
                .get(&container.sim.name)
                .copied()
                .unwrap_or((0, None));
            let started_at = now - SignedDuration::from_millis(800);
            let lines = instance_lines(&LogContext {
                container: &container.sim.name,
                image: &image,
                port: container.port,
                outcome: container.outcome,
                started_at,
            });
            if !lines.is_empty() && !ctx.logs.contains(&key) {
                // A container taken over after restarts had a previous instance, like this one.
                let previous = (restart_count > 0).then(|| lines.clone());
                let instance = u32::try_from(restart_count).unwrap_or(0);
                let current = lines.clone();
                ctx.logs.set(
                    key.clone(),
                    ContainerLogs {
                        current,
                        previous,
                        instance,
                        written: 0,
                        ended: false,
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
                        started_at: running_since.unwrap_or(now),
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
                    ctx.logs.end_instance(&key);
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
        if !earlier.is_empty() {
            return Ok(());
        }
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
                        LogKey::new(&self.namespace, &self.name, &container.sim.name),
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
                    let key = LogKey::new(&self.namespace, &self.name, &container.sim.name);
                    let lines = ctx.logs.lines(&key, false).unwrap_or_default();
                    ctx.logs.end_instance(&key);
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
