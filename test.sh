#!/usr/bin/env bash
# Runs the test suite. Creates .venv with the test extras first; needs only Python 3.11+.
# Tests start their own embedded PostgreSQL; set TEST_DATABASE_URL to use another server.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
exec .venv/bin/python -m pytest "$@"
