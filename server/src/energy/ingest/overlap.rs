//! Each interval of a node counted once: a batch whose sample overlaps an interval already
//! stored for the same cluster, node and source (under another batch_id) is refused whole. The
//! database decides (the exclusion constraint on `energy_node_intervals`, so two such batches
//! arriving at once cannot both land); this module recognises its refusal and finds which
//! stored interval the batch ran into, for the answer.

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use time::{format_description::well_known::Rfc3339, OffsetDateTime};
use uuid::Uuid;

/// The exclusion constraint (migration `20261130000040_energy_node_intervals.sql`).
pub const CONSTRAINT: &str = "energy_node_intervals_no_overlap";

/// An interval already stored for the node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoredInterval {
    pub batch_id: Uuid,
    pub source: String,
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub end: OffsetDateTime,
}

/// Why a batch was refused: its sample `field` covers time of `node` already stored.
/// `stored` is `None` only when that interval went between the refusal and the look-up
/// (retention, or the other batch's transaction was rolled back).
#[derive(Debug, Clone, PartialEq)]
pub struct Overlap {
    pub field: String,
    pub cluster: String,
    pub node: String,
    pub stored: Option<StoredInterval>,
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

impl std::fmt::Display for Overlap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            field,
            cluster,
            node,
            stored,
        } = self;
        match stored {
            Some(s) => write!(
                f,
                "{field} overlaps the {} interval {} to {} of node {node:?} (cluster {cluster:?}) \
                 already stored by batch {}: it would be counted twice, so nothing of this batch \
                 was stored",
                s.source,
                rfc3339(s.start),
                rfc3339(s.end),
                s.batch_id
            ),
            None => write!(
                f,
                "{field} overlaps an interval of node {node:?} (cluster {cluster:?}) stored by \
                 another batch: it would be counted twice, so nothing of this batch was stored"
            ),
        }
    }
}

/// Whether `error` is the exclusion constraint refusing an overlapping interval.
pub fn is_overlap(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.constraint() == Some(CONSTRAINT))
}

/// The batch's node samples as columns (in batch order).
pub struct SampleIntervals<'a> {
    pub source: &'a [String],
    pub start: &'a [OffsetDateTime],
    pub end: &'a [OffsetDateTime],
}

/// The first of the batch's samples that overlaps a stored interval, and that interval.
pub async fn find(
    pool: &PgPool,
    cluster: &str,
    node: &str,
    samples: SampleIntervals<'_>,
) -> Result<Overlap, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT u.i AS "i!", s.batch_id, s.source, lower(s.during) AS "start!",
                  upper(s.during) AS "end!"
           FROM UNNEST($3::text[], $4::timestamptz[], $5::timestamptz[])
                WITH ORDINALITY AS u (source, start_at, end_at, i)
           JOIN energy_node_intervals s
             ON s.cluster = $1 AND s.node = $2 AND s.source = u.source
            AND s.during && tstzrange(u.start_at, u.end_at, '[)')
           ORDER BY u.i LIMIT 1"#,
        cluster,
        node,
        samples.source,
        samples.start,
        samples.end,
    )
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        Some(row) => Overlap {
            field: format!("samples[{}]", row.i - 1),
            cluster: cluster.to_owned(),
            node: node.to_owned(),
            stored: Some(StoredInterval {
                batch_id: row.batch_id,
                source: row.source,
                start: row.start,
                end: row.end,
            }),
        },
        None => Overlap {
            field: "samples".to_owned(),
            cluster: cluster.to_owned(),
            node: node.to_owned(),
            stored: None,
        },
    })
}
