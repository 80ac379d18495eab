-- Canopy as several replicas (docs/SCALING.md): rollout followers hold a lease on their deploy,
-- the latest live rollout state is shared through PostgreSQL (NOTIFY canopy_live), and each
-- background job records the periods it ran (one run per period across replicas).
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '60s';

-- Which replica follows an unfinished deploy, and until when its lease holds. NULL on rows
-- written before this migration: any replica may take those over.
ALTER TABLE deploys ADD COLUMN follower TEXT;
ALTER TABLE deploys ADD COLUMN follower_lease_until TIMESTAMPTZ;

-- The newest live state per service and environment (a page served by any replica starts from
-- it; NOTIFY tells the others a new one is there).
CREATE TABLE live_rollouts (
    team         TEXT NOT NULL,
    service      TEXT NOT NULL,
    environment  TEXT NOT NULL,
    state        JSONB NOT NULL,
    replica      TEXT NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (team, service, environment)
);

-- One row per background job and period it ran in (written in the transaction that holds the
-- job's advisory lock); rows older than two days are pruned by the runner.
CREATE TABLE background_job_runs (
    job           TEXT NOT NULL,
    period_start  TIMESTAMPTZ NOT NULL,
    replica       TEXT NOT NULL,
    started_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (job, period_start)
);

-- The request rate limit shared by the replicas (server/src/http/rate_limit.rs): one row per
-- caller with its theoretical arrival time (GCRA). UNLOGGED: losing it in a crash only gives
-- callers a fresh budget. Rows in the past are pruned by a background job.
CREATE UNLOGGED TABLE rate_limits (
    key  TEXT PRIMARY KEY,
    tat  TIMESTAMPTZ NOT NULL
);
