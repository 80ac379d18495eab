//! Observing what runs for a deployed service: its pods, the events about it, and its
//! containers' logs (only for pods of that service). Reads only; changes go through
//! [`super::service::DeployService`].

use app::api::{
    pods::{LogRequest, PodLog, ServicePods},
    ServiceRef,
};

use super::{error::not_deployed, logs::LogSource, records::DeployRecords, DeployError};

/// Reads pods, events and logs of deployed services (a cluster client, and the deploy records to
/// know what was deployed where).
#[derive(Clone)]
pub struct ServiceObserver {
    records: DeployRecords,
    client: Option<kube::Client>,
}

impl ServiceObserver {
    pub fn new(records: DeployRecords, client: Option<kube::Client>) -> Self {
        Self { records, client }
    }

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
        self.client.as_ref().ok_or_else(super::error::no_cluster)
    }

    /// The pods of a deployed service and the events about it (nothing without a cluster).
    pub async fn pods(&self, of: &ServiceRef) -> Result<ServicePods, DeployError> {
        let namespace = self.deployed_namespace(of).await?;
        let Some(client) = &self.client else {
            return Ok(ServicePods::default());
        };
        super::pods::service_pods(client, &namespace, of.service.as_str()).await
    }

    /// A container of one of a deployed service's pods, to read its log.
    pub async fn log_source(
        &self,
        of: &ServiceRef,
        pod: &str,
        container: Option<&str>,
    ) -> Result<LogSource, DeployError> {
        let namespace = self.deployed_namespace(of).await?;
        super::logs::source(
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
