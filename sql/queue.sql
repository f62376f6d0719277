-- Every statement that reads or writes job state. Only common/queue.py runs these.

-- name: enqueue
-- One row per window; a window already queued, running or done is left alone
-- (the partial unique index jobs_window_key decides, not a check-then-insert).
INSERT INTO jobs (window_start, window_end, priority, max_attempts)
SELECT w.window_start, w.window_end, %(priority)s, %(max_attempts)s
FROM unnest(%(starts)s::timestamptz[], %(ends)s::timestamptz[]) AS w(window_start, window_end)
ON CONFLICT (window_start, window_end) WHERE status IN ('queued', 'running', 'done') DO NOTHING
RETURNING id;

-- name: overlapping_windows
-- Why an enqueue broke jobs_no_overlap: live jobs whose window overlaps a requested one
-- without being the same window (the GiST index of the constraint finds them).
SELECT w.window_start, w.window_end, j.id, j.window_start, j.window_end, j.status
FROM unnest(%(starts)s::timestamptz[], %(ends)s::timestamptz[]) AS w(window_start, window_end)
JOIN jobs AS j
    ON tstzrange(j.window_start, j.window_end) && tstzrange(w.window_start, w.window_end)
WHERE j.status IN ('queued', 'running', 'done')
  AND (j.window_start, j.window_end) <> (w.window_start, w.window_end)
ORDER BY w.window_start, j.window_start
LIMIT %(limit)s;

-- name: claim
-- Claims up to %(batch)s jobs in one statement. Jobs whose lease lapsed (their worker
-- died or hung) come first, then queued jobs by priority, run_after and id; jobs whose
-- lease lapsed on their last attempt fail on the way.
-- MATERIALIZED keeps the planner from re-running a LIMIT subquery per joined row,
-- which would claim more rows than the LIMIT.
WITH exhausted AS (
    -- A job whose lease lapsed on its last attempt is not claimable again: it fails,
    -- saying which worker stopped heartbeating. (Disjoint from the rows claimed below.)
    UPDATE jobs AS x
    SET status = 'failed',
        finished_at = now(),
        error_stage = 'lease',
        last_error = format('lease expired on attempt %%s of %%s: worker %%s stopped heartbeating',
                            x.attempts, x.max_attempts, x.worker)
    WHERE x.id IN (
        SELECT id FROM jobs
        WHERE status = 'running' AND lease_expires_at < now() AND attempts >= max_attempts
        FOR UPDATE SKIP LOCKED
    )
), expired AS MATERIALIZED (
    -- due_at and lapsed feed the consumers' metrics: queue wait, lease lapses.
    SELECT id, lease_expires_at AS due_at, true AS lapsed
    FROM jobs
    WHERE status = 'running' AND lease_expires_at < now() AND attempts < max_attempts
    ORDER BY lease_expires_at
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
), queued AS MATERIALIZED (
    SELECT id, run_after AS due_at, false AS lapsed
    FROM jobs
    WHERE status = 'queued' AND run_after <= now()
    ORDER BY priority, run_after, id
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
), picked AS (
    SELECT id, due_at, lapsed FROM expired
    UNION ALL
    SELECT id, due_at, lapsed FROM queued
    LIMIT %(batch)s
)
UPDATE jobs AS j
SET status = 'running',
    attempts = j.attempts + 1,
    worker = %(worker)s,
    device = %(device)s,
    started_at = now(),
    heartbeat_at = now(),
    lease_expires_at = now() + make_interval(secs => %(lease_seconds)s),
    finished_at = NULL
FROM picked
WHERE j.id = picked.id
RETURNING j.id, j.window_start, j.window_end, j.attempts, j.max_attempts,
          picked.due_at, j.started_at AS claimed_at, picked.lapsed;

-- name: heartbeat
-- Renews the lease of the jobs this worker still holds at these attempts; a job
-- missing from the result was taken over and must not be completed by this worker.
UPDATE jobs AS j
SET heartbeat_at = now(),
    lease_expires_at = now() + make_interval(secs => %(lease_seconds)s)
FROM unnest(%(ids)s::bigint[], %(attempts)s::int[]) AS held(id, attempts)
WHERE j.id = held.id AND j.attempts = held.attempts
  AND j.status = 'running' AND j.worker = %(worker)s
RETURNING j.id;

