//! Prometheus metrics (prometheus-client): node and pod energy and power by source, idle
//! energy, and the agent's own health (sampling duration, errors by kind, spool state).

use std::collections::HashSet;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::report::IntervalReport;

type CounterF64 = Counter<f64, AtomicU64>;
type GaugeF64 = Gauge<f64, AtomicU64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ZoneLabels {
    pub zone: String,
    pub source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    pub source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PodLabels {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

/// Every metric the agent exports, registered in one registry.
pub struct Metrics {
    registry: Registry,
    node_energy: Family<ZoneLabels, CounterF64>,
    node_power: Family<SourceLabels, GaugeF64>,
    pod_energy: Family<PodLabels, CounterF64>,
    pod_power: Family<PodLabels, GaugeF64>,
    idle_energy: CounterF64,
    scrape_duration: Histogram,
    errors: Family<KindLabels, Counter>,
    pub spool_batches: Gauge,
    pub spool_bytes: Gauge,
    pub spool_dropped: Counter,
    pub spool_dropped_bytes: Counter,
    pub batches_delivered: Counter,
    batches_dead_lettered: Family<ReasonLabels, Counter>,
    pub dead_letter_batches: Gauge,
    pub dead_letter_dropped: Counter,
    pub pods_known: Gauge,
    live_pod_series: Mutex<HashSet<PodLabels>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let node_energy = Family::<ZoneLabels, CounterF64>::default();
        let node_power = Family::<SourceLabels, GaugeF64>::default();
        let pod_energy = Family::<PodLabels, CounterF64>::default();
        let pod_power = Family::<PodLabels, GaugeF64>::default();
        let idle_energy = CounterF64::default();
        let scrape_duration = Histogram::new([
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
        ]);
        let errors = Family::<KindLabels, Counter>::default();
        // prometheus-client appends `_total` to counter names.
        registry.register(
            "canopy_node_energy_joules",
            "Host energy by zone since the agent started",
            node_energy.clone(),
        );
        registry.register(
            "canopy_node_power_watts",
            "Host average power over the last interval",
            node_power.clone(),
        );
        registry.register(
            "canopy_pod_energy_joules",
            "Active energy attributed to a container since the agent started",
            pod_energy.clone(),
        );
        registry.register(
            "canopy_pod_power_watts",
            "Average power attributed to a container over the last interval",
            pod_power.clone(),
        );
        registry.register(
            "canopy_node_idle_energy_joules",
            "Idle share of host energy since the agent started",
            idle_energy.clone(),
        );
        registry.register(
            "canopy_agent_scrape_duration_seconds",
            "Wall time of one sampling cycle (reading sensors and attributing)",
            scrape_duration.clone(),
        );
        registry.register("canopy_agent_errors", "Errors by kind", errors.clone());
        let spool_batches = Gauge::default();
        let spool_bytes = Gauge::default();
        let spool_dropped = Counter::default();
        let spool_dropped_bytes = Counter::default();
        let batches_delivered = Counter::default();
        let batches_dead_lettered = Family::<ReasonLabels, Counter>::default();
        let dead_letter_batches = Gauge::default();
        let dead_letter_dropped = Counter::default();
        let pods_known = Gauge::default();
        registry.register(
            "canopy_agent_spool_batches",
            "Batches waiting in the spool",
            spool_batches.clone(),
        );
        registry.register(
            "canopy_agent_spool_bytes",
            "Bytes of the batches waiting in the spool",
            spool_bytes.clone(),
        );
        registry.register(
            "canopy_agent_spool_dropped_batches",
            "Batches dropped because the spool was full (batch or byte bound)",
            spool_dropped.clone(),
        );
        registry.register(
            "canopy_agent_spool_dropped_bytes",
            "Bytes of the batches dropped because the spool was full",
            spool_dropped_bytes.clone(),
        );
        registry.register(
            "canopy_agent_batches_delivered",
            "Batches the server accepted",
            batches_delivered.clone(),
        );
        registry.register(
            "canopy_agent_batches_dead_lettered",
            "Batches the server refused for good, moved to the dead-letter directory, by reason",
            batches_dead_lettered.clone(),
        );
        registry.register(
            "canopy_agent_dead_letter_batches",
            "Batches in the dead-letter directory",
            dead_letter_batches.clone(),
        );
        registry.register(
            "canopy_agent_dead_letter_dropped_batches",
            "Dead letters deleted (oldest first) to keep the dead-letter directory within its bound",
            dead_letter_dropped.clone(),
        );
        registry.register(
            "canopy_agent_pods_known",
            "Pods on this node known from the Kubernetes API",
            pods_known.clone(),
        );
        Self {
            registry,
            node_energy,
            node_power,
            pod_energy,
            pod_power,
            idle_energy,
            scrape_duration,
            errors,
            spool_batches,
            spool_bytes,
            spool_dropped,
            spool_dropped_bytes,
            batches_delivered,
            batches_dead_lettered,
            dead_letter_batches,
            dead_letter_dropped,
            pods_known,
            live_pod_series: Mutex::new(HashSet::new()),
        }
    }

    /// Adds one interval's figures. Pod power series of containers absent this interval are
    /// removed (their energy counters stay, as counters must).
    pub fn record(&self, report: &IntervalReport) {
        let source = report.source.as_str().to_string();
        for zone in &report.zones {
            self.node_energy
                .get_or_create(&ZoneLabels {
                    zone: zone.zone.clone(),
                    source: source.clone(),
                })
                .inc_by(zone.energy_joules);
        }
        self.node_power
            .get_or_create(&SourceLabels {
                source: source.clone(),
            })
            .set(report.host_power_watts);
        self.idle_energy.inc_by(report.idle_energy_joules);
        let mut live = HashSet::new();
        for pod in &report.pods {
            let labels = PodLabels {
                namespace: pod.namespace.clone().unwrap_or_default(),
                pod: pod.pod.clone().unwrap_or_else(|| pod.pod_uid.clone()),
                container: pod
                    .container
                    .clone()
                    .or_else(|| pod.container_id.clone())
                    .unwrap_or_default(),
                source: source.clone(),
            };
            self.pod_energy
                .get_or_create(&labels)
                .inc_by(pod.energy_joules);
            let watts = if report.interval_secs > 0.0 {
                pod.energy_joules / report.interval_secs
            } else {
                0.0
            };
            // Two containers may share labels (unresolved names): sum their power.
            let gauge = self.pod_power.get_or_create(&labels);
            if live.insert(labels.clone()) {
                gauge.set(watts);
            } else {
                gauge.inc_by(watts);
            }
        }
        let mut previous = self
            .live_pod_series
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for gone in previous.difference(&live) {
            self.pod_power.remove(gone);
        }
        *previous = live;
    }

    pub fn observe_cycle_secs(&self, secs: f64) {
        self.scrape_duration.observe(secs);
    }

    pub fn error(&self, kind: &str) {
        self.errors
            .get_or_create(&KindLabels { kind: kind.into() })
            .inc();
    }

    /// Counts a batch moved to the dead-letter directory (`reason`: [`crate::push::Refusal`]).
    pub fn dead_lettered(&self, reason: &str) {
        self.batches_dead_lettered
            .get_or_create(&ReasonLabels {
                reason: reason.into(),
            })
            .inc();
    }

    /// Batches dead-lettered so far for `reason`.
    pub fn dead_lettered_total(&self, reason: &str) -> u64 {
        self.batches_dead_lettered
            .get(&ReasonLabels {
                reason: reason.into(),
            })
            .map_or(0, |c| c.get())
    }

    /// The text exposition format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
