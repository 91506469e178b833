-- The reconciler reads the jobs in one state a page at a time, oldest first: (created_ms, id)
-- after the last page's last job. This index serves that read without a sort, and replaces
-- jobs_state, its prefix.
CREATE INDEX jobs_state_created ON jobs (state, created_ms, id);
DROP INDEX jobs_state;
