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
    name        TEXT PRIMARY KEY NOT NULL CHECK (typeof(name) = 'text'),
    kind        TEXT NOT NULL CHECK (typeof(kind) = 'text'),
    excludes    TEXT NOT NULL CHECK (typeof(excludes) = 'text'),
    base        TEXT CHECK (base IS NULL OR typeof(base) = 'text'),
    time_zone   TEXT CHECK (time_zone IS NULL OR typeof(time_zone) = 'text'),
    description TEXT CHECK (description IS NULL OR typeof(description) = 'text'),
    created_at  BIGINT NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)),
    updated_at  BIGINT NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
);

-- The calendar whose excluded times a task's slots skip; NULL: none.
ALTER TABLE tasks ADD COLUMN calendar TEXT
    CHECK (calendar IS NULL OR typeof(calendar) = 'text');

-- As in 0004, and a change of calendar recomputes next_fire_at too.
DROP TRIGGER tasks_changed;
CREATE TRIGGER tasks_changed AFTER UPDATE ON tasks
FOR EACH ROW
WHEN NEW.next_fire_at IS OLD.next_fire_at
 AND NEW.last_fire_at IS OLD.last_fire_at
 AND NEW.error IS OLD.error
 AND NEW.error_code IS OLD.error_code
 AND NEW.revision = OLD.revision
BEGIN
    UPDATE tasks
       SET error = NULL,
           error_code = NULL,
           revision = OLD.revision + 1,
           next_fire_at = CASE
               WHEN NEW.schedule IS NOT OLD.schedule
                 OR NEW.time_zone IS NOT OLD.time_zone
                 OR NEW.start_at IS NOT OLD.start_at
                 OR NEW.end_at IS NOT OLD.end_at
                 OR NEW.paused IS NOT OLD.paused
                 OR NEW.calendar IS NOT OLD.calendar
               THEN NULL ELSE OLD.next_fire_at END
     WHERE name = NEW.name;
END;
