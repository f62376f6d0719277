-- Provenance, read only: the loaded files (sources) and what the physical limits reject
-- of their signals. Read by producer/provenance.py (producer sources, producer status).

-- name: list_sources
-- Every loaded file, newest first.
SELECT id, name, format, sha256, size, loaded_at, replace, rows, added, changed, conflicts,
       time_first, time_last
FROM sources
ORDER BY id DESC
LIMIT %(limit)s;

-- name: rejected_signals
-- Signals whose loaded values lie mostly outside the physical limits, over all files
-- (a file loaded twice counts once), with the files that carried them.
WITH per_file AS (
    SELECT DISTINCT ON (s.sha256, g.tbl, g.key, g.signal)
           g.tbl, g.key, g.signal, g.rows, g.rejected, s.name
    FROM source_signals AS g
    JOIN sources AS s ON s.id = g.source_id
    ORDER BY s.sha256, g.tbl, g.key, g.signal, s.id DESC
)
SELECT tbl, key, signal, sum(rows)::bigint, sum(rejected)::bigint,
       string_agg(DISTINCT name, ', ')
FROM per_file
GROUP BY tbl, key, signal
HAVING 2 * sum(rejected) > sum(rows)
ORDER BY tbl, key, signal;
