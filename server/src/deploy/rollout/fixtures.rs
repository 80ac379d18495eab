//! Typed test fixtures for rollouts, built like sentences:
//! `deployment("web").wanting(3).with_counts(3, 3, 3, 3).rolled_out().build()`,
//! `pod("web-1").of(&rs).crashed(1, "Error", 4).build()`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        apps::v1::{
            Deployment, DeploymentCondition, DeploymentSpec, DeploymentStatus, ReplicaSet,
            ReplicaSetCondition, ReplicaSetStatus,
        },
        core::v1::{
            Container, ContainerPort, ContainerState, ContainerStateRunning,
            ContainerStateTerminated, ContainerStateWaiting, ContainerStatus, Event, HTTPGetAction,
            ObjectReference, Pod, PodCondition, PodSpec, PodStatus, PodTemplateSpec, Probe,
            ResourceRequirements, TCPSocketAction,
        },
    },
    apimachinery::pkg::{
        api::resource::Quantity,
        apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference, Time},
        util::intstr::IntOrString,
    },
};

use super::REVISION_ANNOTATION;
use crate::deploy::diagnose::Evidence;

pub const NAMESPACE: &str = "shop-dev";

fn meta(name: &str, uid: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(NAMESPACE.to_owned()),
        uid: Some(uid.to_owned()),
        ..ObjectMeta::default()
    }
}

fn owner(kind: &str, name: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".to_owned(),
        kind: kind.to_owned(),
        name: name.to_owned(),
        uid: uid.to_owned(),
        controller: Some(true),
        ..OwnerReference::default()
    }
}

/// The container Canopy renders: port `http` 8080, an HTTP readiness probe on /healthz, size S.
fn container(name: &str) -> Container {
    Container {
        name: name.to_owned(),
        image: Some("ghcr.io/acme/web:1.0.0".to_owned()),
        ports: Some(vec![ContainerPort {
            name: Some("http".to_owned()),
            container_port: 8080,
            ..ContainerPort::default()
        }]),
        readiness_probe: Some(Probe {
            http_get: Some(HTTPGetAction {
                path: Some("/healthz".to_owned()),
                port: IntOrString::String("http".to_owned()),
                ..HTTPGetAction::default()
            }),
            timeout_seconds: Some(2),
            ..Probe::default()
        }),
        resources: Some(ResourceRequirements {
            limits: Some(BTreeMap::from([(
                "memory".to_owned(),
                Quantity("256Mi".to_owned()),
            )])),
            ..ResourceRequirements::default()
        }),
        ..Container::default()
    }
}

pub struct DeploymentFixture(Deployment);

