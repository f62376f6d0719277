-- Loading raw exports (producer/load/). Each file is one source: a row in sources, whose
-- id every value it sets carries. Its blocks are streamed with COPY into a temporary
-- table, then inserted; a key already stored is left alone, and a stored value from
-- another file that disagrees is a conflict (load_changes), settled at the end of the
-- file: the stages use the mean of a key's distinct values, which does not depend on
-- the order the files came in. A file loaded with --replace overwrites the values it
-- carries instead, and they stay until another --replace changes them.
--
-- readings and weather have the same layout: the statements marked "readings or weather"
-- name the table as {table} and its key column as {key}, composed with psycopg.sql.

-- name: create_batch
-- A wide staging table for one block: one row per (key, time), values in signal order;
-- and the conflicts (or, with --replace, the changes) one file found, for its report.
CREATE TEMPORARY TABLE IF NOT EXISTS load_batch (
    key text NOT NULL,
    time timestamptz NOT NULL,
    vals float8[] NOT NULL
) ON COMMIT DROP;
CREATE TEMPORARY TABLE IF NOT EXISTS load_changes (
    tbl text NOT NULL,
    key text NOT NULL,
    signal text NOT NULL,
    time timestamptz NOT NULL,
    old_value float8 NOT NULL,
    old_source integer,
    new_value float8 NOT NULL
) ON COMMIT DROP;
TRUNCATE load_batch, load_changes;

-- name: copy_batch
-- Binary COPY of one block into the staging table.
COPY load_batch (key, time, vals) FROM STDIN (FORMAT BINARY);

-- name: clear_batch
-- Empty the staging table between blocks.
TRUNCATE load_batch;

-- name: same_file
-- An earlier load of a byte-identical file.
SELECT id, name, loaded_at FROM sources WHERE sha256 = %(sha256)s ORDER BY id LIMIT 1;

-- name: open_source
-- The source row of a file being loaded; its counts are filled in when it is done.
INSERT INTO sources (name, sha256, size, format, replace)
VALUES (%(name)s, %(sha256)s, %(size)s, %(format)s, %(replace)s)
RETURNING id;

-- name: close_source
-- What loading the file did.
UPDATE sources
SET rows = %(rows)s, added = %(added)s, changed = %(changed)s, conflicts = %(conflicts)s,
    time_first = %(time_first)s, time_last = %(time_last)s
WHERE id = %(id)s;

-- name: insert_source_signals
-- Per signal of the file: its values and those outside the physical limits.
INSERT INTO source_signals (source_id, tbl, key, signal, rows, rejected)
SELECT %(id)s, t, k, s, n, r
FROM unnest(%(tbls)s::text[], %(keys)s::text[], %(signals)s::text[], %(rows)s::bigint[],
            %(rejected)s::bigint[]) AS x(t, k, s, n, r);

-- name: insert_site
-- A site found in a file, with its weather location; existing rows are left alone.
INSERT INTO sites (site, location, price_area)
VALUES (%(site)s, %(location)s, %(price_area)s)
ON CONFLICT (site) DO NOTHING;

-- name: insert_rows
-- readings or weather: unpivot the staged block into narrow rows; empty cells (NULL) are
-- absent readings. Keys already stored are left alone here.
INSERT INTO {table} ({key}, time, signal, value, source_id)
SELECT b.key, b.time, s.signal, b.vals[s.i], %(source)s
FROM load_batch AS b
CROSS JOIN unnest(%(signals)s::text[]) WITH ORDINALITY AS s(signal, i)
WHERE b.vals[s.i] IS NOT NULL
ON CONFLICT DO NOTHING;

-- name: insert_prices
-- Staged prices (DKK, EUR per MWh) per price area and UTC hour.
INSERT INTO spot_prices (price_area, hour_utc, price_dkk_mwh, price_eur_mwh, source_id)
SELECT b.key, b.time, b.vals[1], b.vals[2], %(source)s
FROM load_batch AS b
WHERE b.vals[1] IS NOT NULL OR b.vals[2] IS NOT NULL
ON CONFLICT (price_area, hour_utc) DO NOTHING;

-- name: find_changes
-- readings or weather: the stored values the staged block disagrees with.
INSERT INTO load_changes (tbl, key, signal, time, old_value, old_source, new_value)
SELECT %(tbl)s, b.key, s.signal, b.time, t.value, t.source_id, b.vals[s.i]
FROM load_batch AS b
CROSS JOIN unnest(%(signals)s::text[]) WITH ORDINALITY AS s(signal, i)
JOIN {table} AS t ON t.time = b.time AND t.{key} = b.key AND t.signal = s.signal
WHERE b.vals[s.i] IS NOT NULL AND t.value <> b.vals[s.i];

-- name: find_price_changes
-- As find_changes, for the two prices of spot_prices.
INSERT INTO load_changes (tbl, key, signal, time, old_value, old_source, new_value)
SELECT 'spot_prices', b.key, s.signal, b.time, s.old, p.source_id, b.vals[s.i]
FROM load_batch AS b
JOIN spot_prices AS p ON p.price_area = b.key AND p.hour_utc = b.time
CROSS JOIN LATERAL (
    VALUES ('price_dkk_mwh', 1, p.price_dkk_mwh), ('price_eur_mwh', 2, p.price_eur_mwh)
) AS s(signal, i, old)
WHERE b.vals[s.i] IS NOT NULL AND s.old <> b.vals[s.i];

