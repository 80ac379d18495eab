-- Teams and the services they registered. Names are DNS-1123 labels (validated in the app too).
CREATE TABLE teams (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE
                CHECK (name ~ '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' AND char_length(name) <= 40),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE services (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    team_id     BIGINT NOT NULL REFERENCES teams (id),
    name        TEXT NOT NULL
                CHECK (name ~ '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' AND char_length(name) <= 63),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (team_id, name)
);
