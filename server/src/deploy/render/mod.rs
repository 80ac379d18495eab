//! Renders a [`ServiceSpec`] into typed Kubernetes objects (never YAML strings).
//!
//! The same spec, revision and cluster capabilities always render the same objects, so
//! re-applying an unchanged spec changes nothing.

mod namespace;
pub use namespace::{quota as team_quota, team_namespace};
mod workload;

use std::collections::BTreeMap;

use sha2::Digest;

use app::api::spec::{Scaling, ServiceSpec};
use k8s_openapi::{
    api::{
        apps::v1::Deployment,
        autoscaling::v2::HorizontalPodAutoscaler,
        core::v1::{LimitRange, Namespace, ResourceQuota, Secret, Service, ServiceAccount},
        networking::v1::{Ingress, NetworkPolicy},
        policy::v1::PodDisruptionBudget,
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};

use super::size::TeamQuota;

pub const MANAGED_BY: &str = "canopy";
pub const LABEL_TEAM: &str = "canopy.dev/team";
pub const LABEL_SERVICE: &str = "canopy.dev/service";
pub const LABEL_ENVIRONMENT: &str = "canopy.dev/environment";
pub const ANNOTATION_REVISION: &str = "canopy.dev/revision";

/// What the target cluster serves, where Canopy has a choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// `autoscaling/v2` HorizontalPodAutoscaler (GA in 1.23).
    pub autoscaling_v2: bool,
    /// `policy/v1` PodDisruptionBudget (GA in 1.21).
    pub policy_v1: bool,
}

impl Capabilities {
    pub const ALL: Capabilities = Capabilities {
        autoscaling_v2: true,
        policy_v1: true,
    };
}

/// Cluster-wide settings that shape rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderSettings {
    /// The namespace of the ingress controller, allowed through the NetworkPolicy.
    pub ingress_namespace: String,
    pub ingress_class: Option<String>,
    pub quota: TeamQuota,
}

impl Default for RenderSettings {
    fn default() -> Self {
        Self {
            ingress_namespace: "ingress-nginx".to_owned(),
            ingress_class: None,
            quota: TeamQuota::default(),
        }
    }
}

/// An optional object left out, and why (shown to the user as a plain warning).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub kind: &'static str,
    pub reason: String,
}

/// Every object Canopy manages for one service in one environment.
#[derive(Debug, Clone)]
pub struct RenderedService {
    pub namespace: Namespace,
    pub quota: ResourceQuota,
    pub limit_range: LimitRange,
    pub service_account: ServiceAccount,
    /// Only when secret values were supplied with this deploy (see `apply`).
    pub secret: Option<Secret>,
    pub deployment: Deployment,
    pub service: Service,
    pub ingress: Option<Ingress>,
    pub autoscaler: Option<HorizontalPodAutoscaler>,
    pub disruption_budget: Option<PodDisruptionBudget>,
    pub network_policy: NetworkPolicy,
    pub skipped: Vec<Skipped>,
}

/// Renders `spec` at `revision`. `secret_values` are written into the Secret only.
pub fn render(
    spec: &ServiceSpec,
    revision: i64,
    secret_values: &BTreeMap<String, String>,
    capabilities: Capabilities,
    settings: &RenderSettings,
) -> RenderedService {
    let mut skipped = Vec::new();
    let autoscaler = match spec.scaling {
        Scaling::Auto { .. } if capabilities.autoscaling_v2 => {
            Some(workload::autoscaler(spec, revision))
        }
        Scaling::Auto { min, .. } => {
            skipped.push(Skipped {
                kind: "HorizontalPodAutoscaler",
                reason: format!(
                    "this cluster does not serve autoscaling/v2 (Kubernetes 1.23+), so autoscaling is off and the service runs {min} replica(s)"
                ),
            });
            None
        }
        Scaling::Fixed { .. } => None,
    };
    let disruption_budget = if spec.scaling.max_replicas() > 1 {
        if capabilities.policy_v1 {
            Some(namespace::disruption_budget(spec, revision))
        } else {
            skipped.push(Skipped {
                kind: "PodDisruptionBudget",
                reason: "this cluster does not serve policy/v1 (Kubernetes 1.21+), so node drains are not limited for this service".to_owned(),
            });
            None
        }
    } else {
        None
    };
    RenderedService {
        namespace: namespace::namespace(spec),
        quota: namespace::quota(&spec.team, spec.environment, &settings.quota),
        limit_range: namespace::limit_range(spec),
        service_account: workload::service_account(spec, revision),
        secret: (!spec.secret_keys.is_empty() && !secret_values.is_empty())
            .then(|| workload::secret(spec, revision, secret_values)),
        deployment: workload::deployment(spec, revision, autoscaler.is_some()),
        service: workload::service(spec, revision),
        ingress: spec
            .route
            .as_ref()
            .map(|route| workload::ingress(spec, revision, route, settings)),
        autoscaler,
        disruption_budget,
        network_policy: namespace::network_policy(spec, revision, settings),
        skipped,
    }
}

