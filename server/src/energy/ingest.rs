//! Ingest of agent batches: parse, validate, map pods to services, and write the batch, its raw
//! samples and its rollup increments in ONE statement (all or nothing, stored once).

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use canopy_protocol::{IngestBatch, ValidationError, SCHEMA_VERSION};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{
    buckets::buckets, mapping::Owner, partitions::PartitionCache, tokens::NodeIdentity, EnergyError,
};

pub mod overlap;
mod refusal;

pub use overlap::{Overlap, StoredInterval};
pub use refusal::{Refusal, RefusalKind};

/// How far in the future a sample may end (clock skew between node and server).
pub const MAX_FUTURE_SKEW: Duration = Duration::hours(1);

/// Counters since the server started: stored batches and samples, refusals by kind.
#[derive(Default)]
pub struct IngestCounters {
    stored_batches: AtomicU64,
    stored_pod_samples: AtomicU64,
    duplicates: AtomicU64,
    overlapping: AtomicU64,
    refused: [AtomicU64; RefusalKind::ALL.len()],
}

/// A snapshot of [`IngestCounters`] for the admin API.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IngestStats {
    pub stored_batches: u64,
    pub stored_pod_samples: u64,
    pub duplicate_batches: u64,
    /// Batches refused because they cover time already stored for their node.
    pub overlapping_batches: u64,
    /// Refused batches by why (`malformed`, `not_conserved`, ...).
    #[schema(value_type = BTreeMap<String, u64>)]
    pub refused: BTreeMap<&'static str, u64>,
}

/// What was stored.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct IngestReceipt {
    pub batch_id: Uuid,
    pub samples: usize,
    pub pod_samples: usize,
}

pub struct Ingestor {
    pool: PgPool,
    retention_days: u32,
    pub partitions: Arc<PartitionCache>,
    counters: IngestCounters,
}

#[derive(Deserialize)]
struct VersionOnly {
    schema_version: Option<u32>,
}

/// Rollup row key: bucket, cluster, node, namespace, team, service, kind, source.
type RollupKey = (
    OffsetDateTime,
    String,
    String,
    String,
    String,
    String,
    &'static str,
    &'static str,
);

impl Ingestor {
    pub fn new(pool: PgPool, retention_days: u32) -> Self {
        Self {
            pool,
            retention_days,
            partitions: Arc::new(PartitionCache::default()),
            counters: IngestCounters::default(),
        }
    }

    pub fn stats(&self) -> IngestStats {
        IngestStats {
            stored_batches: self.counters.stored_batches.load(Ordering::Relaxed),
            stored_pod_samples: self.counters.stored_pod_samples.load(Ordering::Relaxed),
            duplicate_batches: self.counters.duplicates.load(Ordering::Relaxed),
            overlapping_batches: self.counters.overlapping.load(Ordering::Relaxed),
            refused: RefusalKind::ALL
                .iter()
                .enumerate()
                .map(|(i, kind)| {
                    (
                        kind.as_str(),
                        self.counters.refused[i].load(Ordering::Relaxed),
                    )
                })
                .collect(),
        }
    }

    fn count_refusal(&self, refusal: Refusal, node: &NodeIdentity) -> EnergyError {
        if let Some(i) = RefusalKind::ALL.iter().position(|k| *k == refusal.kind) {
            self.counters.refused[i].fetch_add(1, Ordering::Relaxed);
        }
        crate::metrics::global().ingest_batch(refusal.kind.as_str());
        tracing::warn!(node = %node.node, cluster = %node.cluster, kind = refusal.kind.as_str(),
            field = %refusal.field, message = %refusal.message, "energy batch refused");
        EnergyError::Refused(refusal)
    }

    /// Parses the JSON body; an unknown `schema_version` is reported as such even when the rest
    /// of the document has a shape this server does not know.
    pub fn parse(&self, body: &[u8], node: &NodeIdentity) -> Result<IngestBatch, EnergyError> {
        let malformed = |message: String, field: &str| Refusal {
            kind: RefusalKind::Malformed,
            field: field.to_owned(),
            message,
        };
        let version: VersionOnly = serde_json::from_slice(body).map_err(|e| {
            self.count_refusal(
                malformed(format!("the body is not a JSON batch: {e}"), "body"),
                node,
            )
        })?;
        match version.schema_version {
            Some(SCHEMA_VERSION) => {}
            Some(found) => {
                return Err(self.count_refusal(
                    ValidationError::UnknownSchemaVersion {
                        found,
                        supported: SCHEMA_VERSION,
                    }
                    .into(),
                    node,
                ))
            }
            None => {
                return Err(self.count_refusal(
                    malformed("schema_version is missing".to_owned(), "schema_version"),
                    node,
                ))
            }
        }
        serde_json::from_slice(body).map_err(|e| {
            self.count_refusal(
                malformed(
                    format!("the batch does not match schema version {SCHEMA_VERSION}: {e}"),
                    "body",
                ),
                node,
            )
        })
    }

