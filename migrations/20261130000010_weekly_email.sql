-- The weekly team e-mail (server/src/reports/). Additive only.

-- When a team's e-mail goes out: an ISO weekday (1 = Monday) and hour in the team's time zone.
-- Teams without a row use Monday 08:00 UTC.
CREATE TABLE report_schedules (
    team        TEXT PRIMARY KEY,
    weekday     SMALLINT NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    hour        SMALLINT NOT NULL CHECK (hour BETWEEN 0 AND 23),
    time_zone   TEXT NOT NULL,
    updated_by  TEXT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- People who do not want a team's e-mail (from the portal or the one-click unsubscribe link).
CREATE TABLE report_opt_outs (
    user_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    team     TEXT NOT NULL,
    via      TEXT NOT NULL CHECK (via IN ('portal', 'one_click')),
    at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, team)
);

-- A team's week as sent: the figures frozen when the week's send began, so every recipient,
-- every retry and every replica sends the same content.
CREATE TABLE weekly_reports (
    team        TEXT NOT NULL,
    -- The Monday the week starts on, in the team's time zone.
    week_start  DATE NOT NULL,
    content     JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (team, week_start)
);

-- The outbox: one row per message. A week's e-mail has one row per team × week × person
-- (unique); test messages ("send me a test") are rows of their own kind.
-- pending → sending (claimed, with a lease) → sent | failed; a sending row whose lease ran out
-- (its sender died) is claimed again.
CREATE TABLE report_outbox (
    id               BIGSERIAL PRIMARY KEY,
    kind             TEXT NOT NULL CHECK (kind IN ('weekly', 'test')),
    team             TEXT NOT NULL,
    week_start       DATE NOT NULL,
    user_id          BIGINT REFERENCES users (id) ON DELETE SET NULL,
    recipient        TEXT NOT NULL,
    message_id       TEXT NOT NULL UNIQUE,
    state            TEXT NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    lease_until      TIMESTAMPTZ,
    claimed_by       TEXT,
    last_error       TEXT,
    smtp_reply       TEXT,
    sent_at          TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    FOREIGN KEY (team, week_start) REFERENCES weekly_reports (team, week_start)
);
CREATE UNIQUE INDEX report_outbox_once ON report_outbox (team, week_start, user_id)
    WHERE kind = 'weekly';
CREATE INDEX report_outbox_due ON report_outbox (next_attempt_at)
    WHERE state IN ('pending', 'sending');
CREATE INDEX report_outbox_team ON report_outbox (team, created_at DESC);

-- Keys Canopy generates once and every replica shares (the unsubscribe links' HMAC key).
CREATE TABLE server_secrets (
    name        TEXT PRIMARY KEY,
    value       BYTEA NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
