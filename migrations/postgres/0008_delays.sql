-- Delay tasks: one HTTP callback at a time, unique per (topic, key). A
-- public table like `tasks`: plain SQL may insert a row (topic, key, due_at,
-- url; the rest has defaults) and the hosts call it when due, each taken by
-- one host (SKIP LOCKED).
--
-- `due_at` (ms since the epoch) is when the next attempt is due: the time
-- asked for, then the time of each retry. `state`: pending → delivering (a
-- host has taken it, `node`) → succeeded, failed (no 2xx after `retries`
-- more attempts, or a callback the host refuses) or cancelled (only while
-- pending). `headers` is a JSON object of strings.
CREATE TABLE delays (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic         TEXT NOT NULL CHECK (length(topic) BETWEEN 1 AND 200),
    key           TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    due_at        BIGINT NOT NULL,
    url           TEXT NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    method        TEXT NOT NULL DEFAULT 'POST'
                  CHECK (method IN ('GET', 'POST', 'PUT', 'PATCH', 'DELETE')),
    headers       TEXT CHECK (headers IS NULL OR headers::json IS NOT NULL),
    body          TEXT CHECK (body IS NULL OR length(body) <= 1048576),
    content_type  TEXT,
    retries       BIGINT NOT NULL DEFAULT 3 CHECK (retries BETWEEN 0 AND 100),
    state         TEXT NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'delivering', 'succeeded', 'failed', 'cancelled')),
    attempts      BIGINT NOT NULL DEFAULT 0,
    node          TEXT,
    last_status   BIGINT,
    last_error    TEXT,
    created_at    BIGINT NOT NULL DEFAULT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT,
    finished_at   BIGINT,
    UNIQUE (topic, key)
);

CREATE INDEX delays_due ON delays (due_at) WHERE state = 'pending';
CREATE INDEX delays_delivering ON delays (node) WHERE state = 'delivering';

-- Every attempt at a callback: when it was due and made, by which host,
-- and what came back (an HTTP status, or why there was none).
CREATE TABLE delay_attempts (
    delay_id     BIGINT NOT NULL,
    attempt      BIGINT NOT NULL,
    node         TEXT NOT NULL,
    due_at       BIGINT NOT NULL,
    started_at   BIGINT NOT NULL,
    finished_at  BIGINT NOT NULL,
    status       BIGINT,
    error        TEXT,
    PRIMARY KEY (delay_id, attempt)
);
