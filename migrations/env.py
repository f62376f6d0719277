"""Alembic environment: plain SQL migrations against DATABASE_URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from greenhouse_queue.db import connect, database_url


def run_migrations_offline() -> None:
    context.configure(dialect_name="postgresql", literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # greenhouse_queue.schema passes a URL in; `alembic` on the command line does not.
    url = context.config.attributes.get("database_url") or database_url()
    # psycopg parses the URL or key=value DSN itself, with the same rules as the CLIs.
    engine = create_engine(
        "postgresql+psycopg://", creator=lambda: connect(url), poolclass=pool.NullPool
    )
    with engine.connect() as connection:
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
