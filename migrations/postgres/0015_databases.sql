-- The databases a task's runs may query (`crm, warehouse`): names of the
-- host config's [databases.NAME] sections, reached through the contract's
-- `sql` import. NULL: none.
ALTER TABLE tasks ADD COLUMN databases TEXT;
