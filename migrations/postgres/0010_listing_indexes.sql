-- Listing a task's runs newest first, in any state or in one (the API's and
-- console's most common run queries), without scanning `runs`. One index
-- only: its columns never change after the insert, so a run's state changes
-- do not touch it (a second one on (task, state, id) doubled the scheduler's
-- lateness under API load on SQLite; see BENCHMARKS.md).
CREATE INDEX runs_by_task ON runs (task, id);

-- The scheduler looks for rows to schedule at every pass: paused rows
-- (which keep no fire time) must not be in the index it walks, or 10,000
-- paused tasks cost a scan of 10,000 entries several times a second.
DROP INDEX tasks_unscheduled;
CREATE INDEX tasks_unscheduled ON tasks (name)
    WHERE next_fire_at IS NULL AND error IS NULL AND NOT paused;

-- The tasks of one group, by name (the API's and console's group filter).
CREATE INDEX tasks_by_group ON tasks (task_group, name);
