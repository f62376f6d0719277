-- Read-only statements of `producer export`. They read only the columns of the `features`
-- relation (site, window_start, window_end, signal, feature, value), whatever its storage.
-- NULL filters match everything; windows are selected by window_start in [start, end).

-- name: utc_timestamps
-- Timestamps come back as UTC (a fixed offset: far cheaper to convert than a named zone).
SET LOCAL TIME ZONE 'UTC';

-- name: feature_columns
-- The (signal, feature) pairs the filters select, with their row counts: the wide
-- table's columns and the progress bar's total, in one pass.
SELECT signal, feature, count(*) AS rows
FROM features
WHERE (%(start)s::timestamptz IS NULL OR window_start >= %(start)s)
  AND (%(end)s::timestamptz IS NULL OR window_start < %(end)s)
  AND (%(sites)s::text[] IS NULL OR site = ANY(%(sites)s))
  AND (%(signals)s::text[] IS NULL OR signal = ANY(%(signals)s))
  AND (%(features)s::text[] IS NULL OR feature = ANY(%(features)s))
GROUP BY signal, feature
ORDER BY signal, feature;

-- name: feature_rows
-- The selected rows, ordered by window first so that each (site, window) arrives whole
-- (the wide export pivots one window at a time from a server-side cursor).
SELECT site, window_start, window_end, signal, feature, value
FROM features
WHERE (%(start)s::timestamptz IS NULL OR window_start >= %(start)s)
  AND (%(end)s::timestamptz IS NULL OR window_start < %(end)s)
  AND (%(sites)s::text[] IS NULL OR site = ANY(%(sites)s))
  AND (%(signals)s::text[] IS NULL OR signal = ANY(%(signals)s))
  AND (%(features)s::text[] IS NULL OR feature = ANY(%(features)s))
ORDER BY site, window_start, window_end, signal, feature;
