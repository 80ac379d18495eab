-- No interval counted twice (issue 11, item 4): the intervals stored per cluster, node and
-- source, one row per node sample, with an exclusion constraint so that two batches covering
-- the same time of one node (a re-sent interval under a new batch_id, a second agent on the
-- node, a clock that went back) cannot both be stored, even when they arrive at once. The raw
-- sample tables are partitioned by day, and PostgreSQL 15 has no exclusion constraints on
-- partitioned tables (nor could one see across a day boundary), hence this plain table.
-- Rows go with the raw retention (server/src/energy/partitions.rs). btree_gist (contrib,
-- trusted: the database owner may create it) gives GiST the equality on text the constraint
-- needs.
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '600s';

CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE energy_node_intervals (
    cluster   TEXT NOT NULL,
    node      TEXT NOT NULL,
    source    TEXT NOT NULL,
    during    TSTZRANGE NOT NULL CHECK (lower_inc(during) AND NOT upper_inc(during)),
    batch_id  UUID NOT NULL,
    CONSTRAINT energy_node_intervals_no_overlap
        EXCLUDE USING gist (cluster WITH =, node WITH =, source WITH =, during WITH &&)
);

-- What is stored already (within the raw retention). Intervals that overlap each other there
-- were counted twice before this migration; the first one stored keeps its place.
INSERT INTO energy_node_intervals (cluster, node, source, during, batch_id)
SELECT s.cluster, s.node, s.source, tstzrange(s.start_at, s.end_at, '[)'), s.batch_id
FROM energy_node_samples s
JOIN energy_batches b USING (batch_id)
WHERE s.start_at < s.end_at
ORDER BY b.received_at, s.start_at
ON CONFLICT DO NOTHING;
