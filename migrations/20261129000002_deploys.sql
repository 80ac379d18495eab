-- Every deploy of a service to an environment: who, when, what (spec snapshot without secret
-- values), the revision, and how it ended. At most one deploy per service and environment is
-- in progress at a time (the partial unique index), so a second click cannot start a duplicate.
CREATE TABLE deploys (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service_id      BIGINT NOT NULL REFERENCES services (id),
    environment     TEXT NOT NULL CHECK (environment IN ('dev', 'staging', 'prod')),
    revision        BIGINT NOT NULL CHECK (revision > 0),
    spec            JSONB NOT NULL,
    image           TEXT NOT NULL,
    requested_by    TEXT NOT NULL,
    reason          TEXT,
    rollback_of     BIGINT REFERENCES deploys (id),
    status          TEXT NOT NULL
                    CHECK (status IN ('applying', 'rolling_out', 'succeeded', 'failed')),
    failure_reason  TEXT,
    warnings        JSONB NOT NULL DEFAULT '[]'::jsonb,
    started_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at     TIMESTAMPTZ,
    UNIQUE (service_id, environment, revision)
);

CREATE UNIQUE INDEX deploys_one_in_progress
    ON deploys (service_id, environment)
    WHERE status IN ('applying', 'rolling_out');

CREATE INDEX deploys_history ON deploys (service_id, environment, revision DESC);
