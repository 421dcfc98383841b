-- Cluster support (same schema as migrations/postgres/0002_cluster.sql).

-- The live host a run was offered to when it was fired, so the shards of a
-- fire spread over the hosts. Only that host claims it at first; once the run
-- has waited longer than the offer window, any host may. Cleared at claim.
ALTER TABLE runs ADD COLUMN offered_to TEXT;

-- Claims read pending runs in (not_before, id) order: an index in that
-- order lets the claim stop after the rows it takes, however long the
-- backlog.
DROP INDEX runs_pending;
CREATE INDEX runs_pending ON runs (not_before, id) WHERE state = 'pending';