    /// Validates and stores `batch` for the authenticated `node`.
    pub async fn ingest(
        &self,
        node: &NodeIdentity,
        batch: &IngestBatch,
        now: OffsetDateTime,
    ) -> Result<IngestReceipt, EnergyError> {
        batch
            .validate()
            .map_err(|e| self.count_refusal(e.into(), node))?;
        if batch.node != node.node {
            crate::metrics::global().ingest_batch("wrong_node");
            return Err(EnergyError::WrongNode {
                credential: node.describe(),
                token_node: node.node.clone(),
                cluster: node.cluster.clone(),
                batch_node: batch.node.clone(),
            });
        }
        self.check_window(batch, now)
            .map_err(|r| self.count_refusal(r, node))?;
        let days: std::collections::BTreeSet<_> = batch
            .samples
            .iter()
            .map(|s| s.start.to_offset(time::UtcOffset::UTC).date())
            .collect();
        self.partitions.ensure(&self.pool, days).await?;
        let receipt = self.write(node, batch).await?;
        self.counters.stored_batches.fetch_add(1, Ordering::Relaxed);
        let metrics = crate::metrics::global();
        metrics.ingest_batch("stored");
        metrics
            .ingest_pod_samples_total
            .inc_by(receipt.pod_samples as u64);
        self.counters
            .stored_pod_samples
            .fetch_add(receipt.pod_samples as u64, Ordering::Relaxed);
        Ok(receipt)
    }

    /// Samples must start inside the raw retention window and not end in the future.
    fn check_window(&self, batch: &IngestBatch, now: OffsetDateTime) -> Result<(), Refusal> {
        let oldest = now - Duration::days(i64::from(self.retention_days));
        for (i, sample) in batch.samples.iter().enumerate() {
            if sample.start < oldest {
                return Err(Refusal {
                    kind: RefusalKind::OutsideRetention,
                    field: format!("samples[{i}].start"),
                    message: format!(
                        "samples[{i}].start is older than the raw retention window ({} days)",
                        self.retention_days
                    ),
                });
            }
            if sample.end > now + MAX_FUTURE_SKEW {
                return Err(Refusal {
                    kind: RefusalKind::Absurd,
                    field: format!("samples[{i}].end"),
                    message: format!("samples[{i}].end is more than an hour in the future (check the node's clock)"),
                });
            }
        }
        Ok(())
    }

