//! Applies rendered objects to a cluster with server-side apply under one field manager,
//! previews what an apply would change (server-side dry run against the live objects), and
//! deletes everything Canopy created for a service (by label, nothing else).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Namespace, ResourceQuota, Secret};
use kube::{
    api::{Api, DynamicObject, Patch, PatchParams, PostParams},
    core::{ApiResource, GroupVersionKind},
    Client, Resource,
};
use serde_json::Value;

use super::render::{Capabilities, RenderedService};

mod delete;

pub const FIELD_MANAGER: &str = "canopy";

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("the Kubernetes API refused {kind} {name}: {source}")]
    Object {
        kind: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("could not ask the Kubernetes API what it serves: {0}")]
    Discovery(#[source] kube::Error),
    /// An object Canopy would write exists and is not Canopy's (or is another team's).
    #[error("Canopy will not take over {kind} {name}: {why}. Ask the platform team to remove or rename it, or choose another name.")]
    NotOurs {
        kind: String,
        name: String,
        why: String,
    },
    /// The route's host is already routed to something else in the cluster.
    #[error("the host {host} is already routed by Ingress {namespace}/{name}; each host goes to one service")]
    HostTaken {
        host: String,
        namespace: String,
        name: String,
    },
    #[error("could not encode {kind}: {source}")]
    Encode {
        kind: String,
        #[source]
        source: serde_json::Error,
    },
}

pub type Result<T, E = ApplyError> = std::result::Result<T, E>;

/// What a namespace's quota controller last recorded as used, by resource (`requests.cpu: 750m`).
pub type QuotaUsage = BTreeMap<String, String>;

/// One object to apply, erased to a dynamic object so all kinds go through one path.
#[derive(Debug, Clone)]
pub struct ManifestObject {
    pub resource: ApiResource,
    pub object: DynamicObject,
}

impl ManifestObject {
    fn new<K>(typed: &K) -> Result<Self>
    where
        K: Resource<DynamicType = ()> + serde::Serialize,
    {
        let resource = ApiResource::erase::<K>(&());
        let encode = |source| ApplyError::Encode {
            kind: resource.kind.clone(),
            source,
        };
        let mut value = serde_json::to_value(typed).map_err(encode)?;
        if let Value::Object(map) = &mut value {
            map.insert(
                "apiVersion".to_owned(),
                Value::String(resource.api_version.clone()),
            );
            map.insert("kind".to_owned(), Value::String(resource.kind.clone()));
        }
        let object = serde_json::from_value(value).map_err(encode)?;
        Ok(Self { resource, object })
    }

    pub fn kind(&self) -> &str {
        &self.resource.kind
    }

    pub fn name(&self) -> String {
        self.object.metadata.name.clone().unwrap_or_default()
    }

    fn api(&self, client: &Client) -> Api<DynamicObject> {
        match &self.object.metadata.namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &self.resource),
            None => Api::all_with(client.clone(), &self.resource),
        }
    }

    fn refusal(&self, source: kube::Error) -> ApplyError {
        ApplyError::Object {
            kind: self.kind().to_owned(),
            name: self.name(),
            source,
        }
    }
}

impl RenderedService {
    /// The objects in apply order (namespace first, workload after what it needs). The Secret
    /// is handled separately: see [`Applier::apply`].
    pub fn manifest(&self) -> Result<Vec<ManifestObject>> {
        let mut objects = vec![
            ManifestObject::new(&self.namespace)?,
            ManifestObject::new(&self.quota)?,
            ManifestObject::new(&self.limit_range)?,
            ManifestObject::new(&self.service_account)?,
            ManifestObject::new(&self.network_policy)?,
            ManifestObject::new(&self.service)?,
            ManifestObject::new(&self.deployment)?,
        ];
        if let Some(ingress) = &self.ingress {
            objects.push(ManifestObject::new(ingress)?);
        }
        if let Some(hpa) = &self.autoscaler {
            objects.push(ManifestObject::new(hpa)?);
        }
        if let Some(pdb) = &self.disruption_budget {
            objects.push(ManifestObject::new(pdb)?);
        }
        Ok(objects)
    }
}

/// What an apply did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// `Kind/name` of every object applied.
    pub applied: Vec<String>,
    /// `Kind/name` of the objects whose spec or metadata changed (status is not compared).
    pub changed: Vec<String>,
}

