-- Pull-request previews (server/src/github/previews.rs, docs/GITHUB.md): deploys may go to a
-- preview environment `pr-<number>`, and the previews of each pull request are tracked.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '60s';

-- The environment check grows to take previews. It is added NOT VALID (no table scan under the
-- lock) and checks every new or changed row; it is not validated here (that would block reads
-- inside this transaction), and need not be: every existing row passed the narrower check.
ALTER TABLE deploys DROP CONSTRAINT deploys_environment_check;
ALTER TABLE deploys ADD CONSTRAINT deploys_environment_check
    CHECK (environment ~ '^(dev|staging|prod|pr-[1-9][0-9]{0,5})$') NOT VALID;

-- One row per pull request and linked service with a preview: active until the pull request
-- closes or the preview's time runs out (then its objects are deleted).
CREATE TABLE github_previews (
    owner            TEXT NOT NULL,
    repo             TEXT NOT NULL,
    number           INTEGER NOT NULL CHECK (number BETWEEN 1 AND 999999),
    service_id       BIGINT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    head_sha         TEXT NOT NULL,
    state            TEXT NOT NULL DEFAULT 'active'
                     CHECK (state IN ('active', 'closed', 'expired')),
    url              TEXT,
    outcome          TEXT NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (owner, repo, number, service_id)
);
CREATE INDEX github_previews_active ON github_previews (expires_at) WHERE state = 'active';

-- The one comment Canopy keeps on each pull request (created once, then edited).
CREATE TABLE github_pr_comments (
    owner            TEXT NOT NULL,
    repo             TEXT NOT NULL,
    number           INTEGER NOT NULL,
    comment_id       BIGINT NOT NULL,
    PRIMARY KEY (owner, repo, number)
);
