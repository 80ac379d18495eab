-- Sign-in, teams and roles, and the audit trail (server/src/auth/). Additive only.

CREATE TABLE users (
    id             BIGSERIAL PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
    email          TEXT,
    -- Argon2id PHC string; NULL for accounts that sign in through GitHub only.
    password_hash  TEXT,
    org_admin      BOOLEAN NOT NULL DEFAULT false,
    -- Bumped by "sign out everywhere": sessions carry the epoch they were made in.
    session_epoch  INTEGER NOT NULL DEFAULT 0,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE team_members (
    user_id  BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    team     TEXT NOT NULL,
    role     TEXT NOT NULL CHECK (role IN ('viewer', 'deployer', 'admin')),
    PRIMARY KEY (user_id, team)
);

-- Single-use, expiring invite links; only the SHA-256 of the token is stored.
CREATE TABLE invites (
    token_sha256  BYTEA PRIMARY KEY,
    team          TEXT,
    role          TEXT CHECK (role IN ('viewer', 'deployer', 'admin')),
    org_admin     BOOLEAN NOT NULL DEFAULT false,
    created_by    BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at    TIMESTAMPTZ NOT NULL,
    used_at       TIMESTAMPTZ,
    used_by       BIGINT REFERENCES users(id) ON DELETE SET NULL
);

-- Failed sign-ins, for the per-account and per-address rate limit (shared by replicas).
CREATE TABLE signin_failures (
    at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    username  TEXT NOT NULL,
    address   TEXT NOT NULL
);
CREATE INDEX signin_failures_username ON signin_failures (username, at);
CREATE INDEX signin_failures_address ON signin_failures (address, at);

-- Append-only: every state-changing action, allowed or refused.
CREATE TABLE audit_events (
    id           BIGSERIAL PRIMARY KEY,
    at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    team         TEXT,
    service      TEXT,
    environment  TEXT,
    address      TEXT,
    allowed      BOOLEAN NOT NULL,
    result       TEXT NOT NULL
);
CREATE INDEX audit_events_team ON audit_events (team, at DESC);
CREATE INDEX audit_events_service ON audit_events (team, service, at DESC);

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END $$;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

-- tower-sessions' PostgreSQL store (tower-sessions-sqlx-store), created here so the schema
-- is under the same migrations as everything else.
CREATE SCHEMA IF NOT EXISTS tower_sessions;
CREATE TABLE IF NOT EXISTS tower_sessions.session (
    id           TEXT PRIMARY KEY NOT NULL,
    data         BYTEA NOT NULL,
    expiry_date  TIMESTAMPTZ NOT NULL
);

-- API tokens, per user (acting as that user, limited to the scope) or per team (acting in
-- that team only, with the role the scope names). Only the SHA-256 is stored.
CREATE TABLE api_tokens (
    id            BIGSERIAL PRIMARY KEY,
    token_sha256  BYTEA NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    user_id       BIGINT REFERENCES users(id) ON DELETE CASCADE,
    team          TEXT,
    scope         TEXT NOT NULL CHECK (scope IN ('read', 'deploy', 'admin')),
    created_by    BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at    TIMESTAMPTZ,
    last_used_at  TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ,
    CHECK ((user_id IS NULL) <> (team IS NULL))
);
