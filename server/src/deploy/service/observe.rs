//! Reading what runs for a deployed service: its pods, the events about it, and its containers'
//! logs (only for pods of that service).

use app::api::{
    pods::{LogRequest, PodLog, ServicePods},
    spec::Environment,
    AppError, ServiceName, TeamName,
};

use super::DeployService;
use crate::deploy::logs::LogSource;

impl DeployService {
    /// The Kubernetes namespace of a deployed service, after checking the names and that the
    /// service has been deployed to this environment.
    async fn deployed_namespace(
        &self,
        team: &str,
        service: &str,
        environment: Environment,
    ) -> Result<String, AppError> {
        let not_found = || AppError::NotFound {
            what: format!("A deploy of {service} in {}", environment.as_str()),
        };
        let team = TeamName::parse(team).map_err(|_| not_found())?;
        let service = ServiceName::parse(service).map_err(|_| not_found())?;
        let newest = self
            .records
            .history(team.as_str(), service.as_str(), environment, 1)
            .await?;
        if newest.is_empty() {
            return Err(not_found());
        }
        Ok(format!("{team}-{}", environment.as_str()))
    }

    /// The cluster's client, for reading pods, events and logs.
    pub fn client(&self) -> Result<&kube::Client, AppError> {
        Ok(self.applier()?.client())
    }

    /// The pods of a deployed service and the events about it (nothing without a cluster).
    pub async fn pods(
        &self,
        team: &str,
        service: &str,
        environment: Environment,
    ) -> Result<ServicePods, AppError> {
        let namespace = self.deployed_namespace(team, service, environment).await?;
        let Some(applier) = &self.applier else {
            return Ok(ServicePods::default());
        };
        crate::deploy::pods::service_pods(applier.client(), &namespace, service).await
    }

    /// A container of one of a deployed service's pods, to read its log.
    pub async fn log_source(
        &self,
        team: &str,
        service: &str,
        environment: Environment,
        pod: &str,
        container: Option<&str>,
    ) -> Result<LogSource, AppError> {
        let namespace = self.deployed_namespace(team, service, environment).await?;
        crate::deploy::logs::source(self.client()?, &namespace, service, pod, container).await
    }

    /// The last lines of a container's log.
    pub async fn pod_log(
        &self,
        team: &str,
        service: &str,
        environment: Environment,
        request: &LogRequest,
    ) -> Result<PodLog, AppError> {
        let source = self
            .log_source(
                team,
                service,
                environment,
                &request.pod,
                request.container.as_deref(),
            )
            .await?;
        let lines = source
            .tail(self.client()?, request.tail_lines, request.previous)
            .await?;
        Ok(source.page_log(request.previous, lines))
    }
}
