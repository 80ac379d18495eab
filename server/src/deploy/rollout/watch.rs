//! Watching one rollout: kube-runtime watchers on the Deployment, its ReplicaSets, its pods and
//! the namespace's events keep reflector stores current; after each change (briefly debounced,
//! so a burst of updates gives one snapshot) the rollout is judged and diagnosed again, and a
//! snapshot is yielded when anything a user would see changed. Nothing polls.

use std::{collections::BTreeMap, pin::pin, time::Duration};

use futures::{
    stream::{self, BoxStream},
    FutureExt, Stream, StreamExt,
};
use k8s_openapi::api::{
    apps::v1::{Deployment, ReplicaSet},
    core::v1::{Event, Pod},
};
use kube::{
    runtime::{
        reflector::{self, Store},
        watcher, WatchStreamExt,
    },
    Api, Client, Resource,
};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::{
    judge, PodSummary, Result, RolloutEnd, RolloutError, RolloutOutcome, RolloutSnapshot,
    RolloutStatus,
};
use crate::deploy::diagnose::{self, pod_selector, previous_log, Evidence};

/// How long to let a burst of changes settle before judging again.
const SETTLE: Duration = Duration::from_millis(150);
/// How long the final snapshot may wait for the pod watch to agree with the Deployment (the
/// two watches deliver independently).
const PODS_CATCH_UP: Duration = Duration::from_secs(3);

/// A final "available" snapshot must show what it claims: every desired new pod ready and
/// every old pod going away.
fn pods_agree(snapshot: &RolloutSnapshot) -> bool {
    let RolloutStatus::Available { replicas } = snapshot.status else {
        return true;
    };
    let ready_new = snapshot
        .pods
        .iter()
        .filter(|p| p.new_version && p.ready && p.state != "Terminating")
        .count();
    let old_running = snapshot
        .pods
        .iter()
        .any(|p| !p.new_version && p.state != "Terminating");
    ready_new >= usize::try_from(replicas).unwrap_or(0) && !old_running
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Deployment = 0,
    ReplicaSets = 1,
    Pods = 2,
    Events = 3,
}

enum Change {
    /// The watch has listed everything once (again, after a restart of the watch).
    Synced(Source),
    Changed,
}

/// Snapshots of the rollout of Deployment `name`, one each time what a user sees changes. The
/// stream ends after a snapshot whose status is finished (available or failed), or with an
/// error when the Deployment does not exist or is deleted. Watch errors are retried with
/// back-off (and logged), never yielded.
pub fn rollout_snapshots(
    client: Client,
    namespace: &str,
    name: &str,
) -> impl Stream<Item = Result<RolloutSnapshot>> + Send + 'static {
    enum Step {
        Start(Client, String, String),
        Watching(Box<Watch>),
        Done,
    }
    let start = Step::Start(client, namespace.to_owned(), name.to_owned());
    stream::unfold(start, |step| async move {
        let mut watch = match step {
            Step::Done => return None,
            Step::Watching(watch) => watch,
            Step::Start(client, namespace, name) => {
                match Watch::start(client, namespace, name).await {
                    Ok(watch) => Box::new(watch),
                    Err(error) => return Some((Err(error), Step::Done)),
                }
            }
        };
        match watch.next_snapshot().await {
            Ok(Some(snapshot)) => {
                let next = if snapshot.status.is_finished() {
                    Step::Done
                } else {
                    Step::Watching(watch)
                };
                Some((Ok(snapshot), next))
            }
            Ok(None) => None,
            Err(error) => Some((Err(error), Step::Done)),
        }
    })
}

/// Watches the rollout until it is available, fails, or `timeout` passes, calling `on_update`
/// with every new snapshot.
pub async fn watch_rollout(
    client: &Client,
    namespace: &str,
    name: &str,
    timeout: Duration,
    mut on_update: impl FnMut(RolloutSnapshot),
) -> Result<RolloutOutcome> {
    let started = Instant::now();
    let mut snapshots = pin!(rollout_snapshots(client.clone(), namespace, name));
    let mut deadline = pin!(tokio::time::sleep(timeout));
    let mut last: Option<RolloutSnapshot> = None;
    let end = loop {
        tokio::select! {
            next = snapshots.next() => match next {
                Some(Ok(snapshot)) => {
                    let end = match snapshot.status {
                        RolloutStatus::Available { .. } => Some(RolloutEnd::Available),
                        RolloutStatus::Failed { .. } => Some(RolloutEnd::Failed),
                        _ => None,
                    };
                    last = Some(snapshot.clone());
                    on_update(snapshot);
                    if let Some(end) = end {
                        break end;
                    }
                }
                Some(Err(error)) => return Err(error),
                // The stream ends only after a finished snapshot or an error.
                None => break RolloutEnd::TimedOut,
            },
            () = &mut deadline => break RolloutEnd::TimedOut,
        }
    };
    Ok(RolloutOutcome {
        end,
        last,
        elapsed: started.elapsed(),
    })
}

/// The objects of a store, cloned out of it.
fn owned<K: kube::runtime::reflector::Lookup + Clone>(store: &Store<K>) -> Vec<K>
where
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    store.state().iter().map(|item| (**item).clone()).collect()
}

struct Watch {
    client: Client,
    namespace: String,
    name: String,
    changes: BoxStream<'static, Change>,
    deployments: Store<Deployment>,
    replica_sets: Store<ReplicaSet>,
    pods: Store<Pod>,
    events: Store<Event>,
    synced: [bool; 4],
    /// Previous-instance logs already read, by (pod, container, restart count).
    logs: BTreeMap<(String, String, i32), String>,
    last: Option<RolloutSnapshot>,
}

