//! Deleting what Canopy created for a service: every kind it renders, found by Canopy's labels
//! in the service's namespace, and nothing else.

use k8s_openapi::api::{
    apps::v1::Deployment,
    autoscaling::v2::HorizontalPodAutoscaler,
    core::v1::{Secret, Service, ServiceAccount},
    networking::v1::{Ingress, NetworkPolicy},
    policy::v1::PodDisruptionBudget,
};
use kube::{
    api::{Api, DeleteParams, DynamicObject, ListParams},
    core::ApiResource,
};

use super::{Applier, ApplyError, Result};

impl Applier {
    /// Deletes every object labelled as Canopy's for this service in `namespace`; leaves the
    /// namespace and everything else. Returns `Kind/name` of what was deleted.
    pub async fn delete_service(&self, namespace: &str, selector: &str) -> Result<Vec<String>> {
        let mut deleted = Vec::new();
        let kinds = [
            ApiResource::erase::<Deployment>(&()),
            ApiResource::erase::<Service>(&()),
            ApiResource::erase::<Ingress>(&()),
            ApiResource::erase::<HorizontalPodAutoscaler>(&()),
            ApiResource::erase::<PodDisruptionBudget>(&()),
            ApiResource::erase::<NetworkPolicy>(&()),
            ApiResource::erase::<ServiceAccount>(&()),
            ApiResource::erase::<Secret>(&()),
        ];
        let capabilities = self.capabilities().await?;
        let params = DeleteParams::foreground();
        for resource in kinds {
            if (resource.group == "autoscaling" && !capabilities.autoscaling_v2)
                || (resource.group == "policy" && !capabilities.policy_v1)
            {
                continue;
            }
            let api: Api<DynamicObject> =
                Api::namespaced_with(self.client.clone(), namespace, &resource);
            let list = api
                .list(&ListParams::default().labels(selector))
                .await
                .map_err(|source| ApplyError::Object {
                    kind: resource.kind.clone(),
                    name: format!("(list {selector})"),
                    source,
                })?;
            for item in list.items {
                let name = item.metadata.name.clone().unwrap_or_default();
                match api.delete(&name, &params).await {
                    Ok(_) => deleted.push(format!("{}/{name}", resource.kind)),
                    Err(kube::Error::Api(status)) if status.code == 404 => {}
                    Err(source) => {
                        return Err(ApplyError::Object {
                            kind: resource.kind.clone(),
                            name,
                            source,
                        })
                    }
                }
            }
        }
        Ok(deleted)
    }
}
