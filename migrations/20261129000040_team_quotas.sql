-- Per-team quotas: what each of a team's namespaces (`<team>-<env>`) may use in total.
-- Teams without a row get Canopy's built-in default (server/src/deploy/size.rs).
CREATE TABLE team_quotas (
    team_id                 BIGINT PRIMARY KEY REFERENCES teams (id) ON DELETE CASCADE,
    requests_cpu_millis     BIGINT NOT NULL CHECK (requests_cpu_millis > 0),
    requests_memory_bytes   BIGINT NOT NULL CHECK (requests_memory_bytes > 0),
    limits_cpu_millis       BIGINT NOT NULL CHECK (limits_cpu_millis >= requests_cpu_millis),
    limits_memory_bytes     BIGINT NOT NULL CHECK (limits_memory_bytes >= requests_memory_bytes),
    pods                    INTEGER NOT NULL CHECK (pods > 0),
    updated_by              TEXT NOT NULL,
    updated_at              TIMESTAMPTZ NOT NULL DEFAULT now()
);