/// A reflector-backed watch of `api` whose items say only that something changed.
fn watch_into<K>(
    api: Api<K>,
    config: watcher::Config,
    source: Source,
) -> (Store<K>, BoxStream<'static, Change>)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync,
    K: 'static,
{
    let (store, writer) = reflector::store();
    let changes = reflector::reflector(writer, watcher(api, config).default_backoff())
        .filter_map(move |event| async move {
            match event {
                Ok(watcher::Event::InitDone) => Some(Change::Synced(source)),
                Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_)) => Some(Change::Changed),
                Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => None,
                Err(error) => {
                    tracing::warn!(%error, ?source, "rollout watch interrupted; retrying");
                    None
                }
            }
        })
        .boxed();
    (store, changes)
}

impl Watch {
    async fn start(client: Client, namespace: String, name: String) -> Result<Self> {
        let deployment = Api::<Deployment>::namespaced(client.clone(), &namespace)
            .get_opt(&name)
            .await
            .map_err(|source| RolloutError::Read {
                namespace: namespace.clone(),
                name: name.clone(),
                source,
            })?
            .ok_or_else(|| RolloutError::NotFound {
                namespace: namespace.clone(),
                name: name.clone(),
            })?;
        let selector = pod_selector(&deployment);
        let by_selector = watcher::Config::default().labels(&selector);
        let (deployments, d) = watch_into(
            Api::namespaced(client.clone(), &namespace),
            watcher::Config::default().fields(&format!("metadata.name={name}")),
            Source::Deployment,
        );
        let (replica_sets, r) = watch_into(
            Api::namespaced(client.clone(), &namespace),
            by_selector.clone(),
            Source::ReplicaSets,
        );
        let (pods, p) = watch_into(
            Api::namespaced(client.clone(), &namespace),
            by_selector,
            Source::Pods,
        );
        let (events, e) = watch_into(
            Api::namespaced(client.clone(), &namespace),
            watcher::Config::default(),
            Source::Events,
        );
        Ok(Self {
            client,
            namespace,
            name,
            changes: stream::select_all([d, r, p, e]).boxed(),
            deployments,
            replica_sets,
            pods,
            events,
            synced: [false; 4],
            logs: BTreeMap::new(),
            last: None,
        })
    }

    /// Waits for changes until the judged snapshot differs from the last one yielded.
    async fn next_snapshot(&mut self) -> Result<Option<RolloutSnapshot>> {
        // Set while the Deployment says "available" but the pod watch has not caught up yet.
        let mut pods_behind_since: Option<Instant> = None;
        loop {
            let next = match pods_behind_since {
                None => self.changes.next().await.map(Some),
                Some(since) => {
                    let left = PODS_CATCH_UP.saturating_sub(since.elapsed());
                    // Quiet until the time is up: judge again with what there is.
                    match tokio::time::timeout(left, self.changes.next()).await {
                        Ok(next) => next.map(Some),
                        Err(_) => Some(None),
                    }
                }
            };
            match next {
                None => return Ok(None),
                Some(None) => {}
                Some(Some(change)) => {
                    self.note(change);
                    tokio::time::sleep(SETTLE).await;
                    while let Some(Some(change)) = self.changes.next().now_or_never() {
                        self.note(change);
                    }
                }
            }
            if !self.synced.iter().all(|s| *s) {
                continue;
            }
            let snapshot = self.snapshot().await?;
            if !pods_agree(&snapshot) {
                let since = *pods_behind_since.get_or_insert_with(Instant::now);
                if since.elapsed() < PODS_CATCH_UP {
                    continue;
                }
            }
            pods_behind_since = None;
            if self.last.as_ref() != Some(&snapshot) {
                self.last = Some(snapshot.clone());
                return Ok(Some(snapshot));
            }
        }
    }

    fn note(&mut self, change: Change) {
        if let Change::Synced(source) = change {
            self.synced[source as usize] = true;
        }
    }

    async fn snapshot(&mut self) -> Result<RolloutSnapshot> {
        let Some(deployment) = self.deployments.state().first().map(|d| (**d).clone()) else {
            return Err(RolloutError::NotFound {
                namespace: self.namespace.clone(),
                name: self.name.clone(),
            });
        };
        let mut evidence = Evidence {
            deployment,
            replica_sets: owned(&self.replica_sets),
            pods: owned(&self.pods),
            events: owned(&self.events),
            previous_logs: BTreeMap::new(),
        };
        for (pod, container, restarts) in evidence.crashed_containers() {
            let key = (pod.clone(), container.clone(), restarts);
            if !self.logs.contains_key(&key) {
                if let Some(text) =
                    previous_log(&self.client, &self.namespace, &pod, &container).await
                {
                    self.logs
                        .retain(|(p, c, _), _| !(p == &pod && c == &container));
                    self.logs.insert(key.clone(), text);
                }
            }
            if let Some(text) = self.logs.get(&key) {
                evidence
                    .previous_logs
                    .insert((pod, container), text.clone());
            }
        }
        let newest = evidence
            .newest_replica_set()
            .and_then(|rs| rs.metadata.uid.clone());
        let mut pods: Vec<PodSummary> = evidence
            .pods
            .iter()
            .map(|pod| {
                let new_version = pod
                    .metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| Some(&o.uid) == newest.as_ref());
                PodSummary::of(pod, new_version)
            })
            .collect();
        pods.sort_by(|a, b| a.name.cmp(&b.name));
        let revision = evidence
            .deployment
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(super::REVISION_ANNOTATION))
            .and_then(|r| r.parse().ok());
        Ok(RolloutSnapshot {
            status: judge(&evidence.deployment),
            revision,
            pods,
            problems: diagnose::problems(&evidence),
        })
    }
}
