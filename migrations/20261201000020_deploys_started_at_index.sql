-- no-transaction
-- squawk-ignore-file require-timeout-settings
-- The home page's activity feed reads the newest deploys across the organisation
-- (ORDER BY started_at DESC LIMIT 20): without this index that is a scan and sort of every deploy
-- on each visit. Built CONCURRENTLY, so deploys keep being written while it builds; that cannot
-- run in a transaction (hence `no-transaction` above, which sqlx reads) nor next to another
-- statement, so this file holds this one statement and sets no timeouts (an index built
-- concurrently takes no lock that blocks writes).
CREATE INDEX CONCURRENTLY IF NOT EXISTS deploys_started_at ON deploys (started_at DESC);
