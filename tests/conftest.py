"""Every test talks to a real PostgreSQL.

By default the session starts its own embedded server in a temporary folder; set
TEST_DATABASE_URL to use another server instead. Each test that asks for ``db_url``
gets a fresh database cloned from a template migrated to head.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from greenhouse_queue import embedded
from greenhouse_queue.schema import upgrade as migrate

REPO = Path(__file__).resolve().parent.parent
# The two CLIs as a user runs them, through this interpreter's installed package.
PRODUCER = [sys.executable, "-m", "greenhouse_queue.producer.cli"]
CONSUMER = [sys.executable, "-m", "greenhouse_queue.consumer.cli"]
TEMPLATE = "greenhouse_test_template"


def run_cli(
    program: list[str], url: str, *args: str, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """One of the CLIs, as a user runs it, against the database at ``url``."""
    return subprocess.run(
        [*program, *args],
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` instead."""
    return psycopg.conninfo.make_conninfo(url, dbname=name)


@contextmanager
def private_server() -> Iterator[tuple[Path, str]]:
    """An embedded server of its own: (its folder, its maintenance URL); gone afterwards."""
    # Not under pytest's own temporary folder: every pytest start makes that 0700 again,
    # which would lock the server's unprivileged user out of a running cluster.
    data_dir = Path(tempfile.mkdtemp(prefix="greenhouse-test-pg-"))
    try:
        yield data_dir, embedded.ensure_running(data_dir)
    finally:
        embedded.stop(data_dir, mode="immediate")
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def server_data_dir() -> Iterator[Path | None]:
    """The embedded server's folder, or None when TEST_DATABASE_URL names a server."""
    if os.environ.get("TEST_DATABASE_URL"):
        yield None
        return
    with private_server() as (data_dir, _url):
        yield data_dir


@pytest.fixture(scope="session")
def server_url(server_data_dir: Path | None) -> str:
    """A URL to the test server's maintenance database."""
    if server_data_dir is None:
        return os.environ["TEST_DATABASE_URL"]
    return embedded.ensure_running(server_data_dir)


@pytest.fixture(scope="session")
def template_url(server_url: str) -> str:
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(TEMPLATE))
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE)))
    url = with_database(server_url, TEMPLATE)
    migrate(url)
    return url


def create_database(server_url: str, template: str = TEMPLATE) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    return with_database(server_url, name)


def drop_database(server_url: str, url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def db_url(server_url: str, template_url: str) -> Iterator[str]:
    """A fresh database, migrated to head, for this test alone."""
    url = create_database(server_url)
    yield url
    drop_database(server_url, url)


@pytest.fixture
def empty_db_url(server_url: str) -> Iterator[str]:
    """A fresh database with no migrations applied."""
    url = create_database(server_url, template="template0")
    yield url
    drop_database(server_url, url)


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_url) as connection:
        yield connection


@pytest.fixture
def cli_env(db_url: str) -> dict[str, str]:
    """The environment a CLI subprocess runs with: the test database, quick timings."""
    return {
        **os.environ,
        "DATABASE_URL": db_url,
        "LEASE_SECONDS": "3",
        "HEARTBEAT_SECONDS": "1",
        "POLL_SECONDS": "0.5",
        "PYTHONUNBUFFERED": "1",
    }


SAMPLE_TEMPLATE = "greenhouse_sample_template"
SAMPLE = REPO / "sample"


def sample_files() -> list[Path]:
    """Every data file the project ships in sample/."""
    return sorted(
        path
        for path in SAMPLE.rglob("*")
        if path.is_file() and path.suffix.lower() in {".csv", ".json"}
    )


def recreate_database(server_url: str, name: str, *, template: str) -> str:
    """Database ``name`` made afresh as a copy of ``template`` (a leftover one is dropped)."""
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    return with_database(server_url, name)


def run_without(module: str, argv: list[str], url: str) -> subprocess.CompletedProcess[str]:
    """``producer argv`` as on an installation that lacks ``module`` (an optional extra)."""
    blocked = (
        f"import sys; sys.modules[{module!r}] = None;"
        "from greenhouse_queue.producer.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    return subprocess.run(
        [sys.executable, "-c", blocked, *argv],
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="session")
def sample_template(server_url: str, template_url: str) -> str:
    """A template database migrated to head with the shipped sample loaded."""
    from greenhouse_queue.producer.load import load_files

    url = recreate_database(server_url, SAMPLE_TEMPLATE, template=TEMPLATE)
    with psycopg.connect(url) as conn:
        load_files(conn, sample_files())
    return SAMPLE_TEMPLATE


@pytest.fixture
def sample_db_url(server_url: str, sample_template: str) -> Iterator[str]:
    """A fresh database, migrated, with the shipped sample loaded."""
    url = create_database(server_url, template=sample_template)
    yield url
    drop_database(server_url, url)


DRAINED_TEMPLATE = "greenhouse_drained_template"
# A few days of each sample greenhouse, and one poison window that fails in stage features.
DRAINED_RANGES = (("2016-01-20", "2016-01-23"), ("2014-03-25", "2014-03-27"))
POISON_DAY = "2016-01-25"


@pytest.fixture(scope="session")
def drained_template(server_url: str, sample_template: str) -> str:
    """A template with the sample loaded, a few windows done by a real consumer, and one
    window failed for good in stage features (its only attempt hit an injected fault)."""
    env = {
        **os.environ,
        "DATABASE_URL": recreate_database(server_url, DRAINED_TEMPLATE, template=sample_template),
        "CONSUMER_FAULT_INJECT": f"features:{POISON_DAY}T00:00:00+00:00",
    }

    def run(*argv: str) -> None:
        done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr

    for first, last in DRAINED_RANGES:
        run(*PRODUCER, "enqueue", "--from", first, "--to", last)
    run(*PRODUCER, "enqueue", "--from", POISON_DAY, "--to", POISON_DAY, "--max-attempts", "1")
    run(*CONSUMER, "run", "--drain", "--worker", "template-worker", "--batch", "4")
    return DRAINED_TEMPLATE


@pytest.fixture
def drained_db_url(server_url: str, drained_template: str) -> Iterator[str]:
    """A fresh database cloned from ``drained_template``."""
    url = create_database(server_url, template=drained_template)
    yield url
    drop_database(server_url, url)
