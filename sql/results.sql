-- The stage outputs a job writes in the transaction that marks it done
-- (common/queue.py: complete). A job owns its window's outputs: rows a re-run no longer
-- produces (the data, the code or the feature set changed) are deleted, so the window
-- always holds exactly its latest run. Feature vectors are deleted per owned window and
-- COPYed (binary) straight into feature_vectors; the resampled grid and changepoints are
-- COPYed into temporary tables, then upserted, so a re-run replaces rather than duplicates.

-- name: create_staging
CREATE TEMPORARY TABLE IF NOT EXISTS resampled_in (LIKE resampled) ON COMMIT DELETE ROWS;
CREATE TEMPORARY TABLE IF NOT EXISTS changepoints_in (LIKE changepoints) ON COMMIT DELETE ROWS;

-- name: delete_feature_vectors
-- Every vector of the owned windows goes: the new run writes each window whole, so no row
-- of an older run, or of another feature set, survives. An index range scan of
-- feature_vectors_key per site over [first, last); finds nothing on a first run.
DELETE FROM feature_vectors AS v
WHERE v.site = ANY(%(sites)s)
  AND v.window_start >= %(first)s AND v.window_start < %(last)s
  AND EXISTS (
      SELECT 1 FROM unnest(%(starts)s::timestamptz[], %(ends)s::timestamptz[]) AS w(s, e)
      WHERE v.window_start >= w.s AND v.window_start < w.e
  );

-- name: find_feature_layout
-- The smallest layout that names every feature wanted and at most %(slack)s others (each
-- other name costs every vector one always-NULL element, a bit): (layout, its features).
SELECT layout, array_agg(feature ORDER BY position) AS features
FROM feature_layouts
GROUP BY layout
HAVING array_agg(feature) @> %(features)s::text[]
   AND count(*) <= cardinality(%(features)s::text[]) + %(slack)s
ORDER BY count(*), layout
LIMIT 1;

-- name: lock_feature_layouts
-- Writers that add a layout take turns (until commit), so two never add the same one.
SELECT pg_advisory_xact_lock('feature_layouts'::regclass::oid::bigint);

-- name: feature_layouts
-- Every layout and its features in position order (a new layout takes in their names).
SELECT layout, array_agg(feature ORDER BY position) AS features
FROM feature_layouts
GROUP BY layout
ORDER BY layout;

-- name: add_feature_layout
-- A new layout naming %(features)s at positions 1..n; returns its number.
WITH added AS (
    INSERT INTO feature_layouts (layout, position, feature)
    SELECT n.layout, w.position, w.feature
    FROM (SELECT coalesce(max(layout), 0) + 1 AS layout FROM feature_layouts) AS n,
         unnest(%(features)s::text[]) WITH ORDINALITY AS w(feature, position)
    RETURNING layout
)
SELECT DISTINCT layout FROM added;

-- name: copy_feature_vectors
COPY feature_vectors (job_id, site, window_start, window_end, signal, layout, vals)
FROM STDIN (FORMAT BINARY);

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
