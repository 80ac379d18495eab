-- Ingest throughput (docs/ENERGY.md, "Rollups"): a single-interval batch used to upsert one
-- hourly AND one daily row per pod. Now ingest upserts the hourly rollup only, for days that
-- are not yet "rolled"; a background job folds whole past days of hourly rows into the daily
-- table and moves a watermark. `energy_rollup_daily` becomes a view that reads rolled days from
-- the table and the days after the watermark from the hourly rollup, so every reader (queries,
-- tests, other pages) sees exact daily figures the moment a batch is acknowledged.
--
-- Invariant: energy_rollup_daily_rolled holds rows only for days before the watermark, and for
-- those days it equals the sum of the hourly rows. Ingest of a sample in a day before the
-- watermark (a late batch) upserts both tables in its one statement; the job takes
-- SHARE ROW EXCLUSIVE on energy_rollup_hourly while it rolls, so no ingest can interleave.

ALTER TABLE energy_rollup_daily RENAME TO energy_rollup_daily_rolled;

-- One row: days strictly before `rolled_through` (a UTC midnight) are in the daily table.
-- It starts where the job keeps it: the start of yesterday (energy/rollup.rs, roll_target).
CREATE TABLE energy_daily_watermark (
    singleton       BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    rolled_through  TIMESTAMPTZ NOT NULL
);
INSERT INTO energy_daily_watermark (rolled_through)
VALUES (date_trunc('day', now(), 'UTC') - interval '24 hours');

-- Until now ingest maintained the daily table for every day: drop yesterday's and today's
-- rows, which the hourly rollup holds in full and the view reads from there.
DELETE FROM energy_rollup_daily_rolled
WHERE bucket >= (SELECT rolled_through FROM energy_daily_watermark);

-- The daily rollup as readers know it. Days after the watermark come from hourly rows (several
-- rows per key and day there: readers sum, as they always did).
CREATE VIEW energy_rollup_daily AS
    SELECT bucket, cluster, node, namespace, team, service, kind, source, energy_joules,
           sample_secs
    FROM energy_rollup_daily_rolled
    WHERE bucket < (SELECT rolled_through FROM energy_daily_watermark)
    UNION ALL
    SELECT date_trunc('day', bucket, 'UTC'), cluster, node, namespace, team, service, kind,
           source, energy_joules, sample_secs
    FROM energy_rollup_hourly
    WHERE bucket >= (SELECT rolled_through FROM energy_daily_watermark);
