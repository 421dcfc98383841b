-- Listing runs by the time they were due (the API's and console's `from` and
-- `to`): without it a range that matches few runs scans the whole table.
-- Like `runs_by_task`, its column never changes after the insert, so a run's
-- state changes do not touch it.
CREATE INDEX runs_by_slot ON runs (scheduled_at);
