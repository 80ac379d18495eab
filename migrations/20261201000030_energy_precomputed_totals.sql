-- Pages fast at 10,000 services (issue 16, item 6; docs/ENERGY.md, "Precomputed totals"):
--
-- 1. Totals the pages read instead of scanning rollup rows per node and hour:
--    `energy_service_daily` (per UTC day, cluster, kind, source, namespace, team, service: the
--    daily rollup without the node) and `energy_service_hourly` (the same per hour) for the
--    Energy overview (whole days from the first, the hours before the first midnight and after
--    the last from the second), and `energy_node_hourly` (per hour, cluster, node, kind, source:
--    no pod owner) for the team page's idle shares. All three are fed by ONE trigger on
--    `energy_rollup_pending`: the statement that moves pending increments into the hourly table
--    (rollup::compact_pending, whichever release runs it) adds the same rows to them, in the
--    same statement. A reader adds the pending rows of its period (a few seconds of
--    increments), so for every day d (and hour h)
--        energy_service_daily(d) + pending(d) = energy_rollup_daily(d)   (summed over nodes)
--        energy_service_hourly(h) + pending(h) = energy_rollup_hourly(h)
--    at every moment: late batches write pending (and the rolled daily table) in their one
--    statement, and moving a day into the rolled table changes no figure.
-- 2. A version of the energy figures, bumped by every statement that can change what the
--    overview or a team page shows (ingest, late daily increments, the watermark, live grid
--    intensity, registered services and teams). Pages cache what they computed under the
--    version they read before computing; a reader that sees the same version gets the same
--    figures. Sixteen rows, so concurrent ingest statements rarely wait on one another.
--    `history` changes with the figures of hours before the current one only (late batches,
--    and the other triggers): the overview keeps those hours' totals under it, so a batch of
--    the current hour makes it read only the last hours again.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '10min';

CREATE TABLE energy_service_daily (
    day            TIMESTAMPTZ NOT NULL,
    cluster        TEXT NOT NULL,
    kind           TEXT NOT NULL,
    source         TEXT NOT NULL,
    namespace      TEXT NOT NULL,
    team           TEXT NOT NULL,
    service        TEXT NOT NULL,
    energy_joules  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (day, cluster, kind, source, namespace, team, service)
);
-- The team page reads its own services' rows.
CREATE INDEX energy_service_daily_team ON energy_service_daily (team, day);

CREATE TABLE energy_service_hourly (
    hour           TIMESTAMPTZ NOT NULL,
    cluster        TEXT NOT NULL,
    kind           TEXT NOT NULL,
    source         TEXT NOT NULL,
    namespace      TEXT NOT NULL,
    team           TEXT NOT NULL,
    service        TEXT NOT NULL,
    energy_joules  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (hour, cluster, kind, source, namespace, team, service)
);

CREATE TABLE energy_node_hourly (
    hour           TIMESTAMPTZ NOT NULL,
    cluster        TEXT NOT NULL,
    node           TEXT NOT NULL,
    kind           TEXT NOT NULL,
    source         TEXT NOT NULL,
    energy_joules  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (hour, cluster, node, kind, source)
);

-- Ingest and compaction wait until the totals are filled and the trigger is in place (a few
-- seconds per million rollup rows): no increment is moved, or appended, in between.
LOCK TABLE energy_rollup_pending IN SHARE ROW EXCLUSIVE MODE;

-- Start from an empty pending table (what rollup::compact_pending does), so the totals are
-- filled from the rolled and compacted tables alone.
WITH moved AS (DELETE FROM energy_rollup_pending RETURNING *)
INSERT INTO energy_rollup_hourly_compacted AS r (bucket, cluster, node, namespace, team, service,
    kind, source, energy_joules, sample_secs)
SELECT bucket, cluster, node, namespace, team, service, kind, source, sum(energy_joules),
       sum(sample_secs)
FROM moved GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8
ON CONFLICT (bucket, cluster, node, namespace, team, service, kind, source)
DO UPDATE SET energy_joules = r.energy_joules + EXCLUDED.energy_joules,
              sample_secs = r.sample_secs + EXCLUDED.sample_secs;

-- Every day as the daily view gives it (rolled days from the rolled table, later days from
-- the hourly one), without the node.
INSERT INTO energy_service_daily (day, cluster, kind, source, namespace, team, service,
    energy_joules)
SELECT bucket, cluster, kind, source, namespace, team, service, sum(energy_joules)
FROM energy_rollup_daily
GROUP BY 1, 2, 3, 4, 5, 6, 7;

