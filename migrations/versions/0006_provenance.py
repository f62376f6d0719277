"""Data you can trust: where every raw value came from, conflicts kept, samples the limits
rejected counted, and live job windows that can never overlap.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-01

- ``sources``: one row per loaded file (name, sha256, size, format, when, what it did);
  ``readings``, ``weather`` and ``spot_prices`` get ``source_id``, the file whose load
  set the value (NULL for rows loaded before this migration).
- ``conflicts``: every distinct value of a key that files disagree on, with the first
  file that carried it; the tables hold the value the stages use (docs/loading.md).
- ``source_signals``: per file and signal, the values it carried and how many of them
  the physical limits reject (``producer status`` lists signals that lose most).
- ``resampled.rejected``: the raw samples of a bucket that the limits rejected.
- ``jobs_no_overlap``: queued, running and done windows never overlap (an exclusion
  constraint); identical windows stay idempotent through ``jobs_window_key``.
"""

from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None

# The exclusion constraint cannot be built over overlapping live windows: say which.
CHECK_OVERLAPS = """
DO $$
DECLARE
    found text;
BEGIN
    SELECT string_agg(format('job %s [%s, %s) and job %s [%s, %s)', a.id, a.window_start,
                             a.window_end, b.id, b.window_start, b.window_end), '; ')
    INTO found
    FROM jobs a JOIN jobs b ON a.id < b.id
        AND tstzrange(a.window_start, a.window_end) && tstzrange(b.window_start, b.window_end)
    WHERE a.status IN ('queued', 'running', 'done') AND b.status IN ('queued', 'running', 'done');
    IF found IS NOT NULL THEN
        RAISE EXCEPTION 'live job windows overlap: %', found
            USING HINT = 'cancel one of each pair (producer cancel) and migrate again';
    END IF;
END $$;
"""

UPGRADE = """
CREATE TABLE sources (
    id         integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL,               -- the file's name
    sha256     text NOT NULL,               -- of its bytes: a byte-identical file is a no-op
    size       bigint NOT NULL,             -- bytes
    format     text NOT NULL,
    replace    boolean NOT NULL DEFAULT false,  -- loaded with --replace: its values win
    loaded_at  timestamptz NOT NULL DEFAULT now(),
    rows       bigint NOT NULL DEFAULT 0,   -- values the file carries
    added      bigint NOT NULL DEFAULT 0,   -- values new to the database
    changed    bigint NOT NULL DEFAULT 0,   -- stored values this load changed
    conflicts  bigint NOT NULL DEFAULT 0,   -- values that disagreed with a stored one
    time_first timestamptz,
    time_last  timestamptz
);
CREATE INDEX sources_sha256_idx ON sources (sha256);

CREATE TABLE source_signals (
    source_id integer NOT NULL REFERENCES sources ON DELETE CASCADE,
    tbl       text NOT NULL,                -- readings, weather or spot_prices
    key       text NOT NULL,                -- site, location or price area
    signal    text NOT NULL,
    rows      bigint NOT NULL,              -- values of the signal in the file
    rejected  bigint NOT NULL,              -- of those, outside the physical limits
    PRIMARY KEY (source_id, tbl, key, signal)
);

-- Each distinct value of a disputed key, with the first file that carried it. The raw
-- table holds the value the stages use: the mean of these (or a --replace file's value).
CREATE TABLE conflicts (
    tbl       text NOT NULL,
    key       text NOT NULL,
    signal    text NOT NULL,
    time      timestamptz NOT NULL,
    value     double precision NOT NULL,
    source_id integer,
    PRIMARY KEY (tbl, key, signal, time, value)
);

-- No foreign key: a per-row check would slow bulk loads, and only the loader writes these.
ALTER TABLE readings ADD COLUMN source_id integer;
ALTER TABLE weather ADD COLUMN source_id integer;
ALTER TABLE spot_prices ADD COLUMN source_id integer;

ALTER TABLE resampled
    ADD COLUMN rejected integer NOT NULL DEFAULT 0 CHECK (rejected >= 0);

ALTER TABLE jobs ADD CONSTRAINT jobs_no_overlap
    EXCLUDE USING gist (tstzrange(window_start, window_end) WITH &&)
    WHERE (status IN ('queued', 'running', 'done'));

GRANT SELECT, INSERT, UPDATE ON sources TO producer_role;
GRANT SELECT, INSERT ON source_signals TO producer_role;
GRANT SELECT, INSERT, DELETE ON conflicts TO producer_role;
GRANT UPDATE (value, source_id) ON readings, weather TO producer_role;
GRANT UPDATE (price_dkk_mwh, price_eur_mwh, source_id) ON spot_prices TO producer_role;
"""

DOWNGRADE = """
REVOKE UPDATE (price_dkk_mwh, price_eur_mwh, source_id) ON spot_prices FROM producer_role;
REVOKE UPDATE (value, source_id) ON readings, weather FROM producer_role;
ALTER TABLE jobs DROP CONSTRAINT jobs_no_overlap;
ALTER TABLE resampled DROP COLUMN rejected;
ALTER TABLE spot_prices DROP COLUMN source_id;
ALTER TABLE weather DROP COLUMN source_id;
ALTER TABLE readings DROP COLUMN source_id;
DROP TABLE conflicts;
DROP TABLE source_signals;
DROP TABLE sources;
"""


def upgrade() -> None:
    op.execute(CHECK_OVERLAPS)
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