-- name: complete
-- Fenced completion: only jobs still this worker's claim at this attempt become done.
-- Runs first in the transaction that writes the results, and its row locks keep
-- any other worker from reclaiming them until that transaction ends.
UPDATE jobs AS j
SET status = 'done',
    finished_at = now(),
    heartbeat_at = now(),
    lease_expires_at = NULL,
    stage_seconds = done.stage_seconds,
    notes = done.notes,
    feature_set = done.feature_set,
    feature_values = done.feature_values
FROM unnest(%(ids)s::bigint[], %(attempts)s::int[], %(stage_seconds)s::jsonb[],
            %(notes)s::jsonb[], %(feature_sets)s::text[], %(feature_values)s::bigint[])
     AS done(id, attempts, stage_seconds, notes, feature_set, feature_values)
WHERE j.id = done.id AND j.attempts = done.attempts
  AND j.status = 'running' AND j.worker = %(worker)s
RETURNING j.id;

-- name: record_failure
-- A failed attempt: back to the queue after a backoff, or failed for good on the
-- last attempt. Fenced like complete.
UPDATE jobs
SET status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END,
    run_after = now() + make_interval(secs => %(backoff_seconds)s),
    finished_at = CASE WHEN attempts >= max_attempts THEN now() END,
    lease_expires_at = NULL,
    last_error = %(error)s,
    error_stage = %(stage)s,
    stage_seconds = %(stage_seconds)s
WHERE id = %(id)s AND attempts = %(attempt)s AND status = 'running' AND worker = %(worker)s
RETURNING status, run_after;

-- name: release
-- Gives a claimed job back untouched (on shutdown): the attempt does not count.
UPDATE jobs AS j
SET status = 'queued',
    attempts = j.attempts - 1,
    run_after = now(),
    lease_expires_at = NULL,
    worker = NULL
FROM unnest(%(ids)s::bigint[], %(attempts)s::int[]) AS held(id, attempts)
WHERE j.id = held.id AND j.attempts = held.attempts
  AND j.status = 'running' AND j.worker = %(worker)s
RETURNING j.id;

-- name: outstanding
-- What keeps a draining consumer waiting: jobs due now, retries waiting out their
-- backoff, and jobs running anywhere (their lease may still lapse and return them).
SELECT count(*) FILTER (WHERE status = 'queued' AND (run_after <= now() OR attempts > 0))
     + count(*) FILTER (WHERE status = 'running') AS outstanding,
       min(run_after) FILTER (WHERE status = 'queued') AS next_run_after
FROM jobs
WHERE status IN ('queued', 'running');

-- name: status_counts
SELECT status, count(*) AS jobs, min(window_start) AS first_window, max(window_end) AS last_window
FROM jobs
GROUP BY status
ORDER BY array_position(ARRAY['queued', 'running', 'done', 'failed', 'cancelled'], status);

-- name: failures
SELECT id, window_start, window_end, attempts, max_attempts, error_stage, last_error
FROM jobs
WHERE status = 'failed'
ORDER BY finished_at DESC, id
LIMIT %(limit)s;

-- name: running
SELECT id, window_start, worker, device, attempts,
       round(extract(epoch FROM lease_expires_at - now())::numeric, 1) AS lease_left_seconds
FROM jobs
WHERE status = 'running'
ORDER BY id
LIMIT %(limit)s;

-- name: cancel
UPDATE jobs
SET status = 'cancelled', finished_at = now()
WHERE status = 'queued' AND window_start >= %(start)s AND window_end <= %(end)s
RETURNING id;

-- name: retry_failed
-- A failed window that a live window of another width now overlaps stays failed
-- (jobs_no_overlap would refuse it).
UPDATE jobs AS f
SET status = 'queued', attempts = 0, run_after = now(), finished_at = NULL
WHERE f.status = 'failed' AND f.window_start >= %(start)s AND f.window_end <= %(end)s
  AND NOT EXISTS (
      SELECT 1 FROM jobs AS j
      WHERE j.status IN ('queued', 'running', 'done')
        AND tstzrange(j.window_start, j.window_end) && tstzrange(f.window_start, f.window_end)
  )
RETURNING f.id;

-- name: feature_counts
-- Read from the vectors, not the features view: a value is a non-NULL element, so nothing
-- is unnested (the view makes a row of every value).
SELECT coalesce(sum(cardinality(vals) - cardinality(array_positions(vals, NULL))), 0)
           AS feature_values,
       count(DISTINCT site) AS sites,
       count(DISTINCT (site, window_start)) AS site_windows
FROM feature_vectors;