-- Every hour's totals per owner (the hourly rollup without the node).
INSERT INTO energy_service_hourly (hour, cluster, kind, source, namespace, team, service,
    energy_joules)
SELECT bucket, cluster, kind, source, namespace, team, service, sum(energy_joules)
FROM energy_rollup_hourly_compacted
GROUP BY 1, 2, 3, 4, 5, 6, 7;

-- Every hour's node totals.
INSERT INTO energy_node_hourly (hour, cluster, node, kind, source, energy_joules)
SELECT bucket, cluster, node, kind, source, sum(energy_joules)
FROM energy_rollup_hourly_compacted
GROUP BY 1, 2, 3, 4, 5;

-- What a statement moves out of the pending table (compaction: into the hourly table) goes
-- into the totals in that same statement.
CREATE FUNCTION energy_totals_add_moved() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO energy_service_daily AS t (day, cluster, kind, source, namespace, team, service,
        energy_joules)
    SELECT date_trunc('day', bucket, 'UTC'), cluster, kind, source, namespace, team, service,
           sum(energy_joules)
    FROM moved GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, 7
    ON CONFLICT (day, cluster, kind, source, namespace, team, service)
    DO UPDATE SET energy_joules = t.energy_joules + EXCLUDED.energy_joules;
    INSERT INTO energy_service_hourly AS t (hour, cluster, kind, source, namespace, team,
        service, energy_joules)
    SELECT bucket, cluster, kind, source, namespace, team, service, sum(energy_joules)
    FROM moved GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, 7
    ON CONFLICT (hour, cluster, kind, source, namespace, team, service)
    DO UPDATE SET energy_joules = t.energy_joules + EXCLUDED.energy_joules;
    INSERT INTO energy_node_hourly AS t (hour, cluster, node, kind, source, energy_joules)
    SELECT bucket, cluster, node, kind, source, sum(energy_joules)
    FROM moved GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (hour, cluster, node, kind, source)
    DO UPDATE SET energy_joules = t.energy_joules + EXCLUDED.energy_joules;
    RETURN NULL;
END $$;

CREATE TRIGGER energy_rollup_pending_moved
    AFTER DELETE ON energy_rollup_pending
    REFERENCING OLD TABLE AS moved
    FOR EACH STATEMENT EXECUTE FUNCTION energy_totals_add_moved();

CREATE TABLE energy_figures_version (
    shard    SMALLINT PRIMARY KEY CHECK (shard >= 0 AND shard < 16),
    version  BIGINT NOT NULL DEFAULT 0,
    history  BIGINT NOT NULL DEFAULT 0
);
INSERT INTO energy_figures_version (shard) SELECT generate_series(0, 15);

CREATE FUNCTION energy_figures_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE energy_figures_version SET version = version + 1, history = history + 1
    WHERE shard = pg_backend_pid() % 16;
    RETURN NULL;
END $$;

-- Increments appended by ingest: `history` only when one is for an hour before the current
-- one (by the database's clock; readers treat the hour before theirs as open too, so clocks an
-- hour apart are still safe).
CREATE FUNCTION energy_figures_appended() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE energy_figures_version
    SET version = version + 1,
        history = history + CASE WHEN EXISTS (
            SELECT 1 FROM added WHERE bucket < date_trunc('hour', now(), 'UTC')) THEN 1 ELSE 0 END
    WHERE shard = pg_backend_pid() % 16;
    RETURN NULL;
END $$;

CREATE TRIGGER energy_figures_changed_pending
    AFTER INSERT ON energy_rollup_pending
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION energy_figures_appended();
CREATE TRIGGER energy_figures_changed_rolled
    AFTER INSERT OR UPDATE OR DELETE ON energy_rollup_daily_rolled
    FOR EACH STATEMENT EXECUTE FUNCTION energy_figures_changed();
CREATE TRIGGER energy_figures_changed_watermark
    AFTER INSERT OR UPDATE OR DELETE ON energy_daily_watermark
    FOR EACH STATEMENT EXECUTE FUNCTION energy_figures_changed();
CREATE TRIGGER energy_figures_changed_grid
    AFTER INSERT OR UPDATE OR DELETE ON energy_grid_intensity
    FOR EACH STATEMENT EXECUTE FUNCTION energy_figures_changed();
CREATE TRIGGER energy_figures_changed_services
    AFTER INSERT OR UPDATE OR DELETE ON services
    FOR EACH STATEMENT EXECUTE FUNCTION energy_figures_changed();
CREATE TRIGGER energy_figures_changed_teams
    AFTER INSERT OR UPDATE OR DELETE ON teams
    FOR EACH STATEMENT EXECUTE FUNCTION energy_figures_changed();
