-- Read-only statements that watch the queue: `producer status --watch|--json` and the
-- consumers' Prometheus gauges. Nothing here changes a job.

-- name: consistent_read
-- Makes the transaction's statements see one snapshot, and refuse to write.
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY;

-- name: job_counts
-- Jobs per state, and how many queued jobs are waiting out a retry (they failed before).
SELECT count(*) FILTER (WHERE status = 'queued') AS queued,
       count(*) FILTER (WHERE status = 'running') AS running,
       count(*) FILTER (WHERE status = 'done') AS done,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
       count(*) FILTER (WHERE status = 'queued' AND attempts > 0) AS retrying,
       coalesce(sum(feature_values) FILTER (WHERE status = 'done'), 0) AS feature_values
FROM jobs;

-- name: recent_rates
-- Jobs done and feature values they wrote in the last %(seconds)s seconds.
SELECT count(*) AS jobs, coalesce(sum(feature_values), 0) AS feature_values
FROM jobs
WHERE status = 'done' AND finished_at > now() - make_interval(secs => %(seconds)s);

-- name: oldest_due_age
-- Seconds since the oldest runnable job became due: queued and past its run_after, or
-- running with a lapsed lease (claimable again). NULL when nothing is due.
SELECT extract(epoch FROM now() - min(due_at))::double precision AS age_seconds
FROM (
    SELECT min(run_after) AS due_at FROM jobs WHERE status = 'queued' AND run_after <= now()
    UNION ALL
    SELECT min(lease_expires_at) FROM jobs WHERE status = 'running' AND lease_expires_at < now()
) AS due;

-- name: live_workers
-- One row per worker that holds a lease or finished a job within %(seconds)s seconds.
SELECT worker,
       (array_agg(device ORDER BY coalesce(heartbeat_at, started_at) DESC NULLS LAST))[1]
           AS device,
       count(*) FILTER (WHERE status = 'running') AS jobs_held,
       extract(epoch FROM min(lease_expires_at) FILTER (WHERE status = 'running') - now())
           ::double precision AS lease_left_seconds,
       greatest(0, extract(epoch FROM now() - max(heartbeat_at)))::double precision
           AS heartbeat_age_seconds
FROM jobs
WHERE worker IS NOT NULL
  AND (status = 'running' OR finished_at > now() - make_interval(secs => %(seconds)s))
GROUP BY worker
ORDER BY worker;

-- name: latest_failures
-- The most recent jobs that failed for good, newest first.
SELECT id, window_start, window_end, attempts, max_attempts, error_stage, last_error,
       finished_at
FROM jobs
WHERE status = 'failed'
ORDER BY finished_at DESC NULLS LAST, id DESC
LIMIT %(limit)s;

-- name: refresh_gauges
-- Recomputes the consumers' shared gauges when they are older than %(max_age)s seconds.
-- The row lock is taken with SKIP LOCKED, so one consumer recomputes and the others
-- keep reading the previous values: N consumers cost one count per interval, not N.
WITH stale AS (
    SELECT id FROM queue_gauges
    WHERE refreshed_at < now() - make_interval(secs => %(max_age)s)
    FOR UPDATE SKIP LOCKED
)
UPDATE queue_gauges AS g
SET refreshed_at = now(),
    jobs_by_state = (
        SELECT coalesce(jsonb_object_agg(status, jobs), '{}'::jsonb)
        FROM (SELECT status, count(*) AS jobs FROM jobs GROUP BY status) AS counts
    ),
    oldest_due_age_seconds = (
        SELECT extract(epoch FROM now() - min(due_at))::double precision
        FROM (
            SELECT min(run_after) AS due_at FROM jobs
            WHERE status = 'queued' AND run_after <= now()
            UNION ALL
            SELECT min(lease_expires_at) FROM jobs
            WHERE status = 'running' AND lease_expires_at < now()
        ) AS due
    )
FROM stale
WHERE g.id = stale.id;

-- name: read_gauges
-- The shared gauges as last computed, and how old they are.
SELECT jobs_by_state, oldest_due_age_seconds,
       extract(epoch FROM now() - refreshed_at)::double precision AS age_seconds
FROM queue_gauges;
