//! Container logs of a service's pods through the pod log API: the last lines, the previous
//! instance's, the whole log (download) and a live follow. A pod must carry the service's label
//! (a pod of another service in the same namespace is "not found"), and a container must be
//! one of the pod's.

use app::api::pods::{LogRequest, PodLog};
use futures::{AsyncBufReadExt, Stream};
use k8s_openapi::api::core::v1::Pod;
use kube::{api::LogParams, Api, Client};

use super::pods::belongs_to;
use super::DeployError;

/// A download stops after this many bytes (the simulator keeps 1000 lines per instance; a
/// kubelet rotates at 10 MiB by default).
pub const MAX_DOWNLOAD_BYTES: i64 = 10 * 1024 * 1024;

/// A container of a service's pod, checked to exist.
#[derive(Debug, Clone)]
pub struct LogSource {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    /// The pod's containers, by name.
    pub containers: Vec<String>,
    /// The container has restarted at least once (a previous instance exists).
    pub has_previous: bool,
}

/// Finds pod `pod` of `service` in `namespace` and its container (`None`: the first).
pub async fn source(
    client: &Client,
    namespace: &str,
    service: &str,
    pod: &str,
    container: Option<&str>,
) -> Result<LogSource, DeployError> {
    let not_found = || DeployError::NotFound {
        what: format!("Pod {pod} of service {service}"),
    };
    // Pod names are DNS subdomains; anything else cannot be one (and is never sent on).
    if pod.is_empty()
        || pod.len() > 253
        || !pod
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        return Err(not_found());
    }
    let found = Api::<Pod>::namespaced(client.clone(), namespace)
        .get_opt(pod)
        .await?
        .filter(|p| belongs_to(p, service))
        .ok_or_else(not_found)?;
    let containers: Vec<String> = found
        .spec
        .iter()
        .flat_map(|s| s.containers.iter().map(|c| c.name.clone()))
        .collect();
    let container = match container {
        Some(name) => containers
            .iter()
            .find(|c| c.as_str() == name)
            .cloned()
            .ok_or_else(|| DeployError::NotFound {
                what: format!(
                    "Container {name:?} in pod {pod} (its containers: {})",
                    containers.join(", ")
                ),
            })?,
        None => containers.first().cloned().ok_or_else(not_found)?,
    };
    let has_previous = found
        .status
        .iter()
        .flat_map(|s| s.container_statuses.iter().flatten())
        .any(|s| s.name == container && s.restart_count > 0);
    Ok(LogSource {
        namespace: namespace.to_owned(),
        pod: pod.to_owned(),
        container,
        containers,
        has_previous,
    })
}

impl LogSource {
    fn api(&self, client: &Client) -> Api<Pod> {
        Api::namespaced(client.clone(), &self.namespace)
    }

    fn no_previous(&self) -> DeployError {
        DeployError::NotFound {
            what: format!(
                "A previous instance of container {} in pod {} (it has not restarted, so there is no earlier log; the current log is all there is)",
                self.container, self.pod
            ),
        }
    }

    /// Kubernetes refuses a log it does not have (a container still waiting to start, no
    /// previous instance) with 400 Bad Request and its reason: say that, not "internal error".
    fn refused(&self, previous: bool, error: kube::Error) -> DeployError {
        match error {
            kube::Error::Api(status) if status.code == 400 || status.code == 404 => {
                DeployError::NotFound {
                    what: format!(
                        "A {}log of container {} in pod {} (Kubernetes says: {})",
                        if previous { "previous instance's " } else { "" },
                        self.container,
                        self.pod,
                        status.message.trim()
                    ),
                }
            }
            other => DeployError::Kube(other),
        }
    }

    fn params(&self, previous: bool) -> LogParams {
        LogParams {
            container: Some(self.container.clone()),
            previous,
            ..LogParams::default()
        }
    }

    /// The last `tail_lines` lines (of the previous instance with `previous`).
    pub async fn tail(
        &self,
        client: &Client,
        tail_lines: u32,
        previous: bool,
    ) -> Result<Vec<String>, DeployError> {
        if previous && !self.has_previous {
            return Err(self.no_previous());
        }
        let params = LogParams {
            tail_lines: Some(i64::from(tail_lines)),
            ..self.params(previous)
        };
        let text = self
            .api(client)
            .logs(&self.pod, &params)
            .await
            .map_err(|e| self.refused(previous, e))?;
        Ok(text.lines().map(str::to_owned).collect())
    }

    /// The whole log (up to [`MAX_DOWNLOAD_BYTES`]).
    pub async fn whole(&self, client: &Client, previous: bool) -> Result<String, DeployError> {
        if previous && !self.has_previous {
            return Err(self.no_previous());
        }
        let params = LogParams {
            limit_bytes: Some(MAX_DOWNLOAD_BYTES),
            ..self.params(previous)
        };
        self.api(client)
            .logs(&self.pod, &params)
            .await
            .map_err(|e| self.refused(previous, e))
    }

    /// The last `tail_lines` lines, then each new line as the container writes it. Ends when
    /// the container instance does (a restart) or the pod is deleted.
    pub async fn follow(
        &self,
        client: &Client,
        tail_lines: u32,
    ) -> Result<impl Stream<Item = Result<String, std::io::Error>> + Send + use<>, DeployError>
    {
        let params = LogParams {
            follow: true,
            tail_lines: Some(i64::from(tail_lines)),
            ..self.params(false)
        };
        let reader = self
            .api(client)
            .log_stream(&self.pod, &params)
            .await
            .map_err(|e| self.refused(false, e))?;
        Ok(reader.lines())
    }

    /// The log as the page shows it.
    pub fn page_log(self, previous: bool, lines: Vec<String>) -> PodLog {
        PodLog {
            pod: self.pod,
            container: self.container,
            previous,
            lines,
            containers: self.containers,
            has_previous: self.has_previous,
        }
    }
}

/// The last lines of the log `request` names.
pub async fn pod_log(
    client: &Client,
    namespace: &str,
    service: &str,
    request: &LogRequest,
) -> Result<PodLog, DeployError> {
    let source = source(
        client,
        namespace,
        service,
        &request.pod,
        request.container.as_deref(),
    )
    .await?;
    let lines = source
        .tail(client, request.tail_lines, request.previous)
        .await?;
    Ok(source.page_log(request.previous, lines))
}
