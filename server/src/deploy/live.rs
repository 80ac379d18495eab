//! The latest rollout state per service and environment, shared with live page subscribers.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use app::api::{deploys::LiveRollout, ServiceRef};
use tokio::sync::watch;

#[derive(Clone, Default)]
pub struct LiveRollouts {
    channels: Arc<Mutex<HashMap<ServiceRef, watch::Sender<Option<LiveRollout>>>>>,
}

impl LiveRollouts {
    fn sender(&self, key: &ServiceRef) -> watch::Sender<Option<LiveRollout>> {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        channels
            .entry(key.clone())
            .or_insert_with(|| watch::channel(None).0)
            .clone()
    }

    /// Publishes a new state (subscribers see only the latest).
    pub fn publish(&self, key: &ServiceRef, state: LiveRollout) {
        self.sender(key).send_replace(Some(state));
    }

    /// Follows the state of `key`; starts with the latest known one, if any.
    pub fn subscribe(&self, key: &ServiceRef) -> watch::Receiver<Option<LiveRollout>> {
        self.sender(key).subscribe()
    }

    pub fn latest(&self, key: &ServiceRef) -> Option<LiveRollout> {
        self.sender(key).borrow().clone()
    }
}
