"""Dense feature storage: one array of values per (site, window, signal), same SQL for users.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

The long ``features`` table stored one row per value (about 250 bytes on disk for an
8-byte value, indexes included). Values now live in ``feature_vectors``: one row per
(site, window_start, window_end, signal) holding a ``float8[]`` whose positions are named
by ``feature_layouts``; an absent value is a NULL element (one bit). ``features`` becomes a
view with the old columns, so every query written for the table still answers.

The upgrade moves existing rows into one layout (every feature name present, sorted);
the downgrade moves them back into the long table, value for value. A vector's ``job_id``
is the latest job that wrote any of its values (the writer always rewrote a window whole,
so they are all the same); a long row whose value is NULL stated an absent value and
stays absent (the writers never wrote one).
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLES = """
-- Which feature each array position holds. A layout is written once and never changed;
-- writers reuse an existing layout when it names every feature they have.
CREATE TABLE feature_layouts (
    layout   integer NOT NULL,
    position integer NOT NULL CHECK (position >= 1),   -- 1-based, as float8[] subscripts
    feature  text NOT NULL,
    PRIMARY KEY (layout, position),
    UNIQUE (layout, feature)
);

CREATE TABLE feature_vectors (
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    job_id       bigint NOT NULL,     -- the job that wrote it last; no FK so jobs can be pruned
    layout       integer NOT NULL,    -- feature_layouts.layout naming the positions of vals
    site         text NOT NULL,
    signal       text NOT NULL,
    vals         double precision[] NOT NULL,  -- NULL element = absent value, never NaN
    -- (site, window_start) first: a job's stale-row delete is one range per site, and a
    -- query for one site and a time range reads one range of the index.
    CONSTRAINT feature_vectors_key PRIMARY KEY (site, window_start, window_end, signal)
) WITH (
    -- Keep vectors inline and uncompressed up to a page: subscripts then read the page
    -- directly (no detoasting per value), and floats barely compress
    -- (see bench/RESULTS.md, "Feature storage").
    toast_tuple_target = 8160
);
ALTER TABLE feature_vectors ALTER COLUMN vals SET STORAGE MAIN;

CREATE VIEW features AS
SELECT v.job_id, v.site, v.window_start, v.window_end, v.signal, l.feature, u.value
FROM feature_vectors AS v
CROSS JOIN LATERAL unnest(v.vals) WITH ORDINALITY AS u(value, position)
JOIN feature_layouts AS l ON l.layout = v.layout AND l.position = u.position
WHERE u.value IS NOT NULL;
"""

MOVE_IN = """
INSERT INTO feature_layouts (layout, position, feature)
SELECT 1, row_number() OVER (ORDER BY feature), feature
FROM (SELECT DISTINCT feature FROM features_long) AS names;

INSERT INTO feature_vectors (site, window_start, window_end, signal, job_id, layout, vals)
SELECT k.site, k.window_start, k.window_end, k.signal, k.job_id, 1,
       ARRAY(
           SELECT f.value
           FROM feature_layouts AS l
           LEFT JOIN features_long AS f
               ON f.site = k.site AND f.window_start = k.window_start
              AND f.window_end = k.window_end AND f.signal = k.signal AND f.feature = l.feature
           WHERE l.layout = 1
           ORDER BY l.position
       )
FROM (
    SELECT site, window_start, window_end, signal, max(job_id) AS job_id
    FROM features_long
    GROUP BY site, window_start, window_end, signal
) AS k;
"""

# The wide form: one row per site and window, a column per signal and feature.
WIDE = r"""
CREATE FUNCTION features_wide_query(signals text[], features text[]) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    max_columns CONSTANT integer := 1600;  -- PostgreSQL's limit for a table or view
    max_name    CONSTANT integer := 63;    -- and for an identifier, in bytes
    columns     integer;
    name        text;
    signal      text;
    i           integer := 0;
    selects     text := '';
    joins       text := '';
