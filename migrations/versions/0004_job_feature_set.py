"""Each job records the feature set that produced its rows, and how many values it wrote.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE jobs
            ADD COLUMN feature_set    text,    -- consumer run --feature-set of the done run
            ADD COLUMN feature_values bigint;  -- feature values that run wrote
        """
    )


def downgrade() -> None:
    op.execute("ALTER TABLE jobs DROP COLUMN feature_values, DROP COLUMN feature_set")
