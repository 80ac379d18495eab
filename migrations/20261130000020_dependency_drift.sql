-- Dependency drift (server/src/drift/, docs/DRIFT.md). Additive only.

-- Where a service's code is read from. Today a local directory or git checkout ('path'); the
-- GitHub App source (another issue) adds a kind and its columns.
CREATE TABLE drift_sources (
    service_id   BIGINT PRIMARY KEY REFERENCES services (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL DEFAULT 'path' CHECK (kind IN ('path')),
    source_path  TEXT NOT NULL,
    updated_by   TEXT NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Scans, kept as history. queued → running (claimed by one replica, with a lease) → done |
-- failed; a running scan whose lease ran out (its replica died) is claimed again.
-- `reports` holds every canopy_drift::DependencyReport (JSON), `summary` the DriftSummary;
-- the figures pages rank by are copied into columns.
CREATE TABLE drift_scans (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service_id       BIGINT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    trigger          TEXT NOT NULL CHECK (trigger IN ('manual', 'schedule')),
    requested_by     TEXT NOT NULL,
    state            TEXT NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'running', 'done', 'failed')),
    source_path      TEXT NOT NULL,
    queued_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at       TIMESTAMPTZ,
    finished_at      TIMESTAMPTZ,
    lease_until      TIMESTAMPTZ,
    error            TEXT,
    summary          JSONB,
    reports          JSONB,
    manifest_errors  JSONB,
    dependencies     INTEGER,
    outdated         INTEGER,
    libyears         DOUBLE PRECISION,
    majors_behind    INTEGER
);
-- At most one scan waiting or running per service: "scan now" twice queues one.
CREATE UNIQUE INDEX drift_scans_one_pending ON drift_scans (service_id)
    WHERE state IN ('queued', 'running');
CREATE INDEX drift_scans_service_recent ON drift_scans (service_id, queued_at DESC);
CREATE INDEX drift_scans_done_recent ON drift_scans (finished_at) WHERE state = 'done';

-- The registries' answers (canopy_drift::Cache): body, ETag for revalidation, Link for pages,
-- when fetched. Freshness (TTL) is decided by the drift library from fetched_at.
CREATE TABLE drift_http_cache (
    key         TEXT PRIMARY KEY,
    body        TEXT NOT NULL,
    etag        TEXT,
    link        TEXT,
    fetched_at  TIMESTAMPTZ NOT NULL
);

-- The schedule's one row: the replica that moves last_run_at forward queues the round.
CREATE TABLE drift_schedule (
    id           BOOLEAN PRIMARY KEY DEFAULT true CHECK (id),
    last_run_at  TIMESTAMPTZ
);
INSERT INTO drift_schedule (id, last_run_at) VALUES (true, NULL);
