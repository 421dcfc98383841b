-- Workflows: a named graph of steps, each running a task. Public tables,
-- like `tasks`: write them with plain SQL, `carillon workflow set`, a
-- `NAME.workflow.toml` in the plugins folder or the API. Columns are
-- documented in README.md.
CREATE TABLE workflows (
    name        TEXT PRIMARY KEY NOT NULL CHECK (typeof(name) = 'text'),
    description TEXT CHECK (description IS NULL OR typeof(description) = 'text'),
    created_at  BIGINT NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)),
    updated_at  BIGINT NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
);

-- A step: the task it runs, the steps it waits for (`after`, comma
-- separated; NULL: it starts the workflow), when it runs once they are
-- over (`success`, `failure` or `always`), and params on top of its
-- task's, whose values may hold `${STEP.KEY}` (step STEP's output KEY).
CREATE TABLE workflow_steps (
    workflow  TEXT NOT NULL CHECK (typeof(workflow) = 'text'),
    name      TEXT NOT NULL CHECK (typeof(name) = 'text'),
    task      TEXT NOT NULL CHECK (typeof(task) = 'text'),
    after     TEXT CHECK (after IS NULL OR typeof(after) = 'text'),
    run_when  TEXT NOT NULL DEFAULT 'success' CHECK (typeof(run_when) = 'text'),
    params    TEXT NOT NULL DEFAULT '{}' CHECK (typeof(params) = 'text'),
    position  BIGINT NOT NULL DEFAULT 0 CHECK (typeof(position) = 'integer'),
    PRIMARY KEY (workflow, name)
);

-- A run of a workflow: its steps as they were defined when it started
-- (`definition`, JSON), the params it was started with, and how it stands.
CREATE TABLE workflow_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow    TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'running',
    -- Who or what started it: `trigger by ACTOR`, `task TASK run RUN`.
    started_by  TEXT NOT NULL,
    params      TEXT NOT NULL DEFAULT '{}',
    definition  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX workflow_runs_by_workflow ON workflow_runs (workflow, id);
-- A workflow task's run starts one workflow run, however often it is tried.
CREATE INDEX workflow_runs_by_starter ON workflow_runs (started_by);
CREATE INDEX workflow_runs_finished ON workflow_runs (finished_at) WHERE finished_at IS NOT NULL;

-- Each step of a run: its state, tries, its latest try's first run, what
-- it handed on, why it failed.
CREATE TABLE workflow_run_steps (
    workflow_run BIGINT NOT NULL,
    step         TEXT NOT NULL,
    task         TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'waiting',
    tries        BIGINT NOT NULL DEFAULT 0,
    run_id       BIGINT,
    outputs      TEXT,
    error        TEXT,
    started_at   BIGINT,
    finished_at  BIGINT,
    PRIMARY KEY (workflow_run, step)
);