/// The Kubernetes recommended labels plus Canopy's own, on every object of a service.
pub fn labels(spec: &ServiceSpec) -> BTreeMap<String, String> {
    let mut labels = selector_labels(spec);
    labels.insert(
        "app.kubernetes.io/part-of".to_owned(),
        spec.team.to_string(),
    );
    labels.insert(
        "app.kubernetes.io/component".to_owned(),
        "service".to_owned(),
    );
    labels.insert(
        "app.kubernetes.io/managed-by".to_owned(),
        MANAGED_BY.to_owned(),
    );
    if let Some(version) = spec.image.tag().and_then(label_value) {
        labels.insert("app.kubernetes.io/version".to_owned(), version);
    }
    labels.insert(LABEL_TEAM.to_owned(), spec.team.to_string());
    labels.insert(LABEL_SERVICE.to_owned(), spec.name.to_string());
    labels.insert(LABEL_ENVIRONMENT.to_owned(), spec.environment.to_string());
    labels
}

/// The labels that select a service's pods (immutable once a Deployment exists).
pub fn selector_labels(spec: &ServiceSpec) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), spec.name.to_string()),
        (
            "app.kubernetes.io/instance".to_owned(),
            instance_label(spec.name.as_str(), &spec.environment.as_str()),
        ),
    ])
}

/// The longest label value Kubernetes accepts.
const MAX_LABEL_VALUE: usize = 63;

/// `<service>-<environment>`, or for names too long for a label value, the name shortened
/// with a hash of the whole so two long names never share it (short names keep the value they
/// always had: it is part of the Deployment's immutable selector).
pub fn instance_label(service: &str, environment: &str) -> String {
    let full = format!("{service}-{environment}");
    if full.len() <= MAX_LABEL_VALUE {
        return full;
    }
    let hash: String = sha2::Sha256::digest(full.as_bytes())
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect();
    let room = MAX_LABEL_VALUE - environment.len() - hash.len() - 2;
    let prefix = service[..room.min(service.len())].trim_end_matches('-');
    format!("{prefix}-{hash}-{environment}")
}

/// A label value made from free text (an image tag): what Kubernetes accepts, at most 63
/// characters of `[A-Za-z0-9_.-]` starting and ending with a letter or digit; `None` when
/// nothing is left.
pub fn label_value(raw: &str) -> Option<String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if !raw.chars().all(allowed) {
        return None;
    }
    let trimmed = raw.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    let cut = &trimmed[..trimmed.len().min(MAX_LABEL_VALUE)];
    let value = cut.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    (!value.is_empty()).then(|| value.to_owned())
}

/// The label selector that finds every object Canopy made for a service.
pub fn ownership_selector(spec: &ServiceSpec) -> String {
    format!(
        "app.kubernetes.io/managed-by={MANAGED_BY},{LABEL_TEAM}={},{LABEL_SERVICE}={}",
        spec.team, spec.name
    )
}

fn meta(spec: &ServiceSpec, revision: i64) -> ObjectMeta {
    ObjectMeta {
        name: Some(spec.name.to_string()),
        namespace: Some(spec.namespace()),
        labels: Some(labels(spec)),
        annotations: Some(BTreeMap::from([(
            ANNOTATION_REVISION.to_owned(),
            revision.to_string(),
        )])),
        ..ObjectMeta::default()
    }
}

#[cfg(test)]
mod tests;
