-- Chaining: when a fire of a task ends (every shard, after retries), the
-- tasks named in `on_success` (every shard succeeded) or `on_failure` (one
-- failed, timed out or was orphaned) fire once for it. Comma separated
-- task names; NULL: none. Columns are documented in README.md.
ALTER TABLE tasks ADD COLUMN on_success TEXT
    CHECK (on_success IS NULL OR typeof(on_success) = 'text');
ALTER TABLE tasks ADD COLUMN on_failure TEXT
    CHECK (on_failure IS NULL OR typeof(on_failure) = 'text');

-- What a run handed on through the contract's `output` import: a JSON
-- object of strings, read by the tasks chained after it and the workflow
-- steps after it.
ALTER TABLE runs ADD COLUMN outputs TEXT;
-- Why a run exists outside its task's schedule: `after TASK@SLOT END` for
-- a chained run, `workflow RUN STEP TRY` for a workflow step. A cause
-- makes one run per shard, however often it is seen.
ALTER TABLE runs ADD COLUMN cause TEXT;
-- Whether something waits for the run's end (its task chains, or it is a
-- workflow step): its end is written to the outbox.
ALTER TABLE runs ADD COLUMN watched BOOLEAN NOT NULL DEFAULT FALSE;
CREATE UNIQUE INDEX runs_by_cause ON runs (task, cause, shard_index) WHERE cause IS NOT NULL;

-- What happened that something must follow up: a watched run ended, a run
-- failed for good (alerts), a fire was missed. Written in the transaction
-- that made it happen (by the triggers below, whoever wrote the row), taken
-- and deleted by one host in the transaction that follows it up.
CREATE TABLE outbox (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    -- `run-ended` (subject: the run) or `misfire` (subject: the misfire).
    kind     TEXT NOT NULL,
    task     TEXT NOT NULL,
    subject  BIGINT NOT NULL,
    -- The run's final state, or the misfire policy.
    state    TEXT NOT NULL,
    at       BIGINT NOT NULL
);

CREATE TRIGGER runs_ended AFTER UPDATE OF state ON runs
FOR EACH ROW
WHEN OLD.state IN ('pending', 'running')
 AND NEW.state IN ('succeeded', 'failed', 'timed-out', 'cancelled', 'orphaned')
 AND (NEW.watched OR NEW.state IN ('failed', 'timed-out', 'orphaned'))
BEGIN
    INSERT INTO outbox (kind, task, subject, state, at)
    VALUES ('run-ended', NEW.task, NEW.id, NEW.state,
            COALESCE(NEW.finished_at, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)));
END;

CREATE TRIGGER misfire_recorded AFTER INSERT ON misfires
FOR EACH ROW
BEGIN
    INSERT INTO outbox (kind, task, subject, state, at)
    VALUES ('misfire', NEW.task, NEW.id, NEW.policy, NEW.recorded_at);
END;
