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
CREATE OR REPLACE FUNCTION carillon_tasks_changed() RETURNS trigger AS $$
BEGIN
    IF NEW.next_fire_at IS NOT DISTINCT FROM OLD.next_fire_at
       AND NEW.last_fire_at IS NOT DISTINCT FROM OLD.last_fire_at
       AND NEW.error IS NOT DISTINCT FROM OLD.error
       AND NEW.revision = OLD.revision THEN
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
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION carillon_tasks_added_or_removed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('carillon_tasks', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER tasks_added_or_removed AFTER INSERT OR DELETE ON tasks
FOR EACH STATEMENT EXECUTE FUNCTION carillon_tasks_added_or_removed();

-- `carillon_runs`: pending runs were created; the payload lists the hosts
-- they were offered to (`*` for any host), so only those wake up to claim.
CREATE FUNCTION carillon_runs_added() RETURNS trigger AS $$
DECLARE
    offered TEXT;
BEGIN
    SELECT string_agg(DISTINCT COALESCE(offered_to, '*'), ',') INTO offered
    FROM added WHERE state = 'pending';
    IF length(offered) > 7900 THEN
        offered := '*';
    END IF;
    IF offered IS NOT NULL THEN
        PERFORM pg_notify('carillon_runs', offered);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER runs_added AFTER INSERT ON runs
REFERENCING NEW TABLE AS added
FOR EACH STATEMENT EXECUTE FUNCTION carillon_runs_added();

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
