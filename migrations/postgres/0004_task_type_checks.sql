-- Type checks on the task table: migrations/sqlite/0004_task_type_checks.sql
-- adds them to SQLite, which stores any value in any column. PostgreSQL's
-- columns are typed already, so there is nothing to do here; the file keeps
-- the two lists of migrations numbered alike.
SELECT 1;
