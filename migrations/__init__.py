"""Alembic migrations, shipped inside the package so that ``producer migrate`` runs anywhere."""
