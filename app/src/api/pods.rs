//! A deployed service's pods, their events and container logs: the types the service page and
//! the REST API exchange, and the server functions that fetch them through `DeployBackend`.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::{deploys::Problem, spec::SpecError, AppError};

/// Lines of a log shown when no `tail` is given.
pub const DEFAULT_TAIL_LINES: u32 = 100;
/// The most lines one log request may ask for.
pub const MAX_TAIL_LINES: u32 = 5000;

/// One pod of a service, as the page lists it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodInfo {
    pub name: String,
    /// Kubernetes' phase: `Pending`, `Running`, `Succeeded`, `Failed`, `Unknown`.
    pub phase: String,
    /// Containers ready, of `containers_total`.
    pub containers_ready: u32,
    pub containers_total: u32,
    /// Restarts of all its containers together.
    pub restarts: i32,
    /// When the pod was created (RFC 3339) and how long ago that was ("3m", "2h").
    pub created_at: Option<String>,
    pub age: String,
    /// The node it runs on (none while it waits for one).
    pub node: Option<String>,
    /// Where it stands in a few plain words: "Running", "Crashing", "Waiting for a node", ...
    pub status: String,
    /// What is wrong with it, in plain language, if anything.
    pub problem: Option<Problem>,
    /// Canopy's revision of the spec it runs.
    pub revision: Option<i64>,
    /// Its containers, by name (the first is the default for logs).
    pub containers: Vec<String>,
    /// It runs the newest version of the service.
    pub newest: bool,
}

impl PodInfo {
    /// "1/1": ready containers of all.
    pub fn ready_text(&self) -> String {
        format!("{}/{}", self.containers_ready, self.containers_total)
    }

    /// Fully ready and running.
    pub fn healthy(&self) -> bool {
        self.phase == "Running"
            && self.containers_total > 0
            && self.containers_ready == self.containers_total
            && self.problem.is_none()
    }
}

/// One Kubernetes event about a service's Deployment, ReplicaSets or pods.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventInfo {
    /// `Normal` or `Warning`.
    pub kind: String,
    pub reason: String,
    pub message: String,
    /// `Pod/web-7d9c-x2`, `ReplicaSet/web-7d9c`, `Deployment/web`.
    pub object: String,
    /// How many times it happened.
    pub count: i32,
    /// When it last happened (RFC 3339) and how long ago.
    pub last_seen: Option<String>,
    pub ago: String,
}

impl EventInfo {
    pub fn is_warning(&self) -> bool {
        self.kind == "Warning"
    }
}

/// The pods of a service in one environment and the events about it, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePods {
    pub pods: Vec<PodInfo>,
    pub events: Vec<EventInfo>,
    /// Canopy is connected to a cluster (without one, there is nothing to list).
    pub cluster: bool,
}

/// The last lines of one container's log.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodLog {
    pub pod: String,
    pub container: String,
    /// The log of the container instance before the last restart.
    pub previous: bool,
    pub lines: Vec<String>,
    /// The pod's containers, to choose another.
    pub containers: Vec<String>,
    /// The container has restarted, so a previous instance's log may exist.
    pub has_previous: bool,
}

/// Which log to read: the pod (of the service) and container, how many lines, which instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRequest {
    pub pod: String,
    /// The pod's first container when `None`.
    pub container: Option<String>,
    pub tail_lines: u32,
    pub previous: bool,
}

/// Parses a `tail` given as text (query string, form): 1 to [`MAX_TAIL_LINES`].
pub fn parse_tail(raw: Option<&str>) -> Result<u32, AppError> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(DEFAULT_TAIL_LINES);
    };
    match raw.parse::<u32>() {
        Ok(n) if (1..=MAX_TAIL_LINES).contains(&n) => Ok(n),
        _ => Err(AppError::InvalidSpec {
            errors: vec![SpecError {
                field: "tail".to_owned(),
                message: format!("{raw:?} is not a number of lines from 1 to {MAX_TAIL_LINES}"),
            }],
        }),
    }
}

/// The pods and events of a service in an environment.
#[server(prefix = "/api/fn", endpoint = "get_service_pods")]
pub async fn get_service_pods(
    team: String,
    service: String,
    environment: String,
) -> Result<ServicePods, AppError> {
    let service = super::ServiceRef::parse(&team, &service, &environment)?;
    super::backend::deploy_backend()?
        .pods(&super::auth::principal()?, service)
        .await
}

/// What the log viewer shows: the log, or why there is none to show (no pod yet, a container
/// still waiting to start, no previous instance), which is not an error of the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogView {
    /// The pod asked for (empty: none could be chosen).
    pub pod: String,
    pub previous: bool,
    pub log: Option<PodLog>,
    /// Why there is no log, in plain words.
    pub unavailable: Option<String>,
}

/// The last lines of a container's log (`pod` empty: the service's first pod).
#[server(prefix = "/api/fn", endpoint = "get_pod_log")]
pub async fn get_pod_log(
    team: String,
    service: String,
    environment: String,
    pod: String,
    container: Option<String>,
    previous: bool,
    tail: Option<String>,
) -> Result<LogView, AppError> {
    let tail_lines = parse_tail(tail.as_deref())?;
    let service = super::ServiceRef::parse(&team, &service, &environment)?;
    let who = super::auth::principal()?;
    let backend = super::backend::deploy_backend()?;
    let pod = if pod.trim().is_empty() {
        let pods = backend.pods(&who, service.clone()).await?;
        match pods.pods.into_iter().next() {
            Some(first) => first.name,
            None => {
                return Ok(LogView {
                    pod: String::new(),
                    previous,
                    log: None,
                    unavailable: Some(format!(
                        "{} has no pods in {} right now.",
                        service.service,
                        service.environment.as_str()
                    )),
                })
            }
        }
    } else {
        pod
    };
    let read = backend
        .pod_log(
            &who,
            service,
            LogRequest {
                pod: pod.clone(),
                container: container.filter(|c| !c.trim().is_empty()),
                tail_lines,
                previous,
            },
        )
        .await;
    match read {
        Ok(log) => Ok(LogView {
            pod,
            previous,
            log: Some(log),
            unavailable: None,
        }),
        Err(error @ AppError::NotFound { .. }) => Ok(LogView {
            pod,
            previous,
            log: None,
            unavailable: Some(error.to_string()),
        }),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_defaults_and_bounds() {
        assert_eq!(parse_tail(None), Ok(DEFAULT_TAIL_LINES));
        assert_eq!(parse_tail(Some(" 20 ")), Ok(20));
        for bad in ["0", "-3", "lots", "5001"] {
            match parse_tail(Some(bad)) {
                Err(AppError::InvalidSpec { errors }) => {
                    assert_eq!(errors[0].field, "tail");
                    assert!(errors[0].message.contains("1 to 5000"), "{errors:?}");
                }
                other => panic!("{bad}: expected a tail error, got {other:?}"),
            }
        }
    }
}
