-- What a process runs on its connection besides reading and writing data: the schema
-- check before it starts, its session settings, and LISTEN for new jobs.

-- name: alembic_version_exists
SELECT to_regclass('public.alembic_version') IS NOT NULL;

-- name: alembic_version
SELECT version_num FROM alembic_version;

-- name: ping
SELECT 1;

-- name: set_synchronous_commit
SELECT set_config('synchronous_commit', %(value)s, false);

-- name: listen_jobs_queued
-- jobs_notify_queued() (migration 0001) notifies this channel after every INSERT INTO jobs.
LISTEN jobs_queued;
