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

-- The hourly rollup as readers know it: one row per key, compacted + pending.
CREATE VIEW energy_rollup_hourly AS
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

-- The watermark as a STABLE function: the planner evaluates it when it estimates rows (a
-- sub-select is a black box to it, and a 90-day overview then sorted 112,000 rows it expected
-- to be 650, in 480 ms instead of hashing them in 160 ms: docs/ENERGY.md, overview benchmark).
CREATE FUNCTION energy_daily_rolled_through() RETURNS TIMESTAMPTZ
LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT rolled_through FROM energy_daily_watermark $$;

-- The daily view read the hourly table by its old name: it now reads the compacted and pending
-- hourly increments directly (several rows per key and day there, as before: readers sum).
CREATE OR REPLACE VIEW energy_rollup_daily AS
    SELECT bucket, cluster, node, namespace, team, service, kind, source, energy_joules,
           sample_secs
    FROM energy_rollup_daily_rolled
    WHERE bucket < energy_daily_rolled_through()
    UNION ALL
    SELECT date_trunc('day', bucket, 'UTC'), cluster, node, namespace, team, service, kind,
           source, energy_joules, sample_secs
    FROM energy_rollup_hourly_compacted
    WHERE bucket >= energy_daily_rolled_through()
    UNION ALL
    SELECT date_trunc('day', bucket, 'UTC'), cluster, node, namespace, team, service, kind,
           source, energy_joules, sample_secs
    FROM energy_rollup_pending
    WHERE bucket >= energy_daily_rolled_through();
