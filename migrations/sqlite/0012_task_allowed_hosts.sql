-- What a task's runs may call over wasi:http, in Spin's syntax
-- (`https://api.example.com, http://127.0.0.1:8080`); NULL: nothing. The
-- host's own ceiling, egress.allowed_hosts, still applies.
ALTER TABLE tasks ADD COLUMN allowed_hosts TEXT
    CHECK (allowed_hosts IS NULL OR typeof(allowed_hosts) = 'text');
