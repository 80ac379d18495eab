//! The server's Prometheus metrics (prometheus-client), served at `/metrics`: HTTP request
//! durations by route, deploys by outcome, ingest batches and samples, and when each background
//! task last completed (its lag is `time() - canopy_background_task_last_success_seconds`).
//!
//! One registry per process, reached through [`global`]: the counters live where the events
//! happen (deploy engine, ingestor, background loops) without threading a handle through them.

use std::sync::LazyLock;

use prometheus_client::{
    encoding::{text::encode, EncodeLabelSet},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    /// The route pattern (`/api/v1/services/{team}/{service}/{environment}`), never the raw
    /// path, so the number of series stays bounded.
    pub route: String,
    pub status: u16,
}

#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum DeployOutcome {
    Succeeded,
    Failed,
}

impl DeployOutcome {
    fn as_str(self) -> &'static str {
        match self {
            DeployOutcome::Succeeded => "succeeded",
            DeployOutcome::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// `stored`, `duplicate`, or the refusal kind.
    pub result: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TaskLabels {
    pub task: String,
}

pub struct Metrics {
    registry: Registry,
    pub http_request_duration_seconds: Family<RequestLabels, Histogram>,
    pub deploys_finished_total: Family<OutcomeLabels, Counter>,
    pub ingest_batches_total: Family<ResultLabels, Counter>,
    pub ingest_pod_samples_total: Counter,
    pub background_task_last_success_seconds:
        Family<TaskLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    pub background_task_runs_total: Family<TaskLabels, Counter>,
}

fn request_histogram() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ])
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("canopy");
        let http_request_duration_seconds =
            Family::<RequestLabels, Histogram>::new_with_constructor(
                request_histogram as fn() -> Histogram,
            );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route pattern and status",
            http_request_duration_seconds.clone(),
        );
        let deploys_finished_total = Family::default();
        registry.register(
            "deploys_finished",
            "Deploys that reached an end state, by outcome",
            deploys_finished_total.clone(),
        );
        let ingest_batches_total = Family::default();
        registry.register(
            "ingest_batches",
            "Agent batches received, by result (stored, duplicate or the refusal kind)",
            ingest_batches_total.clone(),
        );
        let ingest_pod_samples_total = Counter::default();
        registry.register(
            "ingest_pod_samples",
            "Pod samples stored from agent batches",
            ingest_pod_samples_total.clone(),
        );
        let background_task_last_success_seconds = Family::default();
        registry.register(
            "background_task_last_success_seconds",
            "Unix time at which each background task last completed a run",
            background_task_last_success_seconds.clone(),
        );
        let background_task_runs_total = Family::default();
        registry.register(
            "background_task_runs",
            "Runs of each background task started by this replica (one run per period across replicas)",
            background_task_runs_total.clone(),
        );
        Self {
            registry,
            background_task_runs_total,
            http_request_duration_seconds,
            deploys_finished_total,
            ingest_batches_total,
            ingest_pod_samples_total,
            background_task_last_success_seconds,
        }
    }

    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        encode(&mut text, &self.registry)?;
        Ok(text)
    }

    pub fn deploy_finished(&self, outcome: DeployOutcome) {
        self.deploys_finished_total
            .get_or_create(&OutcomeLabels {
                outcome: outcome.as_str().to_owned(),
            })
            .inc();
    }

    pub fn ingest_batch(&self, result: &str) {
        self.ingest_batches_total
            .get_or_create(&ResultLabels {
                result: result.to_owned(),
            })
            .inc();
    }

    /// Counts a run of a background task started by this replica.
    pub fn task_ran(&self, task: &'static str) {
        self.background_task_runs_total
            .get_or_create(&TaskLabels {
                task: task.to_owned(),
            })
            .inc();
    }

    /// Marks a background task as done for now (by this replica or, for jobs that run once
    /// across replicas, by another one).
    pub fn task_succeeded(&self, task: &'static str) {
        let now = time::OffsetDateTime::now_utc();
        let seconds = now.unix_timestamp() as f64 + f64::from(now.millisecond()) / 1000.0;
        self.background_task_last_success_seconds
            .get_or_create(&TaskLabels {
                task: task.to_owned(),
            })
            .set(seconds);
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// This process's metrics.
pub fn global() -> &'static Metrics {
    &METRICS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_each_family_with_its_labels() {
        let metrics = Metrics::new();
        metrics.deploy_finished(DeployOutcome::Failed);
        metrics.ingest_batch("stored");
        metrics.task_succeeded("rollup_compaction");
        metrics
            .http_request_duration_seconds
            .get_or_create(&RequestLabels {
                method: "GET".into(),
                route: "/services".into(),
                status: 200,
            })
            .observe(0.02);
        let text = metrics.encode().unwrap_or_default();
        assert!(
            text.contains("canopy_deploys_finished_total{outcome=\"failed\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("canopy_ingest_batches_total{result=\"stored\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "canopy_background_task_last_success_seconds{task=\"rollup_compaction\"}"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "canopy_http_request_duration_seconds_count{method=\"GET\",route=\"/services\",status=\"200\"} 1"
            ),
            "{text}"
        );
    }
}
