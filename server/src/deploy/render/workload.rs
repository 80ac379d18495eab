//! The workload objects: Deployment, Service, ServiceAccount, Secret, Ingress, autoscaler.

use std::collections::BTreeMap;

use app::api::spec::{Route, Scaling, ServiceSpec};
use k8s_openapi::{
    api::{
        apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment},
        autoscaling::v2::{
            CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec,
            MetricSpec, MetricTarget, ResourceMetricSource,
        },
        core::v1::{
            Capabilities as LinuxCapabilities, Container, ContainerPort, EmptyDirVolumeSource,
            EnvVar, EnvVarSource, HTTPGetAction, PodSecurityContext, PodSpec, PodTemplateSpec,
            Probe, ResourceRequirements, SeccompProfile, Secret, SecretKeySelector,
            SecurityContext, Service, ServiceAccount, ServicePort, ServiceSpec as KubeServiceSpec,
            TCPSocketAction, Volume, VolumeMount,
        },
        networking::v1::{
            HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
            IngressServiceBackend, IngressSpec, ServiceBackendPort,
        },
    },
    apimachinery::pkg::{
        api::resource::Quantity,
        apis::meta::v1::{LabelSelector, ObjectMeta},
        util::intstr::IntOrString,
    },
};

use super::{labels, meta, selector_labels, RenderSettings, ANNOTATION_REVISION};
use crate::deploy::size::resources;

/// How long a rollout may make no progress before Kubernetes reports it failed.
pub const PROGRESS_DEADLINE_SECS: i32 = 180;
const PORT_NAME: &str = "http";

pub fn service_account(spec: &ServiceSpec, revision: i64) -> ServiceAccount {
    ServiceAccount {
        metadata: meta(spec, revision),
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    }
}

