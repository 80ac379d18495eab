-- Dependency drift from a service's linked GitHub repository (server/src/github/sources.rs,
-- docs/DRIFT.md), and scans after a push. The checks grow NOT VALID (no scan under the lock;
-- every existing row passed the narrower check).
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '60s';

-- kind 'github': source_path is `owner/name@branch`.
ALTER TABLE drift_sources DROP CONSTRAINT drift_sources_kind_check;
ALTER TABLE drift_sources ADD CONSTRAINT drift_sources_kind_check
    CHECK (kind IN ('path', 'github')) NOT VALID;

ALTER TABLE drift_scans DROP CONSTRAINT drift_scans_trigger_check;
ALTER TABLE drift_scans ADD CONSTRAINT drift_scans_trigger_check
    CHECK (trigger IN ('manual', 'schedule', 'push')) NOT VALID;

-- Manifest files read from GitHub, by blob sha: a file that did not change is never read again.
CREATE TABLE github_blobs (
    sha         TEXT PRIMARY KEY,
    content     TEXT NOT NULL,
    fetched_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
