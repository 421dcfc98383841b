-- Carillon schema, PostgreSQL flavour. migrations/sqlite/0001_initial.sql is the
-- same schema for SQLite. Times are milliseconds since the Unix epoch.

-- The task table is a public interface: insert, update and delete rows with
-- plain SQL; the host picks changes up within its poll interval. Only name,
-- module and schedule are required. Columns are documented in README.md.
CREATE TABLE tasks (
    name             TEXT PRIMARY KEY,
    task_group       TEXT NOT NULL DEFAULT 'default',
    module           TEXT NOT NULL,
    schedule         TEXT NOT NULL,
    time_zone        TEXT NOT NULL DEFAULT 'UTC',
    paused           BOOLEAN NOT NULL DEFAULT FALSE,
    shard_total      BIGINT NOT NULL DEFAULT 1,
    shard_params     TEXT,
    page_size        BIGINT,
    params           TEXT NOT NULL DEFAULT '{}',
    concurrency      TEXT NOT NULL DEFAULT 'allow',
    misfire          TEXT NOT NULL DEFAULT 'fire-now',
    timeout_ms       BIGINT,
    memory_mib       BIGINT,
    max_retries      BIGINT NOT NULL DEFAULT 0,
    retry_backoff_ms BIGINT NOT NULL DEFAULT 1000,
    selector         TEXT,
    start_at         BIGINT,
    end_at           BIGINT,
    created_at       BIGINT NOT NULL DEFAULT ((extract(epoch from clock_timestamp()) * 1000)::BIGINT),
    -- Maintained by the host:
    next_fire_at     BIGINT,
    last_fire_at     BIGINT,
    error            TEXT,
    revision         BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX tasks_due ON tasks (next_fire_at) WHERE next_fire_at IS NOT NULL;
CREATE INDEX tasks_unscheduled ON tasks (name) WHERE next_fire_at IS NULL AND error IS NULL;

-- A change made by anyone but the scheduler (which only writes next_fire_at,
-- last_fire_at and error) clears the row's error, bumps its revision and, if
-- it touched when the task fires, makes the host recompute next_fire_at.
CREATE FUNCTION carillon_tasks_changed() RETURNS trigger AS $$
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
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER tasks_changed BEFORE UPDATE ON tasks
FOR EACH ROW EXECUTE FUNCTION carillon_tasks_changed();

-- One row per (task, slot, shard): a second fire of the same slot is
-- impossible whatever the hosts do.
CREATE TABLE runs (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task          TEXT NOT NULL,
    task_group    TEXT NOT NULL DEFAULT 'default',
    scheduled_at  BIGINT NOT NULL,
    shard_index   BIGINT NOT NULL,
    shard_total   BIGINT NOT NULL,
    shard_param   TEXT,
    page_index    BIGINT,
    page_size     BIGINT,
    params        TEXT NOT NULL DEFAULT '{}',
    module        TEXT NOT NULL,
    selector      TEXT,
    timeout_ms    BIGINT,
    memory_mib    BIGINT,
    max_attempts  BIGINT NOT NULL DEFAULT 1,
    retry_backoff_ms BIGINT NOT NULL DEFAULT 1000,
    state         TEXT NOT NULL DEFAULT 'pending',
    attempt       BIGINT NOT NULL DEFAULT 0,
    not_before    BIGINT NOT NULL,
    node          TEXT,
    module_digest TEXT,
    checkpoint    BYTEA,
    created_at    BIGINT NOT NULL,
    started_at    BIGINT,
    finished_at   BIGINT,
    summary       TEXT,
    items         BIGINT,
    error         TEXT,
    -- Set to ask the node running this run to cancel it (concurrency `replace`).
    cancel_reason TEXT,
    UNIQUE (task, scheduled_at, shard_index)
);
CREATE INDEX runs_pending ON runs (not_before) WHERE state = 'pending';
CREATE INDEX runs_running ON runs (node) WHERE state = 'running';

CREATE TABLE run_logs (
    run_id   BIGINT NOT NULL,
    attempt  BIGINT NOT NULL,
    seq      BIGINT NOT NULL,
    at       BIGINT NOT NULL,
    level    TEXT NOT NULL,
    source   TEXT NOT NULL,
    message  TEXT NOT NULL,
    fields   TEXT,
    PRIMARY KEY (run_id, attempt, seq)
);

-- Fires the misfire policy did not turn into runs.
CREATE TABLE misfires (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task         TEXT NOT NULL,
    first_slot   BIGINT NOT NULL,
    last_slot    BIGINT NOT NULL,
    missed       BIGINT NOT NULL,
    policy       TEXT NOT NULL,
    recorded_at  BIGINT NOT NULL
);

CREATE TABLE nodes (
    id            TEXT PRIMARY KEY,
    labels        TEXT NOT NULL DEFAULT '',
    capacity      BIGINT NOT NULL,
    started_at    BIGINT NOT NULL,
    heartbeat_at  BIGINT NOT NULL
);

-- Job components by name, content-addressed by digest, so every host of a
-- cluster can load a module pushed once.
CREATE TABLE modules (
    name        TEXT PRIMARY KEY,
    digest      TEXT NOT NULL,
    bytes       BYTEA NOT NULL,
    size        BIGINT NOT NULL,
    source      TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE task_state (
    task        TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       BYTEA NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (task, key)
);

-- Paging: a durable cursor per task, and the pages handed out. A page is done
-- only when the run holding it succeeded; a page whose run failed for good is
-- handed out again (run_id NULL) before the cursor moves on.
CREATE TABLE page_cursors (
    task       TEXT PRIMARY KEY,
    next_page  BIGINT NOT NULL
);
CREATE TABLE task_pages (
    task        TEXT NOT NULL,
    page_index  BIGINT NOT NULL,
    state       TEXT NOT NULL,
    run_id      BIGINT,
    PRIMARY KEY (task, page_index)
);
CREATE INDEX task_pages_by_run ON task_pages (run_id);
