-- Finished delays by when they finished, for the retention purge (which
-- deletes those older than retention.succeeded or retention.failed, with
-- their attempts).
CREATE INDEX delays_finished ON delays (finished_at) WHERE finished_at IS NOT NULL;
