-- What a job reads: the raw inputs of its span, already bucketed where that moves less
-- data. Read by consumer/inputs.py only. Buckets are date_bin(%(step)s, time, %(origin)s),
-- returned as epoch seconds so no time zone setting can shift them.
--
-- Physical limits (consumer/stages/limits.py) are applied to every raw sample before it
-- is summed, so a sensor error code cannot hide inside a bucket mean. The caller passes
-- the table as arrays: exact names, and LIKE patterns that never overlap each other.

-- name: sites
-- Every site, its weather location and the spot-price area it buys in.
SELECT site, location, price_area FROM sites ORDER BY site;

-- name: reading_buckets
-- Sum and count of in-limit readings per (site, signal, bucket) in [start, end).
WITH exact AS (
    SELECT * FROM unnest(%(exact_names)s::text[], %(exact_low)s::float8[],
                         %(exact_high)s::float8[]) AS e(signal, low, high)
), pattern AS (
    SELECT * FROM unnest(%(pattern_likes)s::text[], %(pattern_low)s::float8[],
                         %(pattern_high)s::float8[]) AS p(pattern, low, high)
)
SELECT r.site AS key,
       r.signal,
       extract(epoch FROM date_bin(%(step)s, r.time, %(origin)s))::bigint AS bucket,
       sum(r.value::numeric)::float8 AS total,  -- exact: the same whatever the scan order
       count(*) AS n
FROM readings AS r
LEFT JOIN exact AS e ON e.signal = r.signal
LEFT JOIN pattern AS p ON e.signal IS NULL AND r.signal LIKE p.pattern
WHERE r.time >= %(start)s AND r.time < %(end)s
  AND r.value <> 'NaN'::float8
  AND r.value BETWEEN coalesce(e.low, p.low, '-Infinity'::float8)
                  AND coalesce(e.high, p.high, 'Infinity'::float8)
GROUP BY 1, 2, 3;

-- name: reading_intervals
-- Each series' native sample interval per UTC day: the median step between its rows that
-- day. Per whole day, so that a bucket's coverage never depends on the batch's span.
-- (Interval arithmetic, not numeric epochs, keeps the sort cheap.)
SELECT site AS key, signal, day,
       extract(epoch FROM percentile_disc(0.5) WITHIN GROUP (ORDER BY dt))::float8 AS interval_s
FROM (
    SELECT site, signal,
           (extract(epoch FROM date_bin('1 day', time, 'epoch'::timestamptz)) / 86400)::bigint
               AS day,
           time - lag(time) OVER (PARTITION BY site, signal,
                                  date_bin('1 day', time, 'epoch'::timestamptz)
                                  ORDER BY time) AS dt
    FROM readings
    WHERE time >= date_bin('1 day', %(start)s::timestamptz, 'epoch'::timestamptz)
      AND time < date_bin('1 day', %(end)s::timestamptz - interval '1 microsecond',
                          'epoch'::timestamptz) + interval '1 day'
) AS steps
WHERE dt > interval '0'
GROUP BY 1, 2, 3;

-- name: weather_buckets
-- Sum and count of in-limit weather samples per (location, signal, bucket) in [start, end).
-- Weather signals are stored with or without the outside_ prefix; limits are looked up
-- under the name the grid will give them.
WITH exact AS (
    SELECT * FROM unnest(%(exact_names)s::text[], %(exact_low)s::float8[],
                         %(exact_high)s::float8[]) AS e(signal, low, high)
), pattern AS (
    SELECT * FROM unnest(%(pattern_likes)s::text[], %(pattern_low)s::float8[],
                         %(pattern_high)s::float8[]) AS p(pattern, low, high)
), w AS (
    SELECT location, signal, time, value,
           CASE WHEN signal LIKE 'outside\_%%' THEN signal ELSE 'outside_' || signal END
               AS grid_signal
    FROM weather
    WHERE time >= %(start)s AND time < %(end)s AND value <> 'NaN'::float8
)
SELECT w.location AS key,
       w.signal,
       extract(epoch FROM date_bin(%(step)s, w.time, %(origin)s))::bigint AS bucket,
       sum(w.value::numeric)::float8 AS total,  -- exact: the same whatever the scan order
       count(*) AS n
FROM w
LEFT JOIN exact AS e ON e.signal = w.grid_signal
LEFT JOIN pattern AS p ON e.signal IS NULL AND w.grid_signal LIKE p.pattern
WHERE w.value BETWEEN coalesce(e.low, p.low, '-Infinity'::float8)
                  AND coalesce(e.high, p.high, 'Infinity'::float8)
GROUP BY 1, 2, 3;

-- name: weather_intervals
-- Each weather series' native sample interval per UTC day, as reading_intervals.
SELECT location AS key, signal, day,
       extract(epoch FROM percentile_disc(0.5) WITHIN GROUP (ORDER BY dt))::float8 AS interval_s
FROM (
    SELECT location, signal,
           (extract(epoch FROM date_bin('1 day', time, 'epoch'::timestamptz)) / 86400)::bigint
               AS day,
           time - lag(time) OVER (PARTITION BY location, signal,
                                  date_bin('1 day', time, 'epoch'::timestamptz)
                                  ORDER BY time) AS dt
    FROM weather
    WHERE time >= date_bin('1 day', %(start)s::timestamptz, 'epoch'::timestamptz)
      AND time < date_bin('1 day', %(end)s::timestamptz - interval '1 microsecond',
                          'epoch'::timestamptz) + interval '1 day'
) AS steps
WHERE dt > interval '0'
GROUP BY 1, 2, 3;

-- name: spot_prices
-- Hourly EUR prices whose hour overlaps [start, end); few rows, bucketed in Python
-- because a price holds for its whole hour, also on a grid finer than an hour.
SELECT price_area, extract(epoch FROM hour_utc)::bigint AS hour, price_eur_mwh
FROM spot_prices
WHERE hour_utc > %(start)s - interval '1 hour' AND hour_utc < %(end)s
  AND price_eur_mwh IS NOT NULL
ORDER BY price_area, hour_utc;
