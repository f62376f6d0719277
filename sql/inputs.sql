-- What a job reads: the raw inputs of its span, already bucketed where that moves less
-- data. Read by consumer/inputs.py only. Buckets are date_bin(%(step)s, time, %(origin)s),
-- returned as epoch seconds so no time zone setting can shift them.
--
-- Physical limits (common/limits.py) are applied to every raw sample before it is summed,
-- so a sensor error code cannot hide inside a bucket mean; the samples they reject are
-- counted per bucket (stage 1 then gives such a bucket no value). The caller passes
-- the table as arrays: exact names, and LIKE patterns that never overlap each other.
-- They are resolved once per distinct signal of the span (a dozen names), and the rows
-- meet their bounds in a hash join: matching every row against the patterns cost more
-- than the aggregation itself.
--
-- The bucket queries read [%(read_start)s, %(read_end)s): whole UTC days around the span
-- [%(start)s, %(end)s), so that each series-day's native sample interval (for coverage)
-- comes from all of that day's buckets whatever the batch. Only samples inside the span
-- are summed and counted; every sample of a bucket, in limits or not, counts for its
-- spacing (n_all, width_s: its number and max(time) - min(time)).

-- name: sites
-- Every site, its weather location and the spot-price area it buys in.
SELECT site, location, price_area FROM sites ORDER BY site;

-- name: reading_buckets
-- Per (site, signal, bucket) of the read range: sum and count of the in-limit readings in
-- [start, end), the count of those outside the limits, and the number and time width of
-- all its readings.
WITH exact AS (
    SELECT * FROM unnest(%(exact_names)s::text[], %(exact_low)s::float8[],
                         %(exact_high)s::float8[]) AS e(signal, low, high)
), pattern AS (
    SELECT * FROM unnest(%(pattern_likes)s::text[], %(pattern_low)s::float8[],
                         %(pattern_high)s::float8[]) AS p(pattern, low, high)
), r AS MATERIALIZED (  -- scanned once, read twice
    SELECT site, signal, time, value
    FROM readings
    WHERE time >= %(read_start)s AND time < %(read_end)s
), bound AS (
    SELECT n.signal,
           coalesce(e.low, p.low, '-Infinity'::float8) AS low,
           coalesce(e.high, p.high, 'Infinity'::float8) AS high
    FROM (SELECT DISTINCT signal FROM r) AS n
    LEFT JOIN exact AS e ON e.signal = n.signal
    LEFT JOIN pattern AS p ON e.signal IS NULL AND n.signal LIKE p.pattern
), s AS (
    SELECT r.site, r.signal, r.time, r.value,
           r.time >= %(start)s AND r.time < %(end)s AS mine,
           -- NaN sorts above Infinity in PostgreSQL: it fails the first test
           r.value < 'Infinity'::float8 AND r.value > '-Infinity'::float8
               AND r.value BETWEEN b.low AND b.high AS ok
    FROM r JOIN bound AS b ON b.signal = r.signal
)
SELECT site AS key,
       signal,
       extract(epoch FROM date_bin(%(step)s, time, %(origin)s))::bigint AS bucket,
       -- numeric: exact, so the same whatever the scan order
       (sum(value::numeric) FILTER (WHERE mine AND ok))::float8 AS total,
       count(*) FILTER (WHERE mine AND ok) AS n,
       count(*) FILTER (WHERE mine AND NOT ok) AS rejected,
       count(*) AS n_all,
       extract(epoch FROM max(time) - min(time))::float8 AS width_s
FROM s
GROUP BY 1, 2, 3;

-- name: weather_buckets
-- As reading_buckets, per (location, signal, bucket). Weather signals are stored with or
-- without the outside_ prefix; limits are looked up under the name the grid gives them.
WITH exact AS (
    SELECT * FROM unnest(%(exact_names)s::text[], %(exact_low)s::float8[],
                         %(exact_high)s::float8[]) AS e(signal, low, high)
), pattern AS (
    SELECT * FROM unnest(%(pattern_likes)s::text[], %(pattern_low)s::float8[],
                         %(pattern_high)s::float8[]) AS p(pattern, low, high)
), w AS MATERIALIZED (  -- scanned once, read twice
    SELECT location, signal, time, value
    FROM weather
    WHERE time >= %(read_start)s AND time < %(read_end)s
), named AS (
    SELECT signal,
           CASE WHEN signal LIKE 'outside\_%%' THEN signal ELSE 'outside_' || signal END
               AS grid_signal
    FROM (SELECT DISTINCT signal FROM w) AS n
), bound AS (
    SELECT n.signal,
           coalesce(e.low, p.low, '-Infinity'::float8) AS low,
           coalesce(e.high, p.high, 'Infinity'::float8) AS high
    FROM named AS n
    LEFT JOIN exact AS e ON e.signal = n.grid_signal
    LEFT JOIN pattern AS p ON e.signal IS NULL AND n.grid_signal LIKE p.pattern
), s AS (
    SELECT w.location, w.signal, w.time, w.value,
           w.time >= %(start)s AND w.time < %(end)s AS mine,
           w.value < 'Infinity'::float8 AND w.value > '-Infinity'::float8
               AND w.value BETWEEN b.low AND b.high AS ok
    FROM w JOIN bound AS b ON b.signal = w.signal
)
SELECT location AS key,
       signal,
       extract(epoch FROM date_bin(%(step)s, time, %(origin)s))::bigint AS bucket,
       (sum(value::numeric) FILTER (WHERE mine AND ok))::float8 AS total,
       count(*) FILTER (WHERE mine AND ok) AS n,
       count(*) FILTER (WHERE mine AND NOT ok) AS rejected,
       count(*) AS n_all,
       extract(epoch FROM max(time) - min(time))::float8 AS width_s
FROM s
GROUP BY 1, 2, 3;

-- name: spot_prices
-- Hourly EUR prices whose hour overlaps [start, end); few rows, bucketed in Python
-- because a price holds for its whole hour, also on a grid finer than an hour.
SELECT price_area, extract(epoch FROM hour_utc)::bigint AS hour, price_eur_mwh
FROM spot_prices
WHERE hour_utc > %(start)s - interval '1 hour' AND hour_utc < %(end)s
  AND price_eur_mwh IS NOT NULL
ORDER BY price_area, hour_utc;
