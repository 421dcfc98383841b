-- A stable code beside a task's error message (same change as
-- migrations/postgres/0003_task_error_code.sql). The host acts on the code
-- (`missing-module` rows are unblocked when their module arrives), never on
-- the wording of the message, so a reworded message cannot leave a task
-- blocked during a rolling upgrade. Codes: `invalid`, `missing-module`,
-- `finished`.
ALTER TABLE tasks ADD COLUMN error_code TEXT;

-- The trigger is dropped while existing errors get their codes (that update
-- would otherwise count as a user's change and clear them).
DROP TRIGGER tasks_changed;

UPDATE tasks SET error_code = CASE
    WHEN error LIKE 'module `%` is not loaded%' THEN 'missing-module'
    WHEN error = 'finished: the schedule has no fire times left' THEN 'finished'
    ELSE 'invalid' END
 WHERE error IS NOT NULL;

-- As in 0001, and the error code is the scheduler's too: a change made by
-- anyone but the scheduler clears both, bumps the revision and, if it
-- touched when the task fires, makes the host recompute next_fire_at.
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
               THEN NULL ELSE OLD.next_fire_at END
     WHERE name = NEW.name;
END;
