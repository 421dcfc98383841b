-- The dashboard counts the runs made in each hour: a range of creation
-- times is read through this index, not the whole table.
CREATE INDEX runs_by_creation ON runs (created_at);
