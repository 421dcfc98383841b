-- Cluster support (same schema as migrations/sqlite/0002_cluster.sql, plus
-- the notifications that make changes visible on every host at once).

-- The live host a run was offered to when it was fired, so the shards of a
-- fire spread over the hosts. Only that host claims it at first; once the run
-- has waited longer than the offer window, any host may. Cleared at claim.
ALTER TABLE runs ADD COLUMN offered_to TEXT;

-- Change pickup: every host LISTENs on these channels. Polling stays as the
-- fallback, so a missed notification only costs latency.
--
-- `carillon_tasks`: a task row was added, removed or changed by anyone but
-- the scheduler. One notification per transaction (same payload).
--
-- The trigger of 0001 is redefined with its condition in WHEN, evaluated
-- without entering PL/pgSQL: the scheduler rewrites next_fire_at on every
-- fire, thousands of rows a second, and those updates now cost no call.
DROP TRIGGER tasks_changed ON tasks;

CREATE OR REPLACE FUNCTION carillon_tasks_changed() RETURNS trigger AS $$
BEGIN
    NEW.error := NULL;
    NEW.revision := OLD.revision + 1;
    IF NEW.schedule IS DISTINCT FROM OLD.schedule
       OR NEW.time_zone IS DISTINCT FROM OLD.time_zone
       OR NEW.start_at IS DISTINCT FROM OLD.start_at
       OR NEW.end_at IS DISTINCT FROM OLD.end_at
       OR NEW.paused IS DISTINCT FROM OLD.paused THEN
        NEW.next_fire_at := NULL;
    END IF;
    PERFORM pg_notify('carillon_tasks', '');
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER tasks_changed BEFORE UPDATE ON tasks
FOR EACH ROW
WHEN (NEW.next_fire_at IS NOT DISTINCT FROM OLD.next_fire_at
      AND NEW.last_fire_at IS NOT DISTINCT FROM OLD.last_fire_at
      AND NEW.error IS NOT DISTINCT FROM OLD.error
      AND NEW.revision = OLD.revision)
EXECUTE FUNCTION carillon_tasks_changed();

CREATE FUNCTION carillon_tasks_added_or_removed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('carillon_tasks', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER tasks_added_or_removed AFTER INSERT OR DELETE ON tasks
FOR EACH STATEMENT EXECUTE FUNCTION carillon_tasks_added_or_removed();

-- `carillon_runs` is notified by the hosts themselves, in the transaction
-- that creates pending runs, with the hosts they were offered to as payload
-- (`*`: any host), so only those wake up to claim.

-- `carillon_modules`: a module was pushed, replaced or removed; every host
-- loads it (or drops it) at once instead of at its next module sync.
CREATE FUNCTION carillon_modules_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('carillon_modules', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER modules_changed AFTER INSERT OR UPDATE OR DELETE ON modules
FOR EACH STATEMENT EXECUTE FUNCTION carillon_modules_changed();

-- Claims read pending runs in (not_before, id) order: an index in that
-- order lets the claim stop after the rows it takes, however long the
-- backlog.
DROP INDEX runs_pending;
CREATE INDEX runs_pending ON runs (not_before, id) WHERE state = 'pending';
