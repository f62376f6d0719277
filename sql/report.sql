-- Read-only statements of `producer report`. Features are read through the columns of the
-- `features` relation only (site, window_start, window_end, signal, feature, value).

-- name: daily_coverage
-- Per site, signal and UTC day: the mean `coverage` feature of the windows starting that day
-- (raw samples over expected samples; a day with no window has no row, i.e. no data).
SELECT site, signal, date_trunc('day', window_start, 'UTC') AS day, avg(value) AS coverage
FROM features
WHERE feature = 'coverage'
GROUP BY site, signal, day
ORDER BY site, signal, day;

-- name: air_temperature
-- The cleaned hourly air temperature of every site (stage 1-2 grid).
SELECT site, time, value
FROM resampled
WHERE signal = 'air_temp_c' AND value IS NOT NULL
ORDER BY site, time;

-- name: eras
-- Every era with its mean air temperature (the eras view, migration 0002).
SELECT site, era_start, era_end, mean_air_temp_c
FROM eras
ORDER BY site, era_start;

-- name: chosen_features
-- The features the report plots over time.
SELECT site, window_start, signal, feature, value
FROM features
WHERE signal = ANY(%(signals)s) AND feature = ANY(%(features)s)
ORDER BY site, signal, feature, window_start;

-- name: finished_jobs
-- Done jobs in the order they finished: the run's throughput and job durations.
SELECT finished_at, extract(epoch FROM finished_at - started_at)::double precision AS seconds,
       device, worker, coalesce(feature_values, 0) AS feature_values
FROM jobs
WHERE status = 'done' AND finished_at IS NOT NULL AND started_at IS NOT NULL
ORDER BY finished_at;
