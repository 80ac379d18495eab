//! The daemon's push half: the spool plus the client, with retry backoff, metrics and the log
//! lines that tell the operator what to fix.

use std::time::{Duration, Instant};

use canopy_protocol::IngestBatch;

use super::spool::{Spool, SpoolError};
use super::{flush, FlushOutcome, Pusher};
use crate::metrics::Metrics;

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Batches sent per tick at most, so a backlog drains over a few ticks without delaying samples.
pub const MAX_BATCHES_PER_FLUSH: usize = 200;

/// Spool, client and retry state for one node.
#[derive(Debug)]
pub struct Outbox {
    spool: Spool,
    pusher: Pusher,
    node: String,
    token_origin: String,
    next_attempt: Instant,
    backoff: Duration,
}

impl Outbox {
    /// `token_origin` says where the token came from (`CANOPY_NODE_TOKEN`, or the token file's
    /// path), for the log line when the server refuses it.
    pub fn new(spool: Spool, pusher: Pusher, node: &str, token_origin: &str) -> Self {
        Self {
            spool,
            pusher,
            node: node.to_string(),
            token_origin: token_origin.to_string(),
            next_attempt: Instant::now(),
            backoff: FIRST_BACKOFF,
        }
    }

    pub fn spool(&self) -> &Spool {
        &self.spool
    }

    /// Validates and spools one batch (its `dropped_batches_total` set from the spool), counting
    /// and logging what the spool's bounds dropped to make room.
    pub fn enqueue(&mut self, mut batch: IngestBatch, metrics: &Metrics) {
        batch.dropped_batches_total = self.spool.dropped_total();
        if let Err(e) = batch.validate() {
            metrics.error("invalid_sample");
            tracing::error!(error = %e, "not spooling an invalid sample");
            return;
        }
        let pushed = serde_json::to_vec(&batch)
            .map_err(|e| e.to_string())
            .and_then(|body| self.spool.push(&body).map_err(|e| e.to_string()));
        match pushed {
            Ok(dropped) if dropped.is_empty() => {}
            Ok(dropped) => {
                metrics.spool_dropped.inc_by(dropped.batches);
                metrics.spool_dropped_bytes.inc_by(dropped.bytes);
                tracing::warn!(
                    dropped_batches = dropped.batches,
                    dropped_bytes = dropped.bytes,
                    dropped_batches_total = self.spool.dropped_total(),
                    spool = %self.spool.dir().display(),
                    "spool full: dropped the {} oldest batch(es), {} bytes, to stay within its bounds",
                    dropped.batches,
                    dropped.bytes,
                );
            }
            Err(e) => {
                metrics.error("spool");
                tracing::error!(error = %e, "spooling a batch");
            }
        }
        self.update_gauges(metrics);
    }

    /// Flushes the spool unless waiting out a backoff.
    pub async fn deliver(&mut self, metrics: &Metrics) {
        if Instant::now() < self.next_attempt {
            return;
        }
        self.deliver_now(metrics).await;
    }

    /// Flushes the spool now, whatever the backoff; counts and logs the outcome.
    pub async fn deliver_now(&mut self, metrics: &Metrics) -> Option<FlushOutcome> {
        let outcome = match flush(&mut self.spool, &self.pusher, MAX_BATCHES_PER_FLUSH).await {
            Ok(outcome) => outcome,
            Err(e) => {
                self.spool_error(&e, metrics);
                return None;
            }
        };
        metrics.batches_delivered.inc_by(outcome.delivered);
        for letter in &outcome.dead_lettered {
            let reason = letter.refusal.as_str();
            metrics.dead_lettered(reason);
            tracing::error!(
                reason,
                answer = %letter.answer,
                dead_letter = %letter.path.display(),
                node = %self.node,
                "server refused a batch for good; moved it to the dead-letter directory: {}",
                letter
                    .refusal
                    .advice(&self.node, &self.token_origin, letter.bytes),
            );
            if !letter.dropped.is_empty() {
                metrics.dead_letter_dropped.inc_by(letter.dropped.batches);
                tracing::warn!(
                    dropped_batches = letter.dropped.batches,
                    dropped_bytes = letter.dropped.bytes,
                    dead_letters = %self.spool.dead_letters().dir().display(),
                    "dead-letter directory full: deleted the {} oldest dead letter(s), {} bytes",
                    letter.dropped.batches,
                    letter.dropped.bytes,
                );
            }
        }
        match &outcome.retry_reason {
            Some(reason) => {
                metrics.error("push");
                tracing::warn!(%reason, retry_in_secs = self.backoff.as_secs(), "push failed; batches stay spooled");
                self.next_attempt = Instant::now() + self.backoff;
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            }
            None => self.backoff = FIRST_BACKOFF,
        }
        self.update_gauges(metrics);
        Some(outcome)
    }

    fn spool_error(&self, e: &SpoolError, metrics: &Metrics) {
        metrics.error("spool");
        tracing::error!(error = %e, "reading the spool");
    }

    fn update_gauges(&self, metrics: &Metrics) {
        if let Ok(entries) = self.spool.entries() {
            metrics
                .spool_batches
                .set(i64::try_from(entries.len()).unwrap_or(i64::MAX));
            let bytes: u64 = entries.iter().map(|e| e.bytes).sum();
            metrics
                .spool_bytes
                .set(i64::try_from(bytes).unwrap_or(i64::MAX));
        }
        if let Ok(len) = self.spool.dead_letters().len() {
            metrics
                .dead_letter_batches
                .set(i64::try_from(len).unwrap_or(i64::MAX));
        }
    }
}
