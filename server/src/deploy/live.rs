//! The latest rollout state per service and environment, shared with live page subscribers.
//! Bounded: a channel that has no state and no subscriber any more is dropped, so following a
//! service that never rolled out (or does not exist) leaves nothing behind. With several
//! replicas, what this one publishes is shared through PostgreSQL and what others publish
//! arrives through [`LiveRollouts::publish_local`] (`replicas/live_bus.rs`).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use app::api::{deploys::LiveRollout, ServiceRef};
use tokio::sync::watch;

#[derive(Clone, Default)]
pub struct LiveRollouts {
    channels: Arc<Mutex<HashMap<ServiceRef, watch::Sender<Option<LiveRollout>>>>>,
    /// Where this replica's states go to reach the others (none: a single process).
    shared: Option<crate::replicas::live_bus::Outbox>,
}

impl LiveRollouts {
    /// The same channels, with every state this replica publishes also sent to `outbox`.
    pub fn shared(mut self, outbox: crate::replicas::live_bus::Outbox) -> Self {
        self.shared = Some(outbox);
        self
    }

    fn sender(&self, key: &ServiceRef) -> watch::Sender<Option<LiveRollout>> {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        if !channels.contains_key(key) {
            // Before adding one, drop the channels nobody follows and nothing was published to.
            channels.retain(|_, sender| sender.receiver_count() > 0 || sender.borrow().is_some());
        }
        channels
            .entry(key.clone())
            .or_insert_with(|| watch::channel(None).0)
            .clone()
    }

    /// How many services have a channel (for tests and metrics).
    pub fn channels(&self) -> usize {
        self.channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Publishes a new state (subscribers see only the latest), here and on the other replicas.
    pub fn publish(&self, key: &ServiceRef, state: LiveRollout) {
        if let Some(outbox) = &self.shared {
            let shared = crate::replicas::live_bus::Shared {
                key: key.clone(),
                state: state.clone(),
            };
            if outbox.try_send(shared).is_err() {
                tracing::warn!(service = %key, "live rollout state not shared with the other replicas: the queue is full");
            }
        }
        self.publish_local(key, state);
    }

    /// Publishes a state on this replica only (one that another replica published).
    pub fn publish_local(&self, key: &ServiceRef, state: LiveRollout) {
        self.sender(key).send_replace(Some(state));
    }

    /// Follows the state of `key`; starts with the latest known one, if any.
    pub fn subscribe(&self, key: &ServiceRef) -> watch::Receiver<Option<LiveRollout>> {
        self.sender(key).subscribe()
    }

    /// The latest published state, without creating a channel for `key`.
    pub fn latest(&self, key: &ServiceRef) -> Option<LiveRollout> {
        self.channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .and_then(|sender| sender.borrow().clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(service: &str) -> ServiceRef {
        ServiceRef::parse("alpha", service, "dev").unwrap()
    }

    #[test]
    fn following_services_that_never_rolled_out_leaves_nothing_behind() {
        let live = LiveRollouts::default();
        for i in 0..1_000 {
            let receiver = live.subscribe(&key(&format!("s{i}")));
            drop(receiver);
        }
        assert!(live.channels() <= 1, "{} channels kept", live.channels());
        // Reading never creates one.
        assert_eq!(live.latest(&key("nothing")), None);
        assert!(live.channels() <= 1);
        // A followed service keeps its channel while followed.
        let followed = live.subscribe(&key("web"));
        let _ = live.subscribe(&key("other"));
        assert!(live.channels() >= 1);
        drop(followed);
        let _ = live.subscribe(&key("third"));
        assert!(live.channels() <= 1, "{} channels kept", live.channels());
    }
}
