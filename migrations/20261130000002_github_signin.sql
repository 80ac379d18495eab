-- Sign-in with GitHub: people linked to their GitHub account, and team roles that come from the
-- GitHub organisation's teams (replaced at each sign-in) apart from roles given in Canopy.
ALTER TABLE users ADD COLUMN github_id BIGINT UNIQUE;
ALTER TABLE users ADD COLUMN github_login TEXT;
ALTER TABLE team_members ADD COLUMN source TEXT NOT NULL DEFAULT 'canopy'
    CHECK (source IN ('canopy', 'github'));
