-- Ingest throughput, second step (docs/ENERGY.md, "Rollups"): even HOT, an upsert of an hourly
-- rollup row costs 13-17 µs of PostgreSQL time, and an agent-shaped batch (one interval, a
-- hundred pods) upserts a hundred rows that the previous batch of the node updated ten seconds
-- earlier. Ingest now appends its increments (aggregated per key in the batch) to
-- energy_rollup_pending, a table without indexes; a background task moves them into
-- energy_rollup_hourly_compacted every few seconds in one statement
-- (DELETE ... RETURNING feeding one upsert per key). `energy_rollup_hourly` becomes a view that
-- adds both, grouped per key, so readers see one exact row per key at every moment.

ALTER TABLE energy_rollup_hourly RENAME TO energy_rollup_hourly_compacted;

CREATE TABLE energy_rollup_pending (
    bucket         TIMESTAMPTZ NOT NULL,
    cluster        TEXT NOT NULL,
    node           TEXT NOT NULL,
    namespace      TEXT NOT NULL,
    team           TEXT NOT NULL,
    service        TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('workload', 'idle', 'system')),
    source         TEXT NOT NULL CHECK (source IN ('measured', 'estimated', 'simulated')),
    energy_joules  DOUBLE PRECISION NOT NULL CHECK (energy_joules >= 0),
    sample_secs    DOUBLE PRECISION NOT NULL DEFAULT 0
);

-- The daily view read the table by its old name: point it at the hourly view.
CREATE OR REPLACE VIEW energy_rollup_hourly AS
    SELECT bucket, cluster, node, namespace, team, service, kind, source,
           sum(energy_joules) AS energy_joules, sum(sample_secs) AS sample_secs
    FROM (
        SELECT bucket, cluster, node, namespace, team, service, kind, source, energy_joules,
               sample_secs
        FROM energy_rollup_hourly_compacted
        UNION ALL
        SELECT bucket, cluster, node, namespace, team, service, kind, source, energy_joules,
               sample_secs
        FROM energy_rollup_pending
    ) AS parts
    GROUP BY bucket, cluster, node, namespace, team, service, kind, source;

CREATE OR REPLACE VIEW energy_rollup_daily AS
    SELECT bucket, cluster, node, namespace, team, service, kind, source, energy_joules,
           sample_secs
    FROM energy_rollup_daily_rolled
    WHERE bucket < (SELECT rolled_through FROM energy_daily_watermark)
    UNION ALL
    SELECT date_trunc('day', bucket, 'UTC'), cluster, node, namespace, team, service, kind,
           source, energy_joules, sample_secs
    FROM energy_rollup_hourly
    WHERE bucket >= (SELECT rolled_through FROM energy_daily_watermark);
