-- The folders a task's runs see (`reports, inbox`): names of the host
-- config's [mounts.NAME] sections; each appears to the job at /NAME. NULL: none.
ALTER TABLE tasks ADD COLUMN mounts TEXT;
