-- Type checks on the task table (SQLite only: PostgreSQL's columns are
-- typed already). SQLite stores any value in any column, so a row written
-- with plain SQL could hold `shard_total = 'abc'`, `paused = 'true'`, a blob
-- schedule or a NULL name; now such a write is refused with a CHECK error
-- naming the column. SQLite cannot add constraints to a table, so it is
-- rebuilt: a row that already holds a value of the wrong type is kept, that
-- value reset to its default, the task paused, and an error saying which
-- columns were reset. (Generated from the column list; see the README's
-- task table for what each column accepts.)

CREATE TABLE tasks_checked (
    name             TEXT PRIMARY KEY NOT NULL
        CHECK (typeof(name) = 'text' AND length(name) > 0),
    task_group       TEXT NOT NULL DEFAULT 'default'
        CHECK (typeof(task_group) = 'text'),
    module           TEXT NOT NULL
        CHECK (typeof(module) = 'text'),
    schedule         TEXT NOT NULL
        CHECK (typeof(schedule) = 'text'),
    time_zone        TEXT NOT NULL DEFAULT 'UTC'
        CHECK (typeof(time_zone) = 'text'),
    paused           BOOLEAN NOT NULL DEFAULT FALSE
        CHECK (paused IN (0, 1)),
    shard_total      BIGINT NOT NULL DEFAULT 1
        CHECK (typeof(shard_total) = 'integer'),
    shard_params     TEXT
        CHECK (shard_params IS NULL OR typeof(shard_params) = 'text'),
    page_size        BIGINT
        CHECK (page_size IS NULL OR typeof(page_size) = 'integer'),
    params           TEXT NOT NULL DEFAULT '{}'
        CHECK (typeof(params) = 'text'),
    concurrency      TEXT NOT NULL DEFAULT 'allow'
        CHECK (typeof(concurrency) = 'text'),
    misfire          TEXT NOT NULL DEFAULT 'fire-now'
        CHECK (typeof(misfire) = 'text'),
    timeout_ms       BIGINT
        CHECK (timeout_ms IS NULL OR typeof(timeout_ms) = 'integer'),
    memory_mib       BIGINT
        CHECK (memory_mib IS NULL OR typeof(memory_mib) = 'integer'),
    max_retries      BIGINT NOT NULL DEFAULT 0
        CHECK (typeof(max_retries) = 'integer'),
    retry_backoff_ms BIGINT NOT NULL DEFAULT 1000
        CHECK (typeof(retry_backoff_ms) = 'integer'),
    selector         TEXT
        CHECK (selector IS NULL OR typeof(selector) = 'text'),
    start_at         BIGINT
        CHECK (start_at IS NULL OR typeof(start_at) = 'integer'),
    end_at           BIGINT
        CHECK (end_at IS NULL OR typeof(end_at) = 'integer'),
    created_at       BIGINT NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
        CHECK (typeof(created_at) = 'integer'),
    next_fire_at     BIGINT
        CHECK (next_fire_at IS NULL OR typeof(next_fire_at) = 'integer'),
    last_fire_at     BIGINT
        CHECK (last_fire_at IS NULL OR typeof(last_fire_at) = 'integer'),
    error            TEXT
        CHECK (error IS NULL OR typeof(error) = 'text'),
    revision         BIGINT NOT NULL DEFAULT 0
        CHECK (typeof(revision) = 'integer'),
    error_code       TEXT
        CHECK (error_code IS NULL OR typeof(error_code) = 'text')
);