    /// One statement writes everything: the batch row (the idempotency key), the node's
    /// intervals (refused by an exclusion constraint when they overlap stored ones: see
    /// [`overlap`]), node and pod samples, the hourly rollup increments (appended to `energy_rollup_pending`, folded into
    /// the hourly table by a background task) and, only for days the daily job has already
    /// rolled (late batches), the daily increments (see [`super::rollup`]). A single statement
    /// is atomic, so a batch is never half-written; when the batch_id exists the other parts
    /// insert nothing. (One round trip instead of eight: see the benchmark in docs/ENERGY.md.)
    async fn write(
        &self,
        node: &NodeIdentity,
        batch: &IngestBatch,
    ) -> Result<IngestReceipt, EnergyError> {
        let c = Columns::build(node, batch);
        let h = RollupColumns::from(&c.hourly);
        let d = RollupColumns::from(&c.daily);
        let stored = sqlx::query_scalar!(
            r#"WITH batch AS (
                   INSERT INTO energy_batches (batch_id, node_token_id, cluster, node,
                       agent_created_at, sample_count, pod_sample_count, dropped_batches_total,
                       agent_pod)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $45)
                   ON CONFLICT (batch_id) DO NOTHING RETURNING batch_id),
               intervals AS (
                   INSERT INTO energy_node_intervals (cluster, node, source, during, batch_id)
                   SELECT $3, $4, u.source, tstzrange(u.start_at, u.end_at, '[)'), $1
                   FROM UNNEST($9::text[], $10::timestamptz[], $11::timestamptz[])
                       AS u (source, start_at, end_at)
                   WHERE EXISTS (SELECT 1 FROM batch) AND u.start_at < u.end_at),
               node_rows AS (
                   INSERT INTO energy_node_samples (batch_id, cluster, node, source, start_at,
                       end_at, host_energy_joules, idle_energy_joules, system_energy_joules)
                   SELECT $1, $3, $4, u.* FROM UNNEST($9::text[], $10::timestamptz[],
                       $11::timestamptz[], $12::float8[], $13::float8[], $14::float8[]) u
                   WHERE EXISTS (SELECT 1 FROM batch)),
               pod_rows AS (
                   INSERT INTO energy_pod_samples (batch_id, cluster, node, source, start_at,
                       end_at, namespace, pod, pod_uid, container, team, service, energy_joules)
                   SELECT $1, $3, $4, u.* FROM UNNEST($15::text[], $16::timestamptz[],
                       $17::timestamptz[], $18::text[], $19::text[], $20::text[], $21::text[],
                       $22::text[], $23::text[], $24::float8[]) u
                   WHERE EXISTS (SELECT 1 FROM batch)),
               hourly AS (
                   INSERT INTO energy_rollup_pending (bucket, cluster, node, namespace, team,
                       service, kind, source, energy_joules, sample_secs)
                   SELECT u.* FROM UNNEST($25::timestamptz[], $26::text[], $27::text[],
                       $28::text[], $29::text[], $30::text[], $31::text[], $32::text[],
                       $33::float8[], $34::float8[]) u
                   WHERE EXISTS (SELECT 1 FROM batch)),
               daily AS (
                   INSERT INTO energy_rollup_daily_rolled AS r (bucket, cluster, node, namespace,
                       team, service, kind, source, energy_joules, sample_secs)
                   SELECT u.* FROM UNNEST($35::timestamptz[], $36::text[], $37::text[],
                       $38::text[], $39::text[], $40::text[], $41::text[], $42::text[],
                       $43::float8[], $44::float8[])
                       AS u (bucket, cluster, node, namespace, team, service, kind, source,
                             energy_joules, sample_secs)
                   WHERE EXISTS (SELECT 1 FROM batch)
                     AND u.bucket < (SELECT rolled_through FROM energy_daily_watermark)
                   ON CONFLICT (bucket, cluster, node, namespace, team, service, kind, source)
                   DO UPDATE SET energy_joules = r.energy_joules + EXCLUDED.energy_joules,
                                 sample_secs = r.sample_secs + EXCLUDED.sample_secs)
               SELECT count(*) AS "stored!" FROM batch"#,
            batch.batch_id,
            node.token_id(),
            node.cluster,
            node.node,
            batch.created_at,
            i32::try_from(batch.samples.len()).unwrap_or(i32::MAX),
            i32::try_from(c.pod_energy.len()).unwrap_or(i32::MAX),
            i64::try_from(batch.dropped_batches_total).unwrap_or(i64::MAX),
            &c.node_source as &[String],
            &c.node_start as &[OffsetDateTime],
            &c.node_end as &[OffsetDateTime],
            &c.node_host as &[f64],
            &c.node_idle as &[f64],
            &c.node_system as &[f64],
            &c.pod_source as &[String],
            &c.pod_start as &[OffsetDateTime],
            &c.pod_end as &[OffsetDateTime],
            &c.pod_namespace as &[String],
            &c.pod_name as &[String],
            &c.pod_uid as &[String],
            &c.pod_container as &[String],
            &c.pod_team as &[String],
            &c.pod_service as &[String],
            &c.pod_energy as &[f64],
            &h.bucket as &[OffsetDateTime],
            &h.cluster as &[String],
            &h.node as &[String],
            &h.namespace as &[String],
            &h.team as &[String],
            &h.service as &[String],
            &h.kind as &[String],
            &h.source as &[String],
            &h.energy as &[f64],
            &h.secs as &[f64],
            &d.bucket as &[OffsetDateTime],
            &d.cluster as &[String],
            &d.node as &[String],
            &d.namespace as &[String],
            &d.team as &[String],
            &d.service as &[String],
            &d.kind as &[String],
            &d.source as &[String],
            &d.energy as &[f64],
            &d.secs as &[f64],
            node.agent_pod(),
        )
        .fetch_one(&self.pool)
        .await;
        let stored = match stored {
            Ok(stored) => stored,
            Err(error) if overlap::is_overlap(&error) => {
                let samples = overlap::SampleIntervals {
                    source: &c.node_source,
                    start: &c.node_start,
                    end: &c.node_end,
                };
                let found = overlap::find(&self.pool, &node.cluster, &node.node, samples).await?;
                self.counters.overlapping.fetch_add(1, Ordering::Relaxed);
                crate::metrics::global().ingest_batch("overlapping_interval");
                tracing::warn!(node = %node.node, cluster = %node.cluster, batch_id = %batch.batch_id,
                    refusal = %found, "energy batch refused: overlapping interval");
                return Err(EnergyError::Overlapping(Box::new(found)));
            }
            Err(error) => return Err(error.into()),
        };
        if stored == 0 {
            self.counters.duplicates.fetch_add(1, Ordering::Relaxed);
            crate::metrics::global().ingest_batch("duplicate");
            return Err(EnergyError::Duplicate(batch.batch_id));
        }
        Ok(IngestReceipt {
            batch_id: batch.batch_id,
            samples: batch.samples.len(),
            pod_samples: c.pod_energy.len(),
        })
    }
}

