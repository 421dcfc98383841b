-- Workflows: a named graph of steps, each running a task. Public tables,
-- like `tasks`: write them with plain SQL, `carillon workflow set`, a
-- `NAME.workflow.toml` in the plugins folder or the API. Columns are
-- documented in README.md.
CREATE TABLE workflows (
    name        TEXT PRIMARY KEY NOT NULL,
    description TEXT,
    created_at  BIGINT NOT NULL DEFAULT ((extract(epoch from clock_timestamp()) * 1000)::BIGINT),
    updated_at  BIGINT NOT NULL DEFAULT ((extract(epoch from clock_timestamp()) * 1000)::BIGINT)
);

-- A step: the task it runs, the steps it waits for (`after`, comma
-- separated; NULL: it starts the workflow), when it runs once they are
-- over (`success`, `failure` or `always`), and params on top of its
-- task's, whose values may hold `${STEP.KEY}` (step STEP's output KEY).
CREATE TABLE workflow_steps (
    workflow  TEXT NOT NULL,
    name      TEXT NOT NULL,
    task      TEXT NOT NULL,
    after     TEXT,
    run_when  TEXT NOT NULL DEFAULT 'success',
    params    TEXT NOT NULL DEFAULT '{}',
    position  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (workflow, name)
);

-- A run of a workflow: its steps as they were defined when it started
-- (`definition`, JSON), the params it was started with, and how it stands.
CREATE TABLE workflow_runs (
    id          BIGSERIAL PRIMARY KEY,
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
