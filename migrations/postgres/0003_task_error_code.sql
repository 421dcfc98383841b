-- A stable code beside a task's error message (same change as
-- migrations/sqlite/0003_task_error_code.sql). The host acts on the code
-- (`missing-module` rows are unblocked when their module arrives), never on
-- the wording of the message, so a reworded message cannot leave a task
-- blocked during a rolling upgrade. Codes: `invalid`, `missing-module`,
-- `finished`.
ALTER TABLE tasks ADD COLUMN error_code TEXT;

-- The trigger is dropped while existing errors get their codes (that update
-- would otherwise count as a user's change and clear them).
DROP TRIGGER tasks_changed ON tasks;

UPDATE tasks SET error_code = CASE
    WHEN error LIKE 'module `%` is not loaded%' THEN 'missing-module'
    WHEN error = 'finished: the schedule has no fire times left' THEN 'finished'
    ELSE 'invalid' END
 WHERE error IS NOT NULL;

-- As in 0002, and the error code is the scheduler's too.
CREATE OR REPLACE FUNCTION carillon_tasks_changed() RETURNS trigger AS $$
BEGIN
    NEW.error := NULL;
    NEW.error_code := NULL;
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
      AND NEW.error_code IS NOT DISTINCT FROM OLD.error_code
      AND NEW.revision = OLD.revision)
EXECUTE FUNCTION carillon_tasks_changed();