/// Rollup increments as columns (keys sorted: a stable row-lock order across batches).
#[derive(Default)]
struct RollupColumns {
    bucket: Vec<OffsetDateTime>,
    cluster: Vec<String>,
    node: Vec<String>,
    namespace: Vec<String>,
    team: Vec<String>,
    service: Vec<String>,
    kind: Vec<String>,
    source: Vec<String>,
    energy: Vec<f64>,
    secs: Vec<f64>,
}

impl From<&BTreeMap<RollupKey, (f64, f64)>> for RollupColumns {
    fn from(rows: &BTreeMap<RollupKey, (f64, f64)>) -> Self {
        let mut c = RollupColumns::default();
        for ((b, cl, n, ns, t, s, k, src), (joules, seconds)) in rows {
            c.bucket.push(*b);
            c.cluster.push(cl.clone());
            c.node.push(n.clone());
            c.namespace.push(ns.clone());
            c.team.push(t.clone());
            c.service.push(s.clone());
            c.kind.push((*k).to_owned());
            c.source.push((*src).to_owned());
            c.energy.push(*joules);
            c.secs.push(*seconds);
        }
        c
    }
}

/// The batch laid out as columns for `UNNEST`, plus its rollup increments.
#[derive(Default)]
struct Columns {
    node_source: Vec<String>,
    node_start: Vec<OffsetDateTime>,
    node_end: Vec<OffsetDateTime>,
    node_host: Vec<f64>,
    node_idle: Vec<f64>,
    node_system: Vec<f64>,
    pod_source: Vec<String>,
    pod_start: Vec<OffsetDateTime>,
    pod_end: Vec<OffsetDateTime>,
    pod_namespace: Vec<String>,
    pod_name: Vec<String>,
    pod_uid: Vec<String>,
    pod_container: Vec<String>,
    pod_team: Vec<String>,
    pod_service: Vec<String>,
    pod_energy: Vec<f64>,
    hourly: BTreeMap<RollupKey, (f64, f64)>,
    daily: BTreeMap<RollupKey, (f64, f64)>,
}

impl Columns {
    fn build(node: &NodeIdentity, batch: &IngestBatch) -> Self {
        let mut c = Columns::default();
        for sample in &batch.samples {
            let source = sample.source.as_str();
            let secs = sample.interval_secs();
            c.node_source.push(source.to_owned());
            c.node_start.push(sample.start);
            c.node_end.push(sample.end);
            c.node_host.push(sample.host_energy_joules);
            c.node_idle.push(sample.idle_energy_joules);
            c.node_system.push(sample.system_energy_joules);
            let (hour, day) = buckets(sample.start);
            let mut add = |owner: &Owner, kind: &'static str, joules: f64| {
                for (bucket, map) in [(hour, &mut c.hourly), (day, &mut c.daily)] {
                    let key = (
                        bucket,
                        node.cluster.clone(),
                        node.node.clone(),
                        owner.namespace.clone(),
                        owner.team.clone(),
                        owner.service.clone(),
                        kind,
                        source,
                    );
                    let entry = map.entry(key).or_insert((0.0, 0.0));
                    entry.0 += joules;
                    entry.1 += secs;
                }
            };
            let nobody = Owner::of(None, &BTreeMap::new());
            add(&nobody, "idle", sample.idle_energy_joules);
            add(&nobody, "system", sample.system_energy_joules);
            for pod in &sample.pods {
                let owner = Owner::of(pod.namespace.as_deref(), &pod.labels);
                add(&owner, "workload", pod.energy_joules);
                c.pod_source.push(source.to_owned());
                c.pod_start.push(sample.start);
                c.pod_end.push(sample.end);
                c.pod_name.push(pod.pod.clone().unwrap_or_default());
                c.pod_uid.push(pod.pod_uid.clone());
                c.pod_container
                    .push(pod.container.clone().unwrap_or_default());
                c.pod_energy.push(pod.energy_joules);
                c.pod_namespace.push(owner.namespace);
                c.pod_team.push(owner.team);
                c.pod_service.push(owner.service);
            }
        }
        c
    }
}
