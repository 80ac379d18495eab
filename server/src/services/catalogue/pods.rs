//! Pods ready per service without asking the API server per row: one reflector of Canopy's
//! Deployments (every namespace, those labelled `canopy.dev/service`), kept current by a
//! watch; the catalogue's refresh reads ready and desired replicas from its store.

use std::collections::HashMap;

use app::api::catalogue::PodsReady;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::{
    runtime::{
        reflector::{self, Store},
        watcher, WatchStreamExt,
    },
    Api, Client,
};
use tokio_util::sync::CancellationToken;

use crate::deploy::render::{LABEL_SERVICE, LABEL_TEAM};

/// The watched Deployments of Canopy's services.
#[derive(Clone)]
pub struct DeploymentWatch {
    store: Store<Deployment>,
}

impl DeploymentWatch {
    /// Starts the watch (retried with backoff while the API server cannot be reached) until
    /// `shutdown`.
    pub fn start(client: Client, shutdown: CancellationToken) -> Self {
        let api = Api::<Deployment>::all(client);
        let (store, writer) = reflector::store();
        let config = watcher::Config::default().labels(LABEL_SERVICE);
        let events = reflector::reflector(writer, watcher(api, config).default_backoff());
        tokio::spawn(async move {
            let mut events = std::pin::pin!(events);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    event = events.next() => match event {
                        Some(Ok(_)) => {}
                        Some(Err(error)) => {
                            tracing::warn!(%error, "catalogue's Deployment watch interrupted; retrying");
                        }
                        None => break,
                    },
                }
            }
        });
        Self { store }
    }

    /// Ready and desired replicas per team and service, over all its environments.
    pub fn counts(&self) -> PodCounts {
        let mut counts: HashMap<(String, String), PodsReady> = HashMap::new();
        for deployment in self.store.state() {
            let labels = deployment.metadata.labels.as_ref();
            let (Some(team), Some(service)) = (
                labels.and_then(|l| l.get(LABEL_TEAM)),
                labels.and_then(|l| l.get(LABEL_SERVICE)),
            ) else {
                continue;
            };
            let desired = deployment
                .spec
                .as_ref()
                .and_then(|s| s.replicas)
                .unwrap_or(1);
            let ready = deployment
                .status
                .as_ref()
                .and_then(|s| s.ready_replicas)
                .unwrap_or(0);
            let sum = counts
                .entry((team.clone(), service.clone()))
                .or_insert(PodsReady {
                    ready: 0,
                    desired: 0,
                });
            sum.ready += u32::try_from(ready).unwrap_or(0);
            sum.desired += u32::try_from(desired).unwrap_or(0);
        }
        PodCounts(counts)
    }
}

/// Pods ready per (team, service), read from the watch at one refresh.
#[derive(Debug, Default)]
pub struct PodCounts(HashMap<(String, String), PodsReady>);

impl PodCounts {
    /// A service with no Deployment in the cluster has 0 of 0.
    pub fn of(&self, team: &str, service: &str) -> PodsReady {
        self.0
            .get(&(team.to_owned(), service.to_owned()))
            .copied()
            .unwrap_or(PodsReady {
                ready: 0,
                desired: 0,
            })
    }
}