-- name: keep_conflicts
-- Of the changes found, the conflicts: not with the file's own earlier rows, and not a
-- value already known for a disputed key (whose stored value is the mean of its values).
DELETE FROM load_changes AS l
WHERE l.old_source = %(source)s
   OR EXISTS (
       SELECT 1 FROM conflicts AS c
       WHERE c.tbl = l.tbl AND c.key = l.key AND c.signal = l.signal AND c.time = l.time
         AND c.value = l.new_value
   );

-- name: record_conflicts
-- Every distinct value of a newly disputed key: the one stored until now (unless the key
-- was disputed already, when the stored value is a mean) and the file's.
INSERT INTO conflicts (tbl, key, signal, time, value, source_id)
SELECT DISTINCT l.tbl, l.key, l.signal, l.time, l.old_value, l.old_source
FROM load_changes AS l
WHERE l.tbl = %(tbl)s AND NOT EXISTS (
    SELECT 1 FROM conflicts AS c
    WHERE c.tbl = %(tbl)s AND c.key = l.key AND c.signal = l.signal AND c.time = l.time
)
UNION ALL
SELECT DISTINCT tbl, key, signal, time, new_value, %(source)s::integer
FROM load_changes
WHERE tbl = %(tbl)s
ON CONFLICT DO NOTHING;

-- name: resolve_conflicts
-- readings or weather: a disputed key holds the mean of its distinct values (exact numeric
-- sum, so the same whatever the order), unless a --replace file set it.
UPDATE {table} AS t
SET value = m.value, source_id = %(source)s
FROM (
    SELECT c.key, c.signal, c.time, (sum(c.value::numeric) / count(*))::float8 AS value
    FROM conflicts AS c
    JOIN (SELECT DISTINCT tbl, key, signal, time FROM load_changes) AS l
        USING (tbl, key, signal, time)
    WHERE c.tbl = %(tbl)s
    GROUP BY c.key, c.signal, c.time
) AS m
WHERE t.time = m.time AND t.{key} = m.key AND t.signal = m.signal
  AND t.value <> m.value
  AND NOT EXISTS (SELECT 1 FROM sources AS s WHERE s.id = t.source_id AND s.replace);

-- name: resolve_price_conflicts
-- As resolve_conflicts, for the two prices of spot_prices.
UPDATE spot_prices AS p
SET price_dkk_mwh = coalesce(m.dkk, p.price_dkk_mwh),
    price_eur_mwh = coalesce(m.eur, p.price_eur_mwh),
    source_id = %(source)s
FROM (
    SELECT c.key, c.time,
           (sum(c.value::numeric) FILTER (WHERE c.signal = 'price_dkk_mwh')
            / nullif(count(*) FILTER (WHERE c.signal = 'price_dkk_mwh'), 0))::float8 AS dkk,
           (sum(c.value::numeric) FILTER (WHERE c.signal = 'price_eur_mwh')
            / nullif(count(*) FILTER (WHERE c.signal = 'price_eur_mwh'), 0))::float8 AS eur
    FROM conflicts AS c
    JOIN (SELECT DISTINCT tbl, key, time FROM load_changes) AS l USING (tbl, key, time)
    WHERE c.tbl = 'spot_prices'
    GROUP BY c.key, c.time
) AS m
WHERE p.price_area = m.key AND p.hour_utc = m.time
  AND NOT EXISTS (SELECT 1 FROM sources AS s WHERE s.id = p.source_id AND s.replace);

-- name: replace_rows
-- readings or weather, --replace: every stored key the block carries takes its value, and
-- this file as its source (so a later load without --replace cannot undo it).
UPDATE {table} AS t
SET value = b.vals[s.i], source_id = %(source)s
FROM load_batch AS b
CROSS JOIN unnest(%(signals)s::text[]) WITH ORDINALITY AS s(signal, i)
WHERE t.time = b.time AND t.{key} = b.key AND t.signal = s.signal AND b.vals[s.i] IS NOT NULL;

-- name: replace_prices
-- As replace_rows, for spot_prices; a price the file leaves empty keeps its value.
UPDATE spot_prices AS p
SET price_dkk_mwh = coalesce(b.vals[1], p.price_dkk_mwh),
    price_eur_mwh = coalesce(b.vals[2], p.price_eur_mwh),
    source_id = %(source)s
FROM load_batch AS b
WHERE p.price_area = b.key AND p.hour_utc = b.time
  AND (b.vals[1] IS NOT NULL OR b.vals[2] IS NOT NULL);

-- name: forget_conflicts
-- --replace: the keys the block carries are settled; their disputed values are dropped.
DELETE FROM conflicts AS c
USING load_batch AS b
CROSS JOIN unnest(%(signals)s::text[]) WITH ORDINALITY AS s(signal, i)
WHERE c.tbl = %(tbl)s AND c.key = b.key AND c.time = b.time AND c.signal = s.signal
  AND b.vals[s.i] IS NOT NULL;

-- name: change_summary
-- Per signal, the conflicts (or, with --replace, the changes) of the file: how many, and
-- the first three as examples with the file the stored value came from.
SELECT tbl, signal, n, key, time, old_value, old_file, new_value
FROM (
    SELECT l.tbl, l.signal, l.key, l.time, l.old_value, s.name AS old_file, l.new_value,
           count(*) OVER w AS n,
           row_number() OVER (w ORDER BY l.time, l.key) AS r
    FROM load_changes AS l
    LEFT JOIN sources AS s ON s.id = l.old_source
    WINDOW w AS (PARTITION BY l.tbl, l.signal)
) AS x
WHERE r <= 3
ORDER BY tbl, signal, r;