/// A Deployment of 1 replica at generation 1, revision 1, nothing observed or running yet.
pub fn deployment(name: &str) -> DeploymentFixture {
    let mut metadata = meta(name, "deployment-uid");
    metadata.generation = Some(1);
    metadata.annotations = Some(BTreeMap::from([(
        REVISION_ANNOTATION.to_owned(),
        "1".to_owned(),
    )]));
    DeploymentFixture(Deployment {
        metadata,
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            progress_deadline_seconds: Some(180),
            selector: LabelSelector {
                match_labels: Some(BTreeMap::from([(
                    "app.kubernetes.io/name".to_owned(),
                    name.to_owned(),
                )])),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: None,
                spec: Some(PodSpec {
                    containers: vec![container(name)],
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        status: Some(DeploymentStatus {
            observed_generation: Some(1),
            ..DeploymentStatus::default()
        }),
    })
}

impl DeploymentFixture {
    fn status(&mut self) -> &mut DeploymentStatus {
        self.0.status.get_or_insert_with(DeploymentStatus::default)
    }

    fn condition(mut self, type_: &str, status: &str, reason: &str, message: &str) -> Self {
        let conditions = self.status().conditions.get_or_insert_with(Vec::new);
        conditions.retain(|c| c.type_ != type_);
        conditions.push(DeploymentCondition {
            type_: type_.to_owned(),
            status: status.to_owned(),
            reason: Some(reason.to_owned()),
            message: Some(message.to_owned()),
            ..DeploymentCondition::default()
        });
        self
    }

    pub fn wanting(mut self, replicas: i32) -> Self {
        if let Some(spec) = self.0.spec.as_mut() {
            spec.replicas = Some(replicas);
        }
        self
    }

    /// The spec changed (generation 2) and the controller has not seen it yet.
    pub fn changed_but_not_observed(mut self) -> Self {
        self.0.metadata.generation = Some(2);
        self
    }

    pub fn at_revision(mut self, revision: i64) -> Self {
        self.0.metadata.annotations = Some(BTreeMap::from([(
            REVISION_ANNOTATION.to_owned(),
            revision.to_string(),
        )]));
        self
    }

    /// Pods: `updated` on the new version, `ready`, `available`, and `total` in all.
    pub fn with_counts(mut self, updated: i32, ready: i32, available: i32, total: i32) -> Self {
        let status = self.status();
        status.updated_replicas = Some(updated);
        status.ready_replicas = Some(ready);
        status.available_replicas = Some(available);
        status.replicas = Some(total);
        self
    }

    pub fn rolled_out(self) -> Self {
        self.condition("Available", "True", "MinimumReplicasAvailable", "ok")
            .condition(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                "ReplicaSet \"web-1\" has successfully progressed.",
            )
    }

    pub fn unavailable(self) -> Self {
        self.condition(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        )
    }

    pub fn past_deadline(self) -> Self {
        self.condition(
            "Progressing",
            "False",
            "ProgressDeadlineExceeded",
            "ReplicaSet \"web-2\" has timed out progressing.",
        )
    }

    pub fn refusing_pods(self, message: &str) -> Self {
        self.condition("ReplicaFailure", "True", "FailedCreate", message)
    }

    pub fn with_tcp_probe(mut self) -> Self {
        if let Some(container) = self
            .0
            .spec
            .as_mut()
            .and_then(|s| s.template.spec.as_mut())
            .and_then(|s| s.containers.first_mut())
        {
            container.readiness_probe = Some(Probe {
                tcp_socket: Some(TCPSocketAction {
                    port: IntOrString::String("http".to_owned()),
                    ..TCPSocketAction::default()
                }),
                ..Probe::default()
            });
        }
        self
    }

    pub fn build(self) -> Deployment {
        self.0
    }
}

/// The ReplicaSet of `deployment` at `revision` (named `<deployment>-<revision>`).
pub fn replica_set(deployment: &Deployment, revision: i64) -> ReplicaSet {
    let name = deployment.metadata.name.clone().unwrap_or_default();
    let mut metadata = meta(&format!("{name}-{revision}"), &format!("rs-{revision}"));
    metadata.owner_references = Some(vec![owner(
        "Deployment",
        &name,
        deployment.metadata.uid.as_deref().unwrap_or_default(),
    )]);
    metadata.annotations = Some(BTreeMap::from([(
        REVISION_ANNOTATION.to_owned(),
        revision.to_string(),
    )]));
    ReplicaSet {
        metadata,
        ..ReplicaSet::default()
    }
}

/// A ReplicaSet that cannot create pods, with the controller's message.
pub fn refusing(mut replica_set: ReplicaSet, message: &str) -> ReplicaSet {
    replica_set.status = Some(ReplicaSetStatus {
        conditions: Some(vec![ReplicaSetCondition {
            type_: "ReplicaFailure".to_owned(),
            status: "True".to_owned(),
            reason: Some("FailedCreate".to_owned()),
            message: Some(message.to_owned()),
            ..ReplicaSetCondition::default()
        }]),
        ..ReplicaSetStatus::default()
    });
    replica_set
}

pub struct PodFixture(Pod);

/// A pending pod with one container `web` (size S limits), owned by nothing yet.
pub fn pod(name: &str) -> PodFixture {
    PodFixture(Pod {
        metadata: meta(name, &format!("{name}-uid")),
        spec: Some(PodSpec {
            containers: vec![container("web")],
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            phase: Some("Pending".to_owned()),
            ..PodStatus::default()
        }),
    })
}

impl PodFixture {
    pub fn of(mut self, replica_set: &ReplicaSet) -> Self {
        self.0.metadata.owner_references = Some(vec![owner(
            "ReplicaSet",
            replica_set.metadata.name.as_deref().unwrap_or_default(),
            replica_set.metadata.uid.as_deref().unwrap_or_default(),
        )]);
        self
    }

    fn with_container(mut self, phase: &str, ready: bool, state: ContainerState) -> Self {
        let status = self.0.status.get_or_insert_with(PodStatus::default);
        status.phase = Some(phase.to_owned());
        status.conditions = Some(vec![PodCondition {
            type_: "Ready".to_owned(),
            status: if ready { "True" } else { "False" }.to_owned(),
            ..PodCondition::default()
        }]);
        let previous = status
            .container_statuses
            .as_ref()
            .and_then(|c| c.first().cloned());
        status.container_statuses = Some(vec![ContainerStatus {
            name: "web".to_owned(),
            image: "ghcr.io/acme/web:1.0.0".to_owned(),
            ready,
            state: Some(state),
            restart_count: previous.as_ref().map_or(0, |p| p.restart_count),
            last_state: previous.and_then(|p| p.last_state),
            ..ContainerStatus::default()
        }]);
        self
    }

    pub fn running_and_ready(self) -> Self {
        self.with_container(
            "Running",
            true,
            ContainerState {
                running: Some(ContainerStateRunning::default()),
                ..ContainerState::default()
            },
        )
    }

    pub fn running_but_not_ready(self) -> Self {
        self.with_container(
            "Running",
            false,
            ContainerState {
                running: Some(ContainerStateRunning::default()),
                ..ContainerState::default()
            },
        )
    }

    pub fn waiting(self, reason: &str, message: &str) -> Self {
        self.with_container(
            if reason == "CrashLoopBackOff" {
                "Running"
            } else {
                "Pending"
            },
            false,
            ContainerState {
                waiting: Some(ContainerStateWaiting {
                    reason: Some(reason.to_owned()),
                    message: Some(message.to_owned()),
                }),
                ..ContainerState::default()
            },
        )
    }

    /// The previous instance ended with `exit_code` (`reason`), `restarts` times so far, and the
    /// container now waits in CrashLoopBackOff.
    pub fn crashed(self, exit_code: i32, reason: &str, restarts: i32, message: &str) -> Self {
        let mut fixture = self.waiting(
            "CrashLoopBackOff",
            "back-off 10s restarting failed container",
        );
        if let Some(status) = fixture
            .0
            .status
            .as_mut()
            .and_then(|s| s.container_statuses.as_mut())
            .and_then(|c| c.first_mut())
        {
            status.restart_count = restarts;
            status.last_state = Some(ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code,
                    reason: Some(reason.to_owned()),
                    message: Some(message.to_owned()),
                    ..ContainerStateTerminated::default()
                }),
                ..ContainerState::default()
            });
        }
        fixture
    }

    pub fn unschedulable(mut self, message: &str) -> Self {
        let status = self.0.status.get_or_insert_with(PodStatus::default);
        status.conditions = Some(vec![PodCondition {
            type_: "PodScheduled".to_owned(),
            status: "False".to_owned(),
            reason: Some("Unschedulable".to_owned()),
            message: Some(message.to_owned()),
            ..PodCondition::default()
        }]);
        self
    }

    pub fn with_memory_limit(mut self, limit: &str) -> Self {
        if let Some(container) = self.0.spec.as_mut().and_then(|s| s.containers.first_mut()) {
            container.resources = Some(ResourceRequirements {
                limits: Some(BTreeMap::from([(
                    "memory".to_owned(),
                    Quantity(limit.to_owned()),
                )])),
                ..ResourceRequirements::default()
            });
        }
        self
    }

    pub fn build(self) -> Pod {
        self.0
    }
}

/// An event about `kind`/`name`.
pub fn event(kind: &str, name: &str, reason: &str, message: &str) -> Event {
    Event {
        metadata: meta(&format!("{name}.{reason}"), &format!("{name}-{reason}")),
        involved_object: ObjectReference {
            kind: Some(kind.to_owned()),
            name: Some(name.to_owned()),
            namespace: Some(NAMESPACE.to_owned()),
            ..ObjectReference::default()
        },
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        type_: Some("Warning".to_owned()),
        last_timestamp: Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)),
        ..Event::default()
    }
}

/// Evidence of `deployment` with one ReplicaSet per revision up to the Deployment's.
pub fn evidence(deployment: Deployment, replica_sets: Vec<ReplicaSet>, pods: Vec<Pod>) -> Evidence {
    Evidence {
        deployment,
        replica_sets,
        pods,
        ..Evidence::default()
    }
}
