-- The admin API's tables (same change on both databases).
--
-- `api_tokens`: bearer tokens, `carillon_KEY_SECRET`. A token is found by
-- its key (not secret) and checked against the SHA-256 of the whole token,
-- the only thing kept of it (it is shown once, when created);
-- `task_groups` limits it to those groups (comma list; NULL: every group).
CREATE TABLE api_tokens (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'editor', 'admin')),
    task_groups   TEXT,
    token_key     TEXT NOT NULL UNIQUE,
    token_hash    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT,
    last_used_at  BIGINT
);

-- `audit`: every change made through the API: who, when, what, and the
-- object before and after (JSON; NULL when it did not exist).
CREATE TABLE audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    before  TEXT,
    after   TEXT
);
