"""Shared Prometheus gauges: one row that the consumers refresh in turn.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-01

Every consumer serves the gauges "jobs by state" and "age of the oldest due job". Counting
jobs is a scan of ``jobs``; done by each of N consumers on each scrape it would cost N scans
per scrape interval. Instead the counts live here, and whichever consumer first finds them
older than ``METRICS_REFRESH_SECONDS`` recomputes them (sql/observe.sql: refresh_gauges)
while the others read this row.
"""

from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE queue_gauges (
    id                     boolean PRIMARY KEY DEFAULT true CHECK (id),  -- exactly one row
    refreshed_at           timestamptz NOT NULL DEFAULT '-infinity',
    jobs_by_state          jsonb NOT NULL DEFAULT '{}',  -- {"queued": 3, "done": 12, ...}
    oldest_due_age_seconds double precision               -- NULL when nothing is due
);
INSERT INTO queue_gauges DEFAULT VALUES;

GRANT SELECT, UPDATE ON queue_gauges TO consumer_role;
GRANT SELECT ON queue_gauges TO producer_role;
"""

DOWNGRADE = """
REVOKE ALL ON queue_gauges FROM producer_role, consumer_role;
DROP TABLE queue_gauges;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
