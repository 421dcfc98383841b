-- Secrets jobs may be granted: each value sealed with AES-256-GCM under the
-- host's secrets key (its name as associated data), never stored in the
-- clear. `carillon secret set|list|remove` manages them.
CREATE TABLE secrets (
    name       TEXT PRIMARY KEY NOT NULL,
    nonce      BYTEA NOT NULL,
    sealed     BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- The secrets a task's runs may read (`api_token, smtp.password`); NULL: none.
ALTER TABLE tasks ADD COLUMN secrets TEXT;
