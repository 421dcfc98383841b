-- Alerts: public tables, like `tasks` (plain SQL, `carillon alert`, the
-- API). Columns are documented in README.md.

-- Where alerts go: `kind` webhook, slack, feishu, dingtalk, wecom or email;
-- `target` the webhook URL, or for email the addresses (comma separated;
-- empty: the task's keepers'); `secret` names a secret (`carillon secret
-- set`) that signs Feishu and DingTalk messages.
CREATE TABLE alert_channels (
    name        TEXT PRIMARY KEY NOT NULL CHECK (typeof(name) = 'text'),
    kind        TEXT NOT NULL CHECK (typeof(kind) = 'text'),
    target      TEXT NOT NULL DEFAULT '' CHECK (typeof(target) = 'text'),
    secret      TEXT CHECK (secret IS NULL OR typeof(secret) = 'text'),
    description TEXT CHECK (description IS NULL OR typeof(description) = 'text'),
    created_at  BIGINT NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)),
    updated_at  BIGINT NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
);

-- People to tell about a task (a task's `keepers` column names them): their
-- e-mail (for e-mail channels without addresses) and mobile number
-- (@-mentioned in DingTalk, WeCom and Feishu messages).
CREATE TABLE keepers (
    name        TEXT PRIMARY KEY NOT NULL CHECK (typeof(name) = 'text'),
    email       TEXT CHECK (email IS NULL OR typeof(email) = 'text'),
    mobile      TEXT CHECK (mobile IS NULL OR typeof(mobile) = 'text'),
    description TEXT CHECK (description IS NULL OR typeof(description) = 'text')
);
ALTER TABLE tasks ADD COLUMN keepers TEXT CHECK (keepers IS NULL OR typeof(keepers) = 'text');

-- What to alert on: `event` failed, timed-out, orphaned, misfire,
-- long-running, failures or stale; for `tasks` (comma separated) or a
-- `task_group`, or, with neither, every task (the default: rules naming a
-- task beat rules for its group, which beat the defaults); `channels`
-- (comma separated); `threshold_ms` (long-running: how long a run may run;
-- failures: the window; stale: the grace); `count` (failures: how many);
-- `silence_ms`: repeats for a task within this long after an alert are
-- recorded as suppressed, and counted on the next alert that goes out.
CREATE TABLE alert_rules (
    name         TEXT PRIMARY KEY NOT NULL CHECK (typeof(name) = 'text'),
    event        TEXT NOT NULL CHECK (typeof(event) = 'text'),
    tasks        TEXT CHECK (tasks IS NULL OR typeof(tasks) = 'text'),
    task_group   TEXT CHECK (task_group IS NULL OR typeof(task_group) = 'text'),
    channels     TEXT NOT NULL CHECK (typeof(channels) = 'text'),
    threshold_ms BIGINT CHECK (threshold_ms IS NULL OR typeof(threshold_ms) = 'integer'),
    count        BIGINT CHECK (count IS NULL OR typeof(count) = 'integer'),
    silence_ms   BIGINT NOT NULL DEFAULT 0 CHECK (typeof(silence_ms) = 'integer'),
    paused       BOOLEAN NOT NULL DEFAULT FALSE CHECK (paused IN (0, 1)),
    created_at   BIGINT NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)),
    updated_at   BIGINT NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
);

-- Every alert raised, once per rule, task and subject (`run:ID`,
-- `misfire:ID`, `slot:MS`…, so hosts raising the same one make one row):
-- `pending` until its deliveries are done, then `delivered` or `failed`;
-- `suppressed` within its rule's silence window.
CREATE TABLE alerts (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    rule              TEXT NOT NULL,
    event             TEXT NOT NULL,
    task              TEXT NOT NULL,
    run_id            BIGINT,
    subject           TEXT NOT NULL,
    message           TEXT NOT NULL,
    state             TEXT NOT NULL,
    suppressed_before BIGINT NOT NULL DEFAULT 0,
    raised_at         BIGINT NOT NULL,
    finished_at       BIGINT,
    UNIQUE (rule, task, subject)
);
CREATE INDEX alerts_by_rule_task ON alerts (rule, task, id);
CREATE INDEX alerts_finished ON alerts (finished_at) WHERE finished_at IS NOT NULL;

-- An alert's sending to one channel: taken by one host at a time (a
-- lease), retried with backoff, recorded.
CREATE TABLE alert_deliveries (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id      BIGINT NOT NULL,
    channel       TEXT NOT NULL,
    state         TEXT NOT NULL DEFAULT 'pending',
    attempts      BIGINT NOT NULL DEFAULT 0,
    next_at       BIGINT NOT NULL,
    claimed_by    TEXT,
    claimed_until BIGINT,
    last_error    TEXT,
    delivered_at  BIGINT,
    UNIQUE (alert_id, channel)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (next_at) WHERE state IN ('pending', 'sending');
