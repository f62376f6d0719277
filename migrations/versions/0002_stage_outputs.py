"""Stage outputs users query: the cleaned grid (resampled), changepoints, and eras.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPGRADE = """
-- Stages 1-2: one row per (site, signal, bucket) of a job's own window.
-- value NULL with count > 0: the bucket had samples, all outside physical limits.
CREATE TABLE resampled (
    site     text NOT NULL,
    time     timestamptz NOT NULL,          -- bucket start, UTC
    signal   text NOT NULL,
    value    double precision,              -- bucket mean, or interpolated when filled
    count    integer NOT NULL CHECK (count >= 0),           -- in-limit raw samples
    coverage double precision NOT NULL CHECK (coverage BETWEEN 0 AND 1),
    filled   boolean NOT NULL DEFAULT false,                -- stage 2 interpolated it
    job_id   bigint NOT NULL,               -- the job that wrote it last; no FK (jobs pruned)
    PRIMARY KEY (site, signal, time)
);
CREATE INDEX resampled_job_idx ON resampled (job_id);

-- Stage 4: a changepoint is the first bucket of a new era.
CREATE TABLE changepoints (
    site      text NOT NULL,
    time      timestamptz NOT NULL,
    cost_gain double precision NOT NULL,    -- L2 cost saved by splitting here (z-score units)
    signals   text[] NOT NULL,              -- the signals the segmentation used
    job_id    bigint NOT NULL,
    PRIMARY KEY (site, time)
);
CREATE INDEX changepoints_job_idx ON changepoints (job_id);

-- Consecutive changepoints per site become eras, across job boundaries.
-- First era: from the site's first non-empty bucket in resampled to its first
-- changepoint. Last era: from the last changepoint on, still open, so era_end and
-- duration are NULL (a later job may close it). A site with data and no changepoint
-- has one open era. Means include interpolated buckets.
CREATE VIEW eras AS
WITH first_data AS (
    SELECT site, min(time) AS first_time
    FROM resampled
    WHERE value IS NOT NULL AND signal IN ('air_temp_c', 'co2_ppm', 'rh_percent')
    GROUP BY site
), bounds AS (
    SELECT site, time AS era_start, lead(time) OVER (PARTITION BY site ORDER BY time) AS era_end
    FROM changepoints
    UNION ALL
    SELECT f.site, f.first_time,
           (SELECT min(c.time) FROM changepoints c WHERE c.site = f.site)
    FROM first_data f
    WHERE NOT EXISTS (
        SELECT 1 FROM changepoints c WHERE c.site = f.site AND c.time <= f.first_time
    )
)
SELECT b.site,
       b.era_start,
       b.era_end,
       b.era_end - b.era_start AS duration,
       m.mean_air_temp_c,
       m.mean_co2_ppm,
       m.mean_rh_percent
FROM bounds b
CROSS JOIN LATERAL (
    SELECT avg(r.value) FILTER (WHERE r.signal = 'air_temp_c') AS mean_air_temp_c,
           avg(r.value) FILTER (WHERE r.signal = 'co2_ppm') AS mean_co2_ppm,
           avg(r.value) FILTER (WHERE r.signal = 'rh_percent') AS mean_rh_percent
    FROM resampled r
    WHERE r.site = b.site
      AND r.signal IN ('air_temp_c', 'co2_ppm', 'rh_percent')
      AND r.time >= b.era_start
      AND (b.era_end IS NULL OR r.time < b.era_end)
) m;
"""

DOWNGRADE = """
DROP VIEW eras;
DROP TABLE changepoints;
DROP TABLE resampled;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