pub fn secret(spec: &ServiceSpec, revision: i64, values: &BTreeMap<String, String>) -> Secret {
    Secret {
        metadata: meta(spec, revision),
        type_: Some("Opaque".to_owned()),
        string_data: Some(
            values
                .iter()
                .filter(|(key, _)| spec.secret_keys.contains(key))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        ..Secret::default()
    }
}

pub fn deployment(spec: &ServiceSpec, revision: i64, autoscaled: bool) -> Deployment {
    let replicas = match spec.scaling {
        // The autoscaler owns the replica count; leaving it out keeps applies from fighting it.
        Scaling::Auto { .. } if autoscaled => None,
        Scaling::Auto { min, .. } => Some(i32::from(min)),
        Scaling::Fixed { replicas } => Some(i32::from(replicas)),
    };
    let mut template_meta = ObjectMeta {
        labels: Some(labels(spec)),
        ..ObjectMeta::default()
    };
    // The revision goes on the pod template too, so a rollback to an identical spec is still
    // a visible new revision of the ReplicaSet.
    template_meta.annotations = Some(BTreeMap::from([(
        ANNOTATION_REVISION.to_owned(),
        revision.to_string(),
    )]));
    Deployment {
        metadata: meta(spec, revision),
        spec: Some(DeploymentSpec {
            replicas,
            revision_history_limit: Some(10),
            progress_deadline_seconds: Some(PROGRESS_DEADLINE_SECS),
            selector: LabelSelector {
                match_labels: Some(selector_labels(spec)),
                ..LabelSelector::default()
            },
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".to_owned()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::String("25%".to_owned())),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(template_meta),
                spec: Some(pod_spec(spec)),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

fn pod_spec(spec: &ServiceSpec) -> PodSpec {
    let size = resources(spec.size);
    let quantity = |s: &str| Quantity(s.to_owned());
    let mut env: Vec<EnvVar> = spec
        .env
        .iter()
        .map(|(name, value)| EnvVar {
            name: name.clone(),
            value: Some(value.clone()),
            ..EnvVar::default()
        })
        .collect();
    env.extend(spec.secret_keys.iter().map(|key| EnvVar {
        name: key.clone(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: spec.name.to_string(),
                key: key.clone(),
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }));
    let probe = |initial_delay: i32, period: i32| Probe {
        http_get: spec.health_check_path.as_ref().map(|path| HTTPGetAction {
            path: Some(path.clone()),
            port: IntOrString::String(PORT_NAME.to_owned()),
            ..HTTPGetAction::default()
        }),
        tcp_socket: spec.health_check_path.is_none().then(|| TCPSocketAction {
            port: IntOrString::String(PORT_NAME.to_owned()),
            ..TCPSocketAction::default()
        }),
        initial_delay_seconds: Some(initial_delay),
        period_seconds: Some(period),
        timeout_seconds: Some(2),
        failure_threshold: Some(3),
        ..Probe::default()
    };
    PodSpec {
        service_account_name: Some(spec.name.to_string()),
        automount_service_account_token: Some(false),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_owned(),
                ..SeccompProfile::default()
            }),
            ..PodSecurityContext::default()
        }),
        containers: vec![Container {
            name: spec.name.to_string(),
            image: Some(spec.image.to_string()),
            image_pull_policy: Some("IfNotPresent".to_owned()),
            ports: Some(vec![ContainerPort {
                name: Some(PORT_NAME.to_owned()),
                container_port: i32::from(spec.port),
                protocol: Some("TCP".to_owned()),
                ..ContainerPort::default()
            }]),
            env: (!env.is_empty()).then_some(env),
            resources: Some(ResourceRequirements {
                requests: Some(BTreeMap::from([
                    ("cpu".to_owned(), quantity(size.cpu_request)),
                    ("memory".to_owned(), quantity(size.memory_request)),
                ])),
                limits: Some(BTreeMap::from([
                    ("cpu".to_owned(), quantity(size.cpu_limit)),
                    ("memory".to_owned(), quantity(size.memory_limit)),
                ])),
                ..ResourceRequirements::default()
            }),
            readiness_probe: Some(probe(2, 5)),
            liveness_probe: Some(probe(15, 10)),
            security_context: Some(SecurityContext {
                allow_privilege_escalation: Some(false),
                read_only_root_filesystem: Some(true),
                run_as_non_root: Some(true),
                capabilities: Some(LinuxCapabilities {
                    drop: Some(vec!["ALL".to_owned()]),
                    ..LinuxCapabilities::default()
                }),
                ..SecurityContext::default()
            }),
            volume_mounts: Some(vec![VolumeMount {
                name: "tmp".to_owned(),
                mount_path: "/tmp".to_owned(),
                ..VolumeMount::default()
            }]),
            ..Container::default()
        }],
        volumes: Some(vec![Volume {
            name: "tmp".to_owned(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        }]),
        ..PodSpec::default()
    }
}

pub fn service(spec: &ServiceSpec, revision: i64) -> Service {
    Service {
        metadata: meta(spec, revision),
        spec: Some(KubeServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            selector: Some(selector_labels(spec)),
            ports: Some(vec![ServicePort {
                name: Some(PORT_NAME.to_owned()),
                port: 80,
                target_port: Some(IntOrString::String(PORT_NAME.to_owned())),
                protocol: Some("TCP".to_owned()),
                ..ServicePort::default()
            }]),
            ..KubeServiceSpec::default()
        }),
        ..Service::default()
    }
}

pub fn ingress(
    spec: &ServiceSpec,
    revision: i64,
    route: &Route,
    settings: &RenderSettings,
) -> Ingress {
    Ingress {
        metadata: meta(spec, revision),
        spec: Some(IngressSpec {
            ingress_class_name: settings.ingress_class.clone(),
            rules: Some(vec![IngressRule {
                host: Some(route.host.clone()),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some(route.path.clone()),
                        path_type: "Prefix".to_owned(),
                        backend: IngressBackend {
                            service: Some(IngressServiceBackend {
                                name: spec.name.to_string(),
                                port: Some(ServiceBackendPort {
                                    name: Some(PORT_NAME.to_owned()),
                                    ..ServiceBackendPort::default()
                                }),
                            }),
                            ..IngressBackend::default()
                        },
                    }],
                }),
            }]),
            ..IngressSpec::default()
        }),
        ..Ingress::default()
    }
}

pub fn autoscaler(spec: &ServiceSpec, revision: i64) -> HorizontalPodAutoscaler {
    let (min, max, target) = match spec.scaling {
        Scaling::Auto {
            min,
            max,
            target_cpu_percent,
        } => (min, max, target_cpu_percent),
        Scaling::Fixed { replicas } => (replicas, replicas, 80),
    };
    HorizontalPodAutoscaler {
        metadata: meta(spec, revision),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".to_owned()),
                kind: "Deployment".to_owned(),
                name: spec.name.to_string(),
            },
            min_replicas: Some(i32::from(min)),
            max_replicas: i32::from(max),
            metrics: Some(vec![MetricSpec {
                type_: "Resource".to_owned(),
                resource: Some(ResourceMetricSource {
                    name: "cpu".to_owned(),
                    target: MetricTarget {
                        type_: "Utilization".to_owned(),
                        average_utilization: Some(i32::from(target)),
                        ..MetricTarget::default()
                    },
                }),
                ..MetricSpec::default()
            }]),
            ..HorizontalPodAutoscalerSpec::default()
        }),
        ..HorizontalPodAutoscaler::default()
    }
}
