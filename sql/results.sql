-- The stage outputs a job writes in the transaction that marks it done
-- (common/queue.py: complete). Each is COPYed into a temporary table, then upserted,
-- so a re-run window replaces its rows instead of duplicating them. A job owns its
-- window's outputs: rows a re-run no longer produces (the data or the code changed)
-- are deleted, so the window always holds exactly its latest run.

-- name: create_staging
CREATE TEMPORARY TABLE IF NOT EXISTS features_in (LIKE features) ON COMMIT DELETE ROWS;
CREATE TEMPORARY TABLE IF NOT EXISTS resampled_in (LIKE resampled) ON COMMIT DELETE ROWS;
CREATE TEMPORARY TABLE IF NOT EXISTS changepoints_in (LIKE changepoints) ON COMMIT DELETE ROWS;

-- name: copy_features
COPY features_in (job_id, site, window_start, window_end, signal, feature, value)
FROM STDIN (FORMAT BINARY);

-- name: delete_stale_features
-- An index range scan of features_key over (sites, [first, last) of the owned windows),
-- then only the rows inside an owned window; finds nothing on a first run.
DELETE FROM features AS f
WHERE f.site = ANY(%(sites)s)
  AND f.window_start >= %(first)s AND f.window_start < %(last)s
  AND EXISTS (
      SELECT 1 FROM unnest(%(starts)s::timestamptz[], %(ends)s::timestamptz[]) AS w(s, e)
      WHERE f.window_start >= w.s AND f.window_start < w.e
  )
  AND NOT EXISTS (
      SELECT 1 FROM features_in AS i
      WHERE i.site = f.site AND i.window_start = f.window_start
        AND i.window_end = f.window_end AND i.signal = f.signal AND i.feature = f.feature
  );

-- name: upsert_features
INSERT INTO features (job_id, site, window_start, window_end, signal, feature, value)
SELECT job_id, site, window_start, window_end, signal, feature, value FROM features_in
ON CONFLICT ON CONSTRAINT features_key
DO UPDATE SET value = EXCLUDED.value, job_id = EXCLUDED.job_id;

-- name: copy_resampled
COPY resampled_in (job_id, site, time, signal, value, count, coverage, filled, rejected)
FROM STDIN (FORMAT BINARY);

-- name: delete_stale_resampled
-- An index range scan of the primary key over (sites, signals, [first, last)), then only
-- the rows inside a range a job wrote (its window and its feature windows' reach).
DELETE FROM resampled AS r
WHERE r.site = ANY(%(sites)s) AND r.signal = ANY(%(signals)s)
  AND r.time >= %(first)s AND r.time < %(last)s
  AND EXISTS (
      SELECT 1 FROM unnest(%(starts)s::timestamptz[], %(ends)s::timestamptz[]) AS w(s, e)
      WHERE r.time >= w.s AND r.time < w.e
  )
  AND NOT EXISTS (
      SELECT 1 FROM resampled_in AS i
      WHERE i.site = r.site AND i.signal = r.signal AND i.time = r.time
  );

-- name: upsert_resampled
INSERT INTO resampled (job_id, site, time, signal, value, count, coverage, filled, rejected)
SELECT job_id, site, time, signal, value, count, coverage, filled, rejected FROM resampled_in
ON CONFLICT (site, signal, time)
DO UPDATE SET value = EXCLUDED.value, count = EXCLUDED.count, coverage = EXCLUDED.coverage,
              filled = EXCLUDED.filled, rejected = EXCLUDED.rejected,
              job_id = EXCLUDED.job_id;

-- name: copy_changepoints
COPY changepoints_in (job_id, site, time, cost_gain, signals) FROM STDIN (FORMAT BINARY);

-- name: delete_changepoints
-- A window's changepoints are replaced as a whole: a re-run may find fewer.
DELETE FROM changepoints c
USING jobs j
WHERE j.id = ANY(%(ids)s) AND c.time >= j.window_start AND c.time < j.window_end;

-- name: insert_changepoints
INSERT INTO changepoints (job_id, site, time, cost_gain, signals)
SELECT job_id, site, time, cost_gain, signals FROM changepoints_in;