BEGIN
    IF coalesce(cardinality(signals), 0) = 0 OR coalesce(cardinality(features), 0) = 0 THEN
        RAISE EXCEPTION 'features_wide: name at least one signal and one feature'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF array_position(signals, NULL) IS NOT NULL OR array_position(features, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'features_wide: a signal or feature name is NULL'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF (SELECT count(DISTINCT s) FROM unnest(signals) AS s) < cardinality(signals)
       OR (SELECT count(DISTINCT f) FROM unnest(features) AS f) < cardinality(features) THEN
        RAISE EXCEPTION 'features_wide: a signal or feature is named twice'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    columns := 3 + cardinality(signals) * cardinality(features);
    IF columns > max_columns THEN
        RAISE EXCEPTION 'features_wide: % signals x % features + 3 key columns = % columns, '
                        'more than the % a PostgreSQL view can have',
                        cardinality(signals), cardinality(features), columns, max_columns
            USING ERRCODE = 'too_many_columns',
                  HINT = 'Choose fewer signals or features, or split them over several views.';
    END IF;
    FOREACH signal IN ARRAY signals LOOP
        i := i + 1;
        FOR j IN 1 .. cardinality(features) LOOP
            name := signal || '__' || features[j];
            IF octet_length(name) > max_name THEN
                RAISE EXCEPTION 'features_wide: column name % is % bytes, more than the % '
                                'PostgreSQL keeps', name, octet_length(name), max_name
                    USING ERRCODE = 'name_too_long',
                          HINT = 'Leave that feature out here and read it from the features view.';
            END IF;
            selects := selects || format(', v%s.vals[p%s.positions[%s]] AS %I', i, i, j, name);
        END LOOP;
        joins := joins || format('
LEFT JOIN feature_vectors AS v%1$s ON v%1$s.site = k.site AND v%1$s.window_start = k.window_start
    AND v%1$s.window_end = k.window_end AND v%1$s.signal = %2$L
LEFT JOIN positions AS p%1$s ON p%1$s.layout = v%1$s.layout', i, signal);
    END LOOP;
    RETURN format('WITH positions AS (
    -- per layout, the position of each feature asked for (NULL where it has none)
    SELECT d.layout, ARRAY(
        SELECT l.position FROM unnest(%1$L::text[]) WITH ORDINALITY AS w(feature, ord)
        LEFT JOIN feature_layouts AS l ON l.layout = d.layout AND l.feature = w.feature
        ORDER BY w.ord) AS positions
    FROM (SELECT DISTINCT layout FROM feature_layouts) AS d
)
SELECT k.site, k.window_start, k.window_end%2$s
FROM (SELECT DISTINCT site, window_start, window_end FROM feature_vectors
      WHERE signal = ANY(%3$L::text[])) AS k%4$s
ORDER BY k.site, k.window_start, k.window_end', features, selects, signals, joins);
END $$;

COMMENT ON FUNCTION features_wide_query(text[], text[]) IS
    'The SELECT of the wide form: one row per site and window, a column signal__feature '
    'for every signal and feature named; refuses more than 1600 columns.';

CREATE FUNCTION features_wide_view(view_name text, signals text[], features text[])
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE VIEW %I AS %s', view_name, features_wide_query(signals, features));
    RETURN view_name;
END $$;

COMMENT ON FUNCTION features_wide_view(text, text[], text[]) IS
    'Creates view view_name over features_wide_query(signals, features); never replaces one.';
"""

GRANTS = """
GRANT SELECT ON feature_vectors, feature_layouts, features TO producer_role;
GRANT SELECT, INSERT, DELETE ON feature_vectors TO consumer_role;
GRANT SELECT, INSERT ON feature_layouts TO consumer_role;
GRANT SELECT ON features TO consumer_role;
REVOKE ALL ON FUNCTION features_wide_query(text[], text[]),
    features_wide_view(text, text[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION features_wide_query(text[], text[]) TO producer_role;
"""

LONG_TABLE = """
CREATE TABLE features_long (
    job_id       bigint NOT NULL,  -- the job that wrote the row last; no FK so jobs can be pruned
    site         text NOT NULL,
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    signal       text NOT NULL,
    feature      text NOT NULL,
    value        double precision,
    CONSTRAINT features_key UNIQUE (site, window_start, window_end, signal, feature)
);
"""

LONG_GRANTS = """
GRANT SELECT ON features TO producer_role;
GRANT SELECT, INSERT, UPDATE, DELETE ON features TO consumer_role;
"""


def upgrade() -> None:
    op.execute("ALTER TABLE features RENAME TO features_long")
    op.execute("ALTER TABLE features_long RENAME CONSTRAINT features_key TO features_long_key")
    op.execute(TABLES)
    op.execute(MOVE_IN)
    op.execute("DROP TABLE features_long")
    op.execute(WIDE)
    op.execute(GRANTS)
    op.execute("ANALYZE feature_layouts, feature_vectors")


def downgrade() -> None:
    op.execute(LONG_TABLE)
    op.execute("INSERT INTO features_long SELECT * FROM features")
    op.execute("DROP FUNCTION features_wide_view(text, text[], text[])")
    op.execute("DROP FUNCTION features_wide_query(text[], text[])")
    op.execute("DROP VIEW features")
    op.execute("DROP TABLE feature_vectors")
    op.execute("DROP TABLE feature_layouts")
    op.execute("ALTER TABLE features_long RENAME TO features")
    op.execute(LONG_GRANTS)
