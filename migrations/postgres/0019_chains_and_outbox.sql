-- As migrations/sqlite/0019_chains_and_outbox.sql: chaining columns, what
-- runs hand on, why a run exists, and the outbox of what must be followed
-- up (written by triggers, so every writer's changes count).
ALTER TABLE tasks ADD COLUMN on_success TEXT;
ALTER TABLE tasks ADD COLUMN on_failure TEXT;

ALTER TABLE runs ADD COLUMN outputs TEXT;
ALTER TABLE runs ADD COLUMN cause TEXT;
ALTER TABLE runs ADD COLUMN watched BOOLEAN NOT NULL DEFAULT FALSE;
CREATE UNIQUE INDEX runs_by_cause ON runs (task, cause, shard_index) WHERE cause IS NOT NULL;

CREATE TABLE outbox (
    id       BIGSERIAL PRIMARY KEY,
    kind     TEXT NOT NULL,
    task     TEXT NOT NULL,
    subject  BIGINT NOT NULL,
    state    TEXT NOT NULL,
    at       BIGINT NOT NULL
);

-- Each entry wakes the hosts (one notification per transaction).
CREATE FUNCTION carillon_run_ended() RETURNS trigger AS $$
BEGIN
    INSERT INTO outbox (kind, task, subject, state, at)
    VALUES ('run-ended', NEW.task, NEW.id, NEW.state,
            COALESCE(NEW.finished_at, (extract(epoch from clock_timestamp()) * 1000)::BIGINT));
    PERFORM pg_notify('carillon_outbox', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER runs_ended AFTER UPDATE OF state ON runs
FOR EACH ROW
WHEN (OLD.state IN ('pending', 'running')
  AND NEW.state IN ('succeeded', 'failed', 'timed-out', 'cancelled', 'orphaned')
  AND (NEW.watched OR NEW.state IN ('failed', 'timed-out', 'orphaned')))
EXECUTE FUNCTION carillon_run_ended();

CREATE FUNCTION carillon_misfire_recorded() RETURNS trigger AS $$
BEGIN
    INSERT INTO outbox (kind, task, subject, state, at)
    VALUES ('misfire', NEW.task, NEW.id, NEW.policy, NEW.recorded_at);
    PERFORM pg_notify('carillon_outbox', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER misfire_recorded AFTER INSERT ON misfires
FOR EACH ROW EXECUTE FUNCTION carillon_misfire_recorded();
