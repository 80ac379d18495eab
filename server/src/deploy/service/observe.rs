//! Reading what runs for a deployed service: its pods, the events about it, and its containers'
//! logs (only for pods of that service).

use app::api::{
    pods::{LogRequest, PodLog, ServicePods},
    ServiceRef,
};

use super::{not_deployed, DeployService};
use crate::deploy::{logs::LogSource, DeployError};

impl DeployService {
    /// The Kubernetes namespace of a deployed service, after checking that the service has been
    /// deployed to this environment.
    async fn deployed_namespace(&self, of: &ServiceRef) -> Result<String, DeployError> {
        let newest = self.records.history(of, 1).await?;
        if newest.is_empty() {
            return Err(not_deployed(of));
        }
        Ok(of.namespace())
    }

    /// The cluster's client, for reading pods, events and logs.
    pub fn client(&self) -> Result<&kube::Client, DeployError> {
        Ok(self.applier()?.client())
    }

    /// The pods of a deployed service and the events about it (nothing without a cluster).
    pub async fn pods(&self, of: &ServiceRef) -> Result<ServicePods, DeployError> {
        let namespace = self.deployed_namespace(of).await?;
        let Some(applier) = &self.applier else {
            return Ok(ServicePods::default());
        };
        crate::deploy::pods::service_pods(applier.client(), &namespace, of.service.as_str()).await
    }

    /// A container of one of a deployed service's pods, to read its log.
    pub async fn log_source(
        &self,
        of: &ServiceRef,
        pod: &str,
        container: Option<&str>,
    ) -> Result<LogSource, DeployError> {
        let namespace = self.deployed_namespace(of).await?;
        crate::deploy::logs::source(
            self.client()?,
            &namespace,
            of.service.as_str(),
            pod,
            container,
        )
        .await
    }

    /// The last lines of a container's log.
    pub async fn pod_log(
        &self,
        of: &ServiceRef,
        request: &LogRequest,
    ) -> Result<PodLog, DeployError> {
        let source = self
            .log_source(of, &request.pod, request.container.as_deref())
            .await?;
        let lines = source
            .tail(self.client()?, request.tail_lines, request.previous)
            .await?;
        Ok(source.page_log(request.previous, lines))
    }
}
