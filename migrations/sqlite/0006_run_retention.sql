-- Run history retention (same change on both databases).
--
-- `tasks.keep_runs`: keep at most the newest N finished runs of the task
-- (NULL: no count limit; the host's retention.succeeded / retention.failed
-- ages apply either way).
ALTER TABLE tasks ADD COLUMN keep_runs BIGINT
    CHECK (keep_runs IS NULL OR (typeof(keep_runs) = 'integer' AND keep_runs >= 0));

-- Finished runs by when they finished, for purging the old ones in small
-- batches without scanning the table.
CREATE INDEX runs_finished ON runs (finished_at) WHERE finished_at IS NOT NULL;
