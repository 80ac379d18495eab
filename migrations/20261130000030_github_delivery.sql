-- GitHub-linked delivery (server/src/github/, docs/GITHUB.md). Additive only.

-- Adding a nullable column only takes a brief ACCESS EXCLUSIVE lock; never wait long for it
-- behind a long query of a running replica (the migration fails and is retried instead).
-- LOCAL: the settings end with the migration's transaction.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '60s';

-- The commit a deploy came from, when it came from GitHub (a push or a pull request).
ALTER TABLE deploys ADD COLUMN git_sha TEXT;

-- A service's environment linked to a repository: a push to `branch` deploys the image named by
-- `image_template` ({sha} replaced by the pushed commit) with the `canopy.yaml` at `path`.
-- `linked_by` is the person on whose behalf pushes deploy; their role is checked at each push.
CREATE TABLE github_links (
    service_id       BIGINT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    environment      TEXT NOT NULL,
    owner            TEXT NOT NULL,
    repo             TEXT NOT NULL,
    branch           TEXT NOT NULL,
    path             TEXT NOT NULL,
    image_template   TEXT NOT NULL,
    required_check   TEXT,
    installation_id  BIGINT NOT NULL,
    linked_by        BIGINT NOT NULL REFERENCES users (id),
    linked_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (service_id, environment)
);
CREATE INDEX github_links_repository ON github_links (lower(owner), lower(repo));

-- Every signed webhook delivery Canopy accepted, recorded before it is answered and processed
-- from here (a durable queue): pending → processing (claimed with a lease) → done | ignored |
-- failed. The primary key is GitHub's X-GitHub-Delivery, so a replay changes nothing.
CREATE TABLE github_deliveries (
    delivery_id      TEXT PRIMARY KEY,
    event            TEXT NOT NULL,
    action           TEXT,
    owner            TEXT NOT NULL,
    repo             TEXT NOT NULL,
    payload          JSONB NOT NULL,
    received_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    state            TEXT NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'processing', 'done', 'ignored', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    lease_until      TIMESTAMPTZ,
    outcome          TEXT,
    finished_at      TIMESTAMPTZ
);
CREATE INDEX github_deliveries_pending ON github_deliveries (received_at)
    WHERE state IN ('pending', 'processing');
CREATE INDEX github_deliveries_repository ON github_deliveries (lower(owner), lower(repo), received_at DESC);

-- What a delivery did for each linked service it concerned, in words, and the deploy it started.
CREATE TABLE github_delivery_actions (
    delivery_id      TEXT NOT NULL REFERENCES github_deliveries (delivery_id) ON DELETE CASCADE,
    service_id       BIGINT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    environment      TEXT NOT NULL,
    deployed         BOOLEAN NOT NULL,
    outcome          TEXT NOT NULL,
    deploy_id        BIGINT REFERENCES deploys (id),
    PRIMARY KEY (delivery_id, service_id, environment)
);

-- A GitHub deployment for each Canopy deploy of a linked service, and the last status GitHub
-- has. A worker creates the deployment and posts in_progress, then success or failure; GitHub
-- being down delays these (retried with backoff, the error kept here) and never the deploy.
CREATE TABLE github_deployments (
    deploy_id        BIGINT PRIMARY KEY REFERENCES deploys (id) ON DELETE CASCADE,
    owner            TEXT NOT NULL,
    repo             TEXT NOT NULL,
    git_ref          TEXT NOT NULL,
    environment      TEXT NOT NULL,
    github_id        BIGINT,
    posted           TEXT NOT NULL DEFAULT 'none'
                     CHECK (posted IN ('none', 'created', 'in_progress', 'success', 'failure')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    lease_until      TIMESTAMPTZ,
    last_error       TEXT,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX github_deployments_open ON github_deployments (next_attempt_at)
    WHERE posted NOT IN ('success', 'failure');
