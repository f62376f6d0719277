"""Least-privilege roles: producer_role and consumer_role.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

Both are NOLOGIN group roles: grant them to a login user
(``CREATE ROLE loader LOGIN PASSWORD ... IN ROLE producer_role``). Neither owns a
table, so neither may drop, alter or truncate one.

- producer_role loads raw data (sites, readings, weather, spot_prices: read and
  insert), enqueues jobs (read and insert), cancels and retries them (update of
  status, attempts, run_after and finished_at only), and reads the outputs for
  ``producer status``.
- consumer_role reads raw data, claims and updates jobs (never inserts or deletes
  them), and writes the stage outputs (features, resampled, changepoints).

Roles are cluster-wide: they are created once, idempotently, and granted privileges in
this database. The downgrade revokes them here and drops the roles only when no other
database still grants them anything.
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ROLES = ("producer_role", "consumer_role")

CREATE_ROLES = """
DO $$
DECLARE
    wanted text;
BEGIN
    FOREACH wanted IN ARRAY ARRAY['producer_role', 'consumer_role'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = wanted) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', wanted);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- another database's migration created it at the same moment
            END;
        END IF;
    END LOOP;
END $$;
"""

GRANTS = """
GRANT USAGE ON SCHEMA public TO producer_role, consumer_role;
-- Both CLIs check the schema revision before they start.
GRANT SELECT ON alembic_version TO producer_role, consumer_role;

GRANT SELECT, INSERT ON sites, readings, weather, spot_prices TO producer_role;
GRANT SELECT, INSERT ON jobs TO producer_role;
GRANT UPDATE (status, attempts, run_after, finished_at) ON jobs TO producer_role;
GRANT SELECT ON features, resampled, changepoints, eras TO producer_role;

GRANT SELECT ON sites, readings, weather, spot_prices TO consumer_role;
GRANT SELECT, UPDATE ON jobs TO consumer_role;
GRANT SELECT, INSERT, UPDATE, DELETE ON features, resampled, changepoints TO consumer_role;
GRANT SELECT ON eras TO consumer_role;
"""

REVOKES = """
REVOKE ALL ON sites, readings, weather, spot_prices, jobs, features, resampled, changepoints,
    eras, alembic_version FROM producer_role, consumer_role;
REVOKE USAGE ON SCHEMA public FROM producer_role, consumer_role;
"""

DROP_ROLES = """
DO $$
DECLARE
    unwanted text;
BEGIN
    FOREACH unwanted IN ARRAY ARRAY['producer_role', 'consumer_role'] LOOP
        BEGIN
            EXECUTE format('DROP ROLE IF EXISTS %I', unwanted);
        EXCEPTION WHEN dependent_objects_still_exist THEN
            RAISE NOTICE 'role % is still granted privileges in another database; kept',
                unwanted;
        END;
    END LOOP;
END $$;
"""


def upgrade() -> None:
    op.execute(CREATE_ROLES)
    op.execute(GRANTS)


def downgrade() -> None:
    op.execute(REVOKES)
    op.execute(DROP_ROLES)
