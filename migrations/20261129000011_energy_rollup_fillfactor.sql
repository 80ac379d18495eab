-- Rollup rows are updated in place by every batch (energy_joules += ...). Leaving a third of each
-- page free lets those updates be HOT (no new index entries), which is what bounds ingest
-- throughput for single-interval batches (docs/ENERGY.md, benchmarks).
ALTER TABLE energy_rollup_hourly SET (fillfactor = 70);
ALTER TABLE energy_rollup_daily SET (fillfactor = 70);