INSERT INTO tasks_checked (name, task_group, module, schedule, time_zone, paused, shard_total, shard_params, page_size, params, concurrency, misfire, timeout_ms, memory_mib, max_retries, retry_backoff_ms, selector, start_at, end_at, created_at, next_fire_at, last_fire_at, error, revision, error_code)
SELECT
    CASE WHEN typeof(name) = 'text' AND length(name) > 0 THEN name ELSE 'unnamed-' || rowid END,
    CASE WHEN typeof(task_group) = 'text' THEN task_group ELSE 'default' END,
    CASE WHEN typeof(module) = 'text' THEN module ELSE '' END,
    CASE WHEN typeof(schedule) = 'text' THEN schedule ELSE '' END,
    CASE WHEN typeof(time_zone) = 'text' THEN time_zone ELSE 'UTC' END,
    CASE WHEN (NOT (typeof(name) = 'text' AND length(name) > 0)
       OR NOT (typeof(task_group) = 'text')
       OR NOT (typeof(module) = 'text')
       OR NOT (typeof(schedule) = 'text')
       OR NOT (typeof(time_zone) = 'text')
       OR NOT (paused IN (0, 1))
       OR NOT (typeof(shard_total) = 'integer')
       OR NOT (shard_params IS NULL OR typeof(shard_params) = 'text')
       OR NOT (page_size IS NULL OR typeof(page_size) = 'integer')
       OR NOT (typeof(params) = 'text')
       OR NOT (typeof(concurrency) = 'text')
       OR NOT (typeof(misfire) = 'text')
       OR NOT (timeout_ms IS NULL OR typeof(timeout_ms) = 'integer')
       OR NOT (memory_mib IS NULL OR typeof(memory_mib) = 'integer')
       OR NOT (typeof(max_retries) = 'integer')
       OR NOT (typeof(retry_backoff_ms) = 'integer')
       OR NOT (selector IS NULL OR typeof(selector) = 'text')
       OR NOT (start_at IS NULL OR typeof(start_at) = 'integer')
       OR NOT (end_at IS NULL OR typeof(end_at) = 'integer')
       OR NOT (typeof(created_at) = 'integer')
       OR NOT (next_fire_at IS NULL OR typeof(next_fire_at) = 'integer')
       OR NOT (last_fire_at IS NULL OR typeof(last_fire_at) = 'integer')
       OR NOT (typeof(revision) = 'integer')) THEN 1 ELSE paused END,
    CASE WHEN typeof(shard_total) = 'integer' THEN shard_total ELSE 1 END,
    CASE WHEN shard_params IS NULL OR typeof(shard_params) = 'text' THEN shard_params ELSE NULL END,
    CASE WHEN page_size IS NULL OR typeof(page_size) = 'integer' THEN page_size ELSE NULL END,
    CASE WHEN typeof(params) = 'text' THEN params ELSE '{}' END,
    CASE WHEN typeof(concurrency) = 'text' THEN concurrency ELSE 'allow' END,
    CASE WHEN typeof(misfire) = 'text' THEN misfire ELSE 'fire-now' END,
    CASE WHEN timeout_ms IS NULL OR typeof(timeout_ms) = 'integer' THEN timeout_ms ELSE NULL END,
    CASE WHEN memory_mib IS NULL OR typeof(memory_mib) = 'integer' THEN memory_mib ELSE NULL END,
    CASE WHEN typeof(max_retries) = 'integer' THEN max_retries ELSE 0 END,
    CASE WHEN typeof(retry_backoff_ms) = 'integer' THEN retry_backoff_ms ELSE 1000 END,
    CASE WHEN selector IS NULL OR typeof(selector) = 'text' THEN selector ELSE NULL END,
    CASE WHEN start_at IS NULL OR typeof(start_at) = 'integer' THEN start_at ELSE NULL END,
    CASE WHEN end_at IS NULL OR typeof(end_at) = 'integer' THEN end_at ELSE NULL END,
    CASE WHEN typeof(created_at) = 'integer' THEN created_at ELSE CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) END,
    CASE WHEN (NOT (typeof(name) = 'text' AND length(name) > 0)
       OR NOT (typeof(task_group) = 'text')
       OR NOT (typeof(module) = 'text')
       OR NOT (typeof(schedule) = 'text')
       OR NOT (typeof(time_zone) = 'text')
       OR NOT (paused IN (0, 1))
       OR NOT (typeof(shard_total) = 'integer')
       OR NOT (shard_params IS NULL OR typeof(shard_params) = 'text')
       OR NOT (page_size IS NULL OR typeof(page_size) = 'integer')
       OR NOT (typeof(params) = 'text')
       OR NOT (typeof(concurrency) = 'text')
       OR NOT (typeof(misfire) = 'text')
       OR NOT (timeout_ms IS NULL OR typeof(timeout_ms) = 'integer')
       OR NOT (memory_mib IS NULL OR typeof(memory_mib) = 'integer')
       OR NOT (typeof(max_retries) = 'integer')
       OR NOT (typeof(retry_backoff_ms) = 'integer')
       OR NOT (selector IS NULL OR typeof(selector) = 'text')
       OR NOT (start_at IS NULL OR typeof(start_at) = 'integer')
       OR NOT (end_at IS NULL OR typeof(end_at) = 'integer')
       OR NOT (typeof(created_at) = 'integer')
       OR NOT (next_fire_at IS NULL OR typeof(next_fire_at) = 'integer')
       OR NOT (last_fire_at IS NULL OR typeof(last_fire_at) = 'integer')
       OR NOT (typeof(revision) = 'integer')) THEN NULL ELSE next_fire_at END,
    CASE WHEN last_fire_at IS NULL OR typeof(last_fire_at) = 'integer' THEN last_fire_at ELSE NULL END,
    CASE WHEN (NOT (typeof(name) = 'text' AND length(name) > 0)
       OR NOT (typeof(task_group) = 'text')
       OR NOT (typeof(module) = 'text')
       OR NOT (typeof(schedule) = 'text')
       OR NOT (typeof(time_zone) = 'text')
       OR NOT (paused IN (0, 1))
       OR NOT (typeof(shard_total) = 'integer')
       OR NOT (shard_params IS NULL OR typeof(shard_params) = 'text')
       OR NOT (page_size IS NULL OR typeof(page_size) = 'integer')
       OR NOT (typeof(params) = 'text')
       OR NOT (typeof(concurrency) = 'text')
       OR NOT (typeof(misfire) = 'text')
       OR NOT (timeout_ms IS NULL OR typeof(timeout_ms) = 'integer')
       OR NOT (memory_mib IS NULL OR typeof(memory_mib) = 'integer')
       OR NOT (typeof(max_retries) = 'integer')
       OR NOT (typeof(retry_backoff_ms) = 'integer')
       OR NOT (selector IS NULL OR typeof(selector) = 'text')
       OR NOT (start_at IS NULL OR typeof(start_at) = 'integer')
       OR NOT (end_at IS NULL OR typeof(end_at) = 'integer')
       OR NOT (typeof(created_at) = 'integer')
       OR NOT (next_fire_at IS NULL OR typeof(next_fire_at) = 'integer')
       OR NOT (last_fire_at IS NULL OR typeof(last_fire_at) = 'integer')
       OR NOT (typeof(revision) = 'integer')) THEN 'paused: when type checks were added to the tasks table, these columns held values of the wrong type and were reset to their defaults:'
        || CASE WHEN NOT (typeof(name) = 'text' AND length(name) > 0) THEN ' `name`' ELSE '' END
        || CASE WHEN NOT (typeof(task_group) = 'text') THEN ' `task_group`' ELSE '' END
        || CASE WHEN NOT (typeof(module) = 'text') THEN ' `module`' ELSE '' END
        || CASE WHEN NOT (typeof(schedule) = 'text') THEN ' `schedule`' ELSE '' END
        || CASE WHEN NOT (typeof(time_zone) = 'text') THEN ' `time_zone`' ELSE '' END
        || CASE WHEN NOT (paused IN (0, 1)) THEN ' `paused`' ELSE '' END
        || CASE WHEN NOT (typeof(shard_total) = 'integer') THEN ' `shard_total`' ELSE '' END
        || CASE WHEN NOT (shard_params IS NULL OR typeof(shard_params) = 'text') THEN ' `shard_params`' ELSE '' END
        || CASE WHEN NOT (page_size IS NULL OR typeof(page_size) = 'integer') THEN ' `page_size`' ELSE '' END
        || CASE WHEN NOT (typeof(params) = 'text') THEN ' `params`' ELSE '' END
        || CASE WHEN NOT (typeof(concurrency) = 'text') THEN ' `concurrency`' ELSE '' END
        || CASE WHEN NOT (typeof(misfire) = 'text') THEN ' `misfire`' ELSE '' END
        || CASE WHEN NOT (timeout_ms IS NULL OR typeof(timeout_ms) = 'integer') THEN ' `timeout_ms`' ELSE '' END
        || CASE WHEN NOT (memory_mib IS NULL OR typeof(memory_mib) = 'integer') THEN ' `memory_mib`' ELSE '' END
        || CASE WHEN NOT (typeof(max_retries) = 'integer') THEN ' `max_retries`' ELSE '' END
        || CASE WHEN NOT (typeof(retry_backoff_ms) = 'integer') THEN ' `retry_backoff_ms`' ELSE '' END
        || CASE WHEN NOT (selector IS NULL OR typeof(selector) = 'text') THEN ' `selector`' ELSE '' END
        || CASE WHEN NOT (start_at IS NULL OR typeof(start_at) = 'integer') THEN ' `start_at`' ELSE '' END
        || CASE WHEN NOT (end_at IS NULL OR typeof(end_at) = 'integer') THEN ' `end_at`' ELSE '' END
        || CASE WHEN NOT (typeof(created_at) = 'integer') THEN ' `created_at`' ELSE '' END
        || CASE WHEN NOT (next_fire_at IS NULL OR typeof(next_fire_at) = 'integer') THEN ' `next_fire_at`' ELSE '' END
        || CASE WHEN NOT (last_fire_at IS NULL OR typeof(last_fire_at) = 'integer') THEN ' `last_fire_at`' ELSE '' END
        || CASE WHEN NOT (typeof(revision) = 'integer') THEN ' `revision`' ELSE '' END
        || '; check the task, then resume it' ELSE error END,
    CASE WHEN typeof(revision) = 'integer' THEN revision ELSE 0 END,
    CASE WHEN (NOT (typeof(name) = 'text' AND length(name) > 0)
       OR NOT (typeof(task_group) = 'text')
       OR NOT (typeof(module) = 'text')
       OR NOT (typeof(schedule) = 'text')
       OR NOT (typeof(time_zone) = 'text')
       OR NOT (paused IN (0, 1))
       OR NOT (typeof(shard_total) = 'integer')
       OR NOT (shard_params IS NULL OR typeof(shard_params) = 'text')
       OR NOT (page_size IS NULL OR typeof(page_size) = 'integer')
       OR NOT (typeof(params) = 'text')
       OR NOT (typeof(concurrency) = 'text')
       OR NOT (typeof(misfire) = 'text')
       OR NOT (timeout_ms IS NULL OR typeof(timeout_ms) = 'integer')
       OR NOT (memory_mib IS NULL OR typeof(memory_mib) = 'integer')
       OR NOT (typeof(max_retries) = 'integer')
       OR NOT (typeof(retry_backoff_ms) = 'integer')
       OR NOT (selector IS NULL OR typeof(selector) = 'text')
       OR NOT (start_at IS NULL OR typeof(start_at) = 'integer')
       OR NOT (end_at IS NULL OR typeof(end_at) = 'integer')
       OR NOT (typeof(created_at) = 'integer')
       OR NOT (next_fire_at IS NULL OR typeof(next_fire_at) = 'integer')
       OR NOT (last_fire_at IS NULL OR typeof(last_fire_at) = 'integer')
       OR NOT (typeof(revision) = 'integer')) THEN 'invalid' ELSE error_code END
FROM tasks;

DROP TABLE tasks;
ALTER TABLE tasks_checked RENAME TO tasks;

CREATE INDEX tasks_due ON tasks (next_fire_at) WHERE next_fire_at IS NOT NULL;
CREATE INDEX tasks_unscheduled ON tasks (name) WHERE next_fire_at IS NULL AND error IS NULL;

-- As in 0003.
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
