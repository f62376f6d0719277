"""The queue (jobs), its output (features) and the raw inputs the stages read.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE sites (
    site        text PRIMARY KEY,
    location    text NOT NULL,              -- the weather station it shares
    price_area  text NOT NULL DEFAULT 'DK1' -- the spot-price area its electricity is bought in
);

CREATE TABLE readings (
    site    text NOT NULL,
    time    timestamptz NOT NULL,
    signal  text NOT NULL,
    value   double precision NOT NULL,
    -- Time first: jobs read every site and signal of a time span, and one index that
    -- serves both that scan and uniqueness halves the index work of a bulk load.
    PRIMARY KEY (time, site, signal)
);

CREATE TABLE weather (
    location text NOT NULL,
    time     timestamptz NOT NULL,
    signal   text NOT NULL,
    value    double precision NOT NULL,
    PRIMARY KEY (time, location, signal)
);

CREATE TABLE spot_prices (
    price_area    text NOT NULL,
    hour_utc      timestamptz NOT NULL,
    price_dkk_mwh double precision,
    price_eur_mwh double precision,
    PRIMARY KEY (price_area, hour_utc)
);

CREATE TABLE jobs (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    window_start     timestamptz NOT NULL,
    window_end       timestamptz NOT NULL,  -- half-open: [window_start, window_end)
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    priority         integer NOT NULL DEFAULT 0,  -- lower runs first, as in River and Oban
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts     integer NOT NULL DEFAULT 5 CHECK (max_attempts > 0),
    run_after        timestamptz NOT NULL DEFAULT now(),
    worker           text,
    heartbeat_at     timestamptz,
    lease_expires_at timestamptz,
    last_error       text,
    error_stage      text,
    device           text,
    stage_seconds    jsonb,  -- {"aggregate": 0.01, "fill_gaps": ..., "features": ..., "eras": ...}
    notes            jsonb,  -- what a job wants users to know, e.g. why no eras were found
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    CHECK (window_end > window_start),
    CHECK (status <> 'running' OR (worker IS NOT NULL AND lease_expires_at IS NOT NULL))
) WITH (
    -- Every job row is updated three or more times: leave room for HOT updates and
    -- vacuum the table long before the default 20 % of it is dead.
    fillfactor = 70,
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 0
);

-- A window is enqueued once while it is live or done; failed and cancelled windows
-- may be enqueued again.
CREATE UNIQUE INDEX jobs_window_key ON jobs (window_start, window_end)
    WHERE status IN ('queued', 'running', 'done');
-- The claim reads these; they stay small however many finished jobs the table holds.
CREATE INDEX jobs_queued_idx ON jobs (priority, run_after, id) WHERE status = 'queued';
CREATE INDEX jobs_running_lease_idx ON jobs (lease_expires_at) WHERE status = 'running';

CREATE TABLE features (
    job_id       bigint NOT NULL,  -- the job that wrote the row last; no FK so jobs can be pruned
    site         text NOT NULL,
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    signal       text NOT NULL,
    feature      text NOT NULL,
    value        double precision,
    CONSTRAINT features_key UNIQUE (site, window_start, window_end, signal, feature)
);

-- Wakes waiting consumers at once; they poll as well, so this is an optimisation only.
CREATE FUNCTION jobs_notify_queued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('jobs_queued', '');
    RETURN NULL;
END $$;
CREATE TRIGGER jobs_notify_queued AFTER INSERT ON jobs
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_notify_queued();
"""

DOWNGRADE = """
DROP TABLE features;
DROP TABLE jobs;
DROP FUNCTION jobs_notify_queued();
DROP TABLE spot_prices;
DROP TABLE weather;
DROP TABLE readings;
DROP TABLE sites;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