/// The change an apply would make to one object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectChange {
    pub kind: String,
    pub name: String,
    /// The object does not exist yet.
    pub created: bool,
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

impl From<ObjectChange> for app::api::deploy_fns::ObjectPreview {
    fn from(change: ObjectChange) -> Self {
        Self {
            kind: change.kind,
            name: change.name,
            created: change.created,
            added: change.added,
            changed: change.changed,
            removed: change.removed,
        }
    }
}

impl ObjectChange {
    pub fn is_empty(&self) -> bool {
        !self.created && self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

#[derive(Clone)]
pub struct Applier {
    client: Client,
}

/// Whether labels say Canopy made the object.
fn is_canopys(labels: Option<&BTreeMap<String, String>>) -> bool {
    labels
        .and_then(|l| l.get("app.kubernetes.io/managed-by"))
        .is_some_and(|by| by == super::render::MANAGED_BY)
}

/// `Ok` when the live object may be written by this deploy: Canopy made it, for the same team.
fn ensure_ours(object: &ManifestObject, live: &DynamicObject) -> Result<()> {
    let refuse = |why: String| ApplyError::NotOurs {
        kind: object.kind().to_owned(),
        name: object.name(),
        why,
    };
    let labels = live.metadata.labels.as_ref();
    if !is_canopys(labels) {
        return Err(refuse(
            "it exists and was not created by Canopy (it has no app.kubernetes.io/managed-by=canopy label)".to_owned(),
        ));
    }
    let team_of = |labels: Option<&BTreeMap<String, String>>| {
        labels
            .and_then(|l| l.get(super::render::LABEL_TEAM))
            .cloned()
    };
    let ours = team_of(object.object.metadata.labels.as_ref());
    let theirs = team_of(labels);
    if theirs != ours {
        return Err(refuse(format!(
            "it belongs to team {}",
            theirs.unwrap_or_else(|| "(none)".to_owned())
        )));
    }
    Ok(())
}

impl Applier {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Which optional API versions the cluster serves (uses the plain group list; aggregated
    /// discovery is not served by older clusters).
    pub async fn capabilities(&self) -> Result<Capabilities> {
        let groups = self
            .client
            .list_api_groups()
            .await
            .map_err(ApplyError::Discovery)?;
        let serves = |group: &str, version: &str| {
            groups
                .groups
                .iter()
                .any(|g| g.name == group && g.versions.iter().any(|v| v.version == version))
        };
        Ok(Capabilities {
            autoscaling_v2: serves("autoscaling", "v2"),
            policy_v1: serves("policy", "v1"),
        })
    }

    /// Applies every object with server-side apply (forcing ownership of Canopy's fields), and
    /// merges supplied secret values into the service's Secret without dropping other keys.
    pub async fn apply(&self, rendered: &RenderedService) -> Result<ApplyReport> {
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let mut report = ApplyReport::default();
        let manifest = rendered.manifest()?;
        // Nothing is written unless every object is Canopy's to write.
        let mut existing = Vec::with_capacity(manifest.len());
        for object in &manifest {
            let live = object
                .api(&self.client)
                .get_opt(&object.name())
                .await
                .map_err(|e| object.refusal(e))?;
            if let Some(live) = &live {
                ensure_ours(object, live)?;
            }
            existing.push(live);
        }
        self.ensure_host_free(rendered).await?;
        for (object, live) in manifest.into_iter().zip(existing) {
            let api = object.api(&self.client);
            let before = live.map(|o| comparable(&o));
            let after = api
                .patch(&object.name(), &params, &Patch::Apply(&object.object))
                .await
                .map_err(|e| object.refusal(e))?;
            let label = format!("{}/{}", object.kind(), object.name());
            // Compared without status and bookkeeping: controllers update those (a quota's
            // usage, a Deployment's replicas) at any time, which is no change of Canopy's.
            if before.as_ref() != Some(&comparable(&after)) {
                report.changed.push(label.clone());
            }
            report.applied.push(label);
        }
        if let Some(secret) = &rendered.secret {
            if self.merge_secret(secret).await? {
                report.changed.push(format!(
                    "Secret/{}",
                    secret.metadata.name.clone().unwrap_or_default()
                ));
            }
            report.applied.push(format!(
                "Secret/{}",
                secret.metadata.name.clone().unwrap_or_default()
            ));
        }
        Ok(report)
    }

    /// `Ok` unless another Ingress in the cluster (any namespace, Canopy's or not) already routes
    /// the rendered route's host.
    async fn ensure_host_free(&self, rendered: &RenderedService) -> Result<()> {
        use k8s_openapi::api::networking::v1::Ingress;
        let Some(ours) = &rendered.ingress else {
            return Ok(());
        };
        let hosts = |ingress: &Ingress| -> Vec<String> {
            ingress
                .spec
                .iter()
                .flat_map(|s| s.rules.iter().flatten())
                .filter_map(|r| r.host.clone())
                .collect()
        };
        let wanted = hosts(ours);
        let (our_ns, our_name) = (
            ours.metadata.namespace.clone().unwrap_or_default(),
            ours.metadata.name.clone().unwrap_or_default(),
        );
        let all: Api<Ingress> = Api::all(self.client.clone());
        let listed = all
            .list(&kube::api::ListParams::default())
            .await
            .map_err(|source| ApplyError::Object {
                kind: "Ingress".to_owned(),
                name: "(all namespaces)".to_owned(),
                source,
            })?;
        for other in listed.items {
            let (ns, name) = (
                other.metadata.namespace.clone().unwrap_or_default(),
                other.metadata.name.clone().unwrap_or_default(),
            );
            if ns == our_ns && name == our_name {
                continue;
            }
            if let Some(host) = hosts(&other).into_iter().find(|h| wanted.contains(h)) {
                return Err(ApplyError::HostTaken {
                    host,
                    namespace: ns,
                    name,
                });
            }
        }
        Ok(())
    }

    /// Creates the Secret, or merges the given keys into it (other keys stay). Returns whether
    /// anything was written.
    async fn merge_secret(&self, secret: &Secret) -> Result<bool> {
        let namespace = secret.metadata.namespace.clone().unwrap_or_default();
        let name = secret.metadata.name.clone().unwrap_or_default();
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &namespace);
        let refusal = |source| ApplyError::Object {
            kind: "Secret".to_owned(),
            name: name.clone(),
            source,
        };
        match api.get_opt(&name).await.map_err(refusal)? {
            None => {
                api.create(&PostParams::default(), secret)
                    .await
                    .map_err(refusal)?;
                Ok(true)
            }
            Some(existing) => {
                if !is_canopys(existing.metadata.labels.as_ref()) {
                    return Err(ApplyError::NotOurs {
                        kind: "Secret".to_owned(),
                        name: name.clone(),
                        why: "it exists and was not created by Canopy".to_owned(),
                    });
                }
                let patch = serde_json::json!({
                    "metadata": {
                        "labels": secret.metadata.labels,
                        "annotations": secret.metadata.annotations,
                    },
                    "stringData": secret.string_data,
                });
                let after = api
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map_err(refusal)?;
                Ok(after.metadata.resource_version != existing.metadata.resource_version)
            }
        }
    }

    /// What applying `rendered` would change, per object, from a server-side dry run compared
    /// with the live objects. Secret values are never included.
    pub async fn preview(&self, rendered: &RenderedService) -> Result<Vec<ObjectChange>> {
        let params = {
            let mut p = PatchParams::apply(FIELD_MANAGER).force();
            p.dry_run = true;
            p
        };
        let mut changes = Vec::new();
        for object in rendered.manifest()? {
            let api = object.api(&self.client);
            let live = api
                .get_opt(&object.name())
                .await
                .map_err(|e| object.refusal(e))?;
            if let Some(live) = &live {
                ensure_ours(&object, live)?;
            }
            let namespace_missing = live.is_none()
                && object.object.metadata.namespace.is_some()
                && changes
                    .iter()
                    .any(|c: &ObjectChange| c.kind == "Namespace" && c.created);
            let dry = if namespace_missing {
                // A dry run cannot create inside a namespace that does not exist yet.
                None
            } else {
                Some(
                    api.patch(&object.name(), &params, &Patch::Apply(&object.object))
                        .await
                        .map_err(|e| object.refusal(e))?,
                )
            };
            let mut change = ObjectChange {
                kind: object.kind().to_owned(),
                name: object.name(),
                created: live.is_none(),
                ..ObjectChange::default()
            };
            if let (Some(live), Some(dry)) = (&live, &dry) {
                let old = flatten(&comparable(live));
                let new = flatten(&comparable(dry));
                for (path, value) in &new {
                    match old.get(path) {
                        None => change.added.push(path.clone()),
                        Some(previous) if previous != value => change.changed.push(path.clone()),
                        Some(_) => {}
                    }
                }
                change.removed = old
                    .keys()
                    .filter(|p| !new.contains_key(*p))
                    .cloned()
                    .collect();
            }
            changes.push(change);
        }
        if let Some(secret) = &rendered.secret {
            let api: Api<Secret> = Api::namespaced(
                self.client.clone(),
                secret.metadata.namespace.as_deref().unwrap_or_default(),
            );
            let name = secret.metadata.name.clone().unwrap_or_default();
            let live = api
                .get_opt(&name)
                .await
                .map_err(|source| ApplyError::Object {
                    kind: "Secret".to_owned(),
                    name: name.clone(),
                    source,
                })?;
            changes.push(ObjectChange {
                kind: "Secret".to_owned(),
                created: live.is_none(),
                changed: secret
                    .string_data
                    .iter()
                    .flat_map(|data| data.keys())
                    .map(|key| format!("data.{key} (value hidden)"))
                    .collect(),
                name,
                ..ObjectChange::default()
            });
        }
        Ok(changes)
    }

    /// Applies a team namespace's ResourceQuota when the namespace exists (the team's first
    /// deploy to an environment creates it). Returns the quota's usage as the quota controller
    /// last recorded it (`status.used`, e.g. `requests.cpu: 750m`), or `None` when there is no
    /// such namespace.
    pub async fn apply_quota(&self, quota: &ResourceQuota) -> Result<Option<QuotaUsage>> {
        let object = ManifestObject::new(quota)?;
        let namespace = object.object.metadata.namespace.clone().unwrap_or_default();
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let exists = namespaces
            .get_opt(&namespace)
            .await
            .map_err(|source| ApplyError::Object {
                kind: "Namespace".to_owned(),
                name: namespace.clone(),
                source,
            })?
            .is_some();
        if !exists {
            return Ok(None);
        }
        let after = object
            .api(&self.client)
            .patch(
                &object.name(),
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&object.object),
            )
            .await
            .map_err(|e| object.refusal(e))?;
        let used = after
            .data
            .pointer("/status/used")
            .and_then(Value::as_object)
            .map(|used| {
                used.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(used))
    }
}

/// The parts of an object a user changes: no server bookkeeping, no status.
fn comparable(object: &DynamicObject) -> Value {
    let mut value = serde_json::to_value(object).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.remove("status");
        if let Some(Value::Object(meta)) = map.get_mut("metadata") {
            for key in [
                "managedFields",
                "resourceVersion",
                "generation",
                "creationTimestamp",
                "uid",
                "selfLink",
            ] {
                meta.remove(key);
            }
            if let Some(Value::Object(annotations)) = meta.get_mut("annotations") {
                annotations.remove("deployment.kubernetes.io/revision");
            }
        }
    }
    value
}

/// Flattens JSON into `path -> leaf value` (`spec.template.spec.containers[0].image`).
fn flatten(value: &Value) -> BTreeMap<String, Value> {
    fn walk(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (key, child) in map {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(&path, child, out);
                }
            }
            Value::Array(items) if !items.is_empty() => {
                for (i, child) in items.iter().enumerate() {
                    walk(&format!("{prefix}[{i}]"), child, out);
                }
            }
            leaf => {
                out.insert(prefix.to_owned(), leaf.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk("", value, &mut out);
    out
}

/// The group/version/kind of a typed object (for messages).
pub fn gvk<K: Resource<DynamicType = ()>>() -> GroupVersionKind {
    GroupVersionKind::gvk(&K::group(&()), &K::version(&()), &K::kind(&()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota};

    #[test]
    fn flatten_names_leaf_paths() {
        let flat = flatten(&serde_json::json!({"spec": {"replicas": 2, "c": [{"image": "a:1"}]}}));
        assert_eq!(flat.get("spec.replicas"), Some(&serde_json::json!(2)));
        assert_eq!(flat.get("spec.c[0].image"), Some(&serde_json::json!("a:1")));
    }

    #[test]
    fn kinds_are_known() {
        assert_eq!(gvk::<Namespace>().kind, "Namespace");
        assert_eq!(gvk::<ResourceQuota>().version, "v1");
        assert_eq!(gvk::<LimitRange>().group, "");
    }
}
