#!/usr/bin/env bash
# The whole product on the shipped sample: migrate, load, enqueue, two consumers, results.
# Needs only Python 3.11+. Without DATABASE_URL it starts (and later reuses) an embedded
# PostgreSQL server and prints its URL.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
export PATH="$PWD/.venv/bin:$PATH"
if [ -z "${DATABASE_URL:-}" ]; then
    DATABASE_URL="$(python -c 'from greenhouse_queue.db import database_url; print(database_url())')"
    export DATABASE_URL
fi
PSQL="$(python -c 'from greenhouse_queue.embedded import bin_dir; print(bin_dir() / "psql")')"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step producer migrate
step producer load sample/knudjepsen/*.csv sample/aarslev/celle5/*.csv
step producer load sample/aarslev/weather/* sample/prices/*
# shellcheck source=sample/RANGES
source sample/RANGES
for range in "${SAMPLE_RANGES[@]}"; do
    step producer enqueue --from "${range% *}" --to "${range#* }"
done
printf '\n\033[1m$ consumer run --drain & consumer run --drain\033[0m\n'
consumer run --drain --worker demo-1 &
consumer run --drain --worker demo-2 &
wait
step producer status
step "$PSQL" "$DATABASE_URL" -c "
    SELECT site, window_start, signal, feature, round(value::numeric, 3) AS value
    FROM features
    WHERE feature IN ('mean', 'standard_deviation', 'coverage')
      AND signal IN ('air_temp_c', 'co2_ppm')
    ORDER BY site, window_start, signal, feature
    LIMIT 12"
step "$PSQL" "$DATABASE_URL" -c "
    SELECT site, era_start, era_end, duration,
           round(mean_air_temp_c::numeric, 1) AS air_temp_c,
           round(mean_rh_percent::numeric, 1) AS rh_percent
    FROM eras ORDER BY site, era_start LIMIT 8"
printf '\nExplore it yourself:  %s "%s"\n' "$PSQL" "$DATABASE_URL"
printf 'or put the commands on PATH:  export PATH="%s/.venv/bin:$PATH"\n' "$PWD"
printf 'then: producer status --watch, producer db psql, producer report --out report, producer db stop\n'
