-- Calendars (Quartz's): named sets of times in which tasks do not fire.
-- `kind` is annual, holiday, monthly, weekly, daily or cron; `excludes` is
-- what it excludes, in that kind's words (`12-25, 01-01`; `2026-12-25`;
-- `1, 15`; `SAT, SUN`; `12:00-13:00` or `outside 08:00-18:00`; a Quartz
-- cron expression); `base` names a calendar that excludes more (a time is
-- included only when every calendar in the chain includes it); `time_zone`
-- is the zone it is read in (NULL: the zone of the task using it). A public
-- interface like `tasks`: the host rereads it on each pass and reschedules
-- the tasks whose calendar changed. Columns are documented in README.md.
CREATE TABLE calendars (
    name        TEXT PRIMARY KEY NOT NULL,
    kind        TEXT NOT NULL,
    excludes    TEXT NOT NULL,
    base        TEXT,
    time_zone   TEXT,
    description TEXT,
    created_at  BIGINT NOT NULL DEFAULT ((extract(epoch from clock_timestamp()) * 1000)::BIGINT),
    updated_at  BIGINT NOT NULL DEFAULT ((extract(epoch from clock_timestamp()) * 1000)::BIGINT)
);

-- The calendar whose excluded times a task's slots skip; NULL: none.
ALTER TABLE tasks ADD COLUMN calendar TEXT;

-- As in 0003, and a change of calendar recomputes next_fire_at too.
CREATE OR REPLACE FUNCTION carillon_tasks_changed() RETURNS trigger AS $$
BEGIN
    NEW.error := NULL;
    NEW.error_code := NULL;
    NEW.revision := OLD.revision + 1;
    IF NEW.schedule IS DISTINCT FROM OLD.schedule
       OR NEW.time_zone IS DISTINCT FROM OLD.time_zone
       OR NEW.start_at IS DISTINCT FROM OLD.start_at
       OR NEW.end_at IS DISTINCT FROM OLD.end_at
       OR NEW.paused IS DISTINCT FROM OLD.paused
       OR NEW.calendar IS DISTINCT FROM OLD.calendar THEN
        NEW.next_fire_at := NULL;
    END IF;
    PERFORM pg_notify('carillon_tasks', '');
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

-- A change to the calendars wakes the hosts as a task change does.
CREATE FUNCTION carillon_calendars_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('carillon_tasks', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER calendars_changed AFTER INSERT OR UPDATE OR DELETE ON calendars
FOR EACH STATEMENT EXECUTE FUNCTION carillon_calendars_changed();
