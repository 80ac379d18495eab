//! Objects that fence a service in: the team namespace with its quota and limits, the
//! NetworkPolicy and the PodDisruptionBudget.

use std::collections::BTreeMap;

use app::api::{
    spec::{Environment, ServiceSpec},
    TeamName,
};
use k8s_openapi::{
    api::{
        core::v1::{
            LimitRange, LimitRangeItem, LimitRangeSpec, Namespace, ResourceQuota, ResourceQuotaSpec,
        },
        networking::v1::{
            NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
            NetworkPolicySpec,
        },
        policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec},
    },
    apimachinery::pkg::{
        api::resource::Quantity,
        apis::meta::v1::{LabelSelector, ObjectMeta},
        util::intstr::IntOrString,
    },
};

use super::{meta, selector_labels, RenderSettings, LABEL_ENVIRONMENT, LABEL_TEAM, MANAGED_BY};
use crate::deploy::size::{resources, TeamQuota};
use app::api::spec::Size;

fn namespace_labels(team: &TeamName, environment: Environment) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/managed-by".to_owned(),
            MANAGED_BY.to_owned(),
        ),
        (LABEL_TEAM.to_owned(), team.to_string()),
        (LABEL_ENVIRONMENT.to_owned(), environment.to_string()),
    ])
}

fn namespaced_meta(spec: &ServiceSpec, name: &str) -> ObjectMeta {
    team_namespaced_meta(&spec.team, spec.environment, name)
}

fn team_namespaced_meta(team: &TeamName, environment: Environment, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(team_namespace(team, environment)),
        labels: Some(namespace_labels(team, environment)),
        ..ObjectMeta::default()
    }
}

/// The namespace of a team's environment: `<team>-<env>`.
pub fn team_namespace(team: &TeamName, environment: Environment) -> String {
    format!("{team}-{}", environment.as_str())
}

pub fn namespace(spec: &ServiceSpec) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some(spec.namespace()),
            labels: Some(namespace_labels(&spec.team, spec.environment)),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    }
}

/// The ResourceQuota of a team's namespace in one environment, from the team's quota.
pub fn quota(team: &TeamName, environment: Environment, quota: &TeamQuota) -> ResourceQuota {
    let q = |s: &str| Quantity(s.to_owned());
    ResourceQuota {
        metadata: team_namespaced_meta(team, environment, "canopy-team-quota"),
        spec: Some(ResourceQuotaSpec {
            hard: Some(BTreeMap::from([
                (
                    "requests.cpu".to_owned(),
                    q(&quota.requests_cpu.to_string()),
                ),
                (
                    "requests.memory".to_owned(),
                    q(&quota.requests_memory.to_string()),
                ),
                ("limits.cpu".to_owned(), q(&quota.limits_cpu.to_string())),
                (
                    "limits.memory".to_owned(),
                    q(&quota.limits_memory.to_string()),
                ),
                ("pods".to_owned(), q(&quota.pods.to_string())),
            ])),
            ..ResourceQuotaSpec::default()
        }),
        ..ResourceQuota::default()
    }
}

/// Defaults for containers that set nothing (Canopy's own always set the size's values).
pub fn limit_range(spec: &ServiceSpec) -> LimitRange {
    let small = resources(Size::S);
    let q = |s: &str| Quantity(s.to_owned());
    LimitRange {
        metadata: namespaced_meta(spec, "canopy-defaults"),
        spec: Some(LimitRangeSpec {
            limits: vec![LimitRangeItem {
                type_: "Container".to_owned(),
                default: Some(BTreeMap::from([
                    ("cpu".to_owned(), q(small.cpu_limit)),
                    ("memory".to_owned(), q(small.memory_limit)),
                ])),
                default_request: Some(BTreeMap::from([
                    ("cpu".to_owned(), q(small.cpu_request)),
                    ("memory".to_owned(), q(small.memory_request)),
                ])),
                ..LimitRangeItem::default()
            }],
        }),
    }
}

/// Ingress only from the ingress controller's namespace and from the same team's namespaces.
pub fn network_policy(
    spec: &ServiceSpec,
    revision: i64,
    settings: &RenderSettings,
) -> NetworkPolicy {
    let namespace_peer = |key: &str, value: &str| NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_labels: Some(BTreeMap::from([(key.to_owned(), value.to_owned())])),
            ..LabelSelector::default()
        }),
        ..NetworkPolicyPeer::default()
    };
    NetworkPolicy {
        metadata: meta(spec, revision),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(selector_labels(spec)),
                ..LabelSelector::default()
            }),
            policy_types: Some(vec!["Ingress".to_owned()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![
                    namespace_peer("kubernetes.io/metadata.name", &settings.ingress_namespace),
                    namespace_peer(LABEL_TEAM, spec.team.as_str()),
                ]),
                ports: Some(vec![NetworkPolicyPort {
                    port: Some(IntOrString::Int(i32::from(spec.port))),
                    protocol: Some("TCP".to_owned()),
                    ..NetworkPolicyPort::default()
                }]),
            }]),
            ..NetworkPolicySpec::default()
        }),
    }
}

/// At most one pod down at a time during voluntary disruptions (node drains).
pub fn disruption_budget(spec: &ServiceSpec, revision: i64) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: meta(spec, revision),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(selector_labels(spec)),
                ..LabelSelector::default()
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    }
}
