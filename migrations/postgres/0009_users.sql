-- Console users and their sessions (same change on both databases).
--
-- `users`: people who sign in to the console with a password, kept only as
-- its argon2id PHC string; `task_groups` limits them as it limits tokens.
CREATE TABLE users (
    name           TEXT PRIMARY KEY,
    role           TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'editor', 'admin')),
    task_groups    TEXT,
    password_hash  TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    last_login_at  BIGINT
);

-- `sessions`: a signed-in browser. The cookie holds a random secret; the
-- table keeps its SHA-256 (hex) and the CSRF token every change through the
-- session must send back in `X-CSRF-Token`.
CREATE TABLE sessions (
    secret_hash  TEXT PRIMARY KEY,
    user_name    TEXT NOT NULL,
    csrf_token   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_name);
