-- Loading raw exports: every file is streamed with COPY into a temporary table, then
-- inserted with ON CONFLICT DO NOTHING, so re-loading a file changes nothing and an
-- overlapping export adds only the rows that are new.

-- name: create_batch
-- A wide staging table for one file: one row per (key, time), values in signal order.
CREATE TEMPORARY TABLE IF NOT EXISTS load_batch (
    key text NOT NULL,
    time timestamptz NOT NULL,
    vals float8[] NOT NULL
) ON COMMIT DROP;

-- name: copy_batch
-- Binary COPY of one block into the staging table.
COPY load_batch (key, time, vals) FROM STDIN (FORMAT BINARY);

-- name: clear_batch
-- Empty the staging table between blocks.
TRUNCATE load_batch;

-- name: insert_readings
-- Unpivot the staged block into narrow readings; empty cells (NULL) are absent readings.
INSERT INTO readings (site, time, signal, value)
SELECT b.key, b.time, s.signal, b.vals[s.i]
FROM load_batch AS b
CROSS JOIN unnest(%(signals)s::text[]) WITH ORDINALITY AS s(signal, i)
WHERE b.vals[s.i] IS NOT NULL
ON CONFLICT (site, signal, time) DO NOTHING;

-- name: insert_weather
-- Unpivot the staged block into narrow weather rows per location.
INSERT INTO weather (location, time, signal, value)
SELECT b.key, b.time, s.signal, b.vals[s.i]
FROM load_batch AS b
CROSS JOIN unnest(%(signals)s::text[]) WITH ORDINALITY AS s(signal, i)
WHERE b.vals[s.i] IS NOT NULL
ON CONFLICT (location, signal, time) DO NOTHING;

-- name: insert_spot_prices
-- Staged prices (DKK, EUR per MWh) per price area and UTC hour.
INSERT INTO spot_prices (price_area, hour_utc, price_dkk_mwh, price_eur_mwh)
SELECT b.key, b.time, b.vals[1], b.vals[2]
FROM load_batch AS b
WHERE b.vals[1] IS NOT NULL OR b.vals[2] IS NOT NULL
ON CONFLICT (price_area, hour_utc) DO NOTHING;

-- name: insert_site
-- A site found in a file, with its weather location; existing rows are left alone.
INSERT INTO sites (site, location, price_area)
VALUES (%(site)s, %(location)s, %(price_area)s)
ON CONFLICT (site) DO NOTHING;
