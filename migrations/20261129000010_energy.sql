-- Energy insights (issue 5): node tokens, ingested batches, raw samples partitioned by day,
-- hourly and daily rollups. See docs/ENERGY.md for the design.

-- Agent credentials. Only the SHA-256 of the token is stored; the token itself is shown once,
-- when an admin creates it. A token belongs to one node of one cluster.
CREATE TABLE energy_node_tokens (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cluster       TEXT NOT NULL CHECK (char_length(cluster) BETWEEN 1 AND 63),
    node          TEXT NOT NULL CHECK (char_length(node) BETWEEN 1 AND 253),
    token_sha256  BYTEA NOT NULL UNIQUE CHECK (octet_length(token_sha256) = 32),
    created_by    TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at    TIMESTAMPTZ,
    last_used_at  TIMESTAMPTZ
);

-- One row per stored batch: the idempotency key. A re-sent batch_id is refused (409) and
-- nothing of it is written again. Rows older than the raw retention are deleted with the raw
-- samples (agents spool at most a day by default, well inside the 7-day default).
CREATE TABLE energy_batches (
    batch_id               UUID PRIMARY KEY,
    node_token_id          BIGINT NOT NULL REFERENCES energy_node_tokens (id),
    cluster                TEXT NOT NULL,
    node                   TEXT NOT NULL,
    agent_created_at       TIMESTAMPTZ NOT NULL,
    received_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    sample_count           INTEGER NOT NULL,
    pod_sample_count       INTEGER NOT NULL,
    dropped_batches_total  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX energy_batches_received ON energy_batches (received_at);

-- Raw node intervals: host, idle and system energy per interval (partitioned by start day).
CREATE TABLE energy_node_samples (
    batch_id              UUID NOT NULL,
    cluster               TEXT NOT NULL,
    node                  TEXT NOT NULL,
    source                TEXT NOT NULL CHECK (source IN ('measured', 'estimated', 'simulated')),
    start_at              TIMESTAMPTZ NOT NULL,
    end_at                TIMESTAMPTZ NOT NULL,
    host_energy_joules    DOUBLE PRECISION NOT NULL CHECK (host_energy_joules >= 0),
    idle_energy_joules    DOUBLE PRECISION NOT NULL CHECK (idle_energy_joules >= 0),
    system_energy_joules  DOUBLE PRECISION NOT NULL CHECK (system_energy_joules >= 0)
) PARTITION BY RANGE (start_at);

-- Raw per-container energy (the volume table; partitioned by start day, dropped after the
-- retention window). team/service come from the pod labels canopy.dev/team and
-- canopy.dev/service, '' when the pod has none (it is then counted under its namespace).
CREATE TABLE energy_pod_samples (
    batch_id       UUID NOT NULL,
    cluster        TEXT NOT NULL,
    node           TEXT NOT NULL,
    source         TEXT NOT NULL CHECK (source IN ('measured', 'estimated', 'simulated')),
    start_at       TIMESTAMPTZ NOT NULL,
    end_at         TIMESTAMPTZ NOT NULL,
    namespace      TEXT NOT NULL,
    pod            TEXT NOT NULL,
    pod_uid        TEXT NOT NULL,
    container      TEXT NOT NULL,
    team           TEXT NOT NULL,
    service        TEXT NOT NULL,
    energy_joules  DOUBLE PRECISION NOT NULL CHECK (energy_joules >= 0)
) PARTITION BY RANGE (start_at);
CREATE INDEX energy_pod_samples_service ON energy_pod_samples (team, service, start_at);

-- Rollups, kept indefinitely. One row per bucket, cluster, node, namespace, team, service, kind
-- and source. kind: 'workload' (pods; namespace/team/service set as far as known), 'idle' and
-- 'system' (per node; namespace/team/service ''). Sources are separate rows: measured,
-- estimated and simulated energy are never added together by the database.
CREATE TABLE energy_rollup_hourly (
    bucket         TIMESTAMPTZ NOT NULL,
    cluster        TEXT NOT NULL,
    node           TEXT NOT NULL,
    namespace      TEXT NOT NULL,
    team           TEXT NOT NULL,
    service        TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('workload', 'idle', 'system')),
    source         TEXT NOT NULL CHECK (source IN ('measured', 'estimated', 'simulated')),
    energy_joules  DOUBLE PRECISION NOT NULL CHECK (energy_joules >= 0),
    sample_secs    DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, cluster, node, namespace, team, service, kind, source)
);
CREATE INDEX energy_rollup_hourly_service ON energy_rollup_hourly (team, service, bucket);

CREATE TABLE energy_rollup_daily (LIKE energy_rollup_hourly INCLUDING ALL);
-- LIKE ... INCLUDING ALL copies the primary key and the (team, service, bucket) index.

-- Creates the day partitions of both raw tables for `day` (UTC) if missing. Safe to call
-- concurrently and repeatedly.
CREATE FUNCTION energy_ensure_partition(day DATE) RETURNS VOID
LANGUAGE plpgsql AS $$
DECLARE
    lower_bound TIMESTAMPTZ := day::timestamp AT TIME ZONE 'UTC';
    upper_bound TIMESTAMPTZ := (day + 1)::timestamp AT TIME ZONE 'UTC';
    suffix      TEXT := to_char(day, 'YYYYMMDD');
    parent      TEXT;
BEGIN
    FOREACH parent IN ARRAY ARRAY['energy_node_samples', 'energy_pod_samples'] LOOP
        IF to_regclass(parent || '_p' || suffix) IS NULL THEN
            BEGIN
                EXECUTE format(
                    'CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                    parent || '_p' || suffix, parent, lower_bound, upper_bound);
            EXCEPTION WHEN duplicate_table OR unique_violation THEN
                NULL; -- created concurrently by another session
            END;
        END IF;
    END LOOP;
END;
$$;
