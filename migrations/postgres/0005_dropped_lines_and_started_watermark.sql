-- What a host could not keep, and what it had begun (same change on both
-- databases).
--
-- `runs.log_lines_dropped`: log lines of the run the host could not hold
-- while its record queue was full (the database slow or unreachable); they
-- are counted here, never silently lost from the count.
ALTER TABLE runs ADD COLUMN log_lines_dropped BIGINT NOT NULL DEFAULT 0;

-- `nodes.started_through`: every run this host holds that was due to start
-- at or before this time (ms) has begun. After a crash, a run it had claimed
-- ahead of a later slot never started, so it goes back to pending as it was
-- instead of being counted as an attempt (or orphaned).
ALTER TABLE nodes ADD COLUMN started_through BIGINT;
