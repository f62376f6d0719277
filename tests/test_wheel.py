"""The project installs like a Python package: a wheel built from this repository, installed in
a fresh virtual environment, runs the whole pipeline from a directory outside the repository."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import psycopg
import pytest

from tests.conftest import REPO, SAMPLE


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    log = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(out), str(REPO)], out)
    assert "deprecated" not in log.lower(), f"the build warns:\n{log}"
    (built,) = out.glob("greenhouse_queue-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with the wheel and its dependencies installed from the package index."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    run([str(python), "-m", "pip", "install", "--quiet", f"{wheel}"], env_dir)
    return env_dir


def test_the_wheel_carries_sql_and_migrations_under_one_import_name(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".info")}
    assert {name for name in top_level if not name.endswith(".dist-info")} == {"greenhouse_queue"}
    assert "greenhouse_queue/sql/queue.sql" in names
    assert "greenhouse_queue/migrations/env.py" in names
    assert any(name.startswith("greenhouse_queue/migrations/versions/0001") for name in names)


def test_an_installed_wheel_runs_the_pipeline_from_any_directory(
    installed: Path, empty_db_url: str, tmp_path: Path
) -> None:
    bin_dir = installed / "bin"
    elsewhere = tmp_path / "somewhere-else"
    elsewhere.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")},
        "DATABASE_URL": empty_db_url,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "CONSUMER_HEALTH_FILE": str(tmp_path / "alive"),
    }
    run([str(bin_dir / "producer"), "migrate"], elsewhere, env)
    run(
        [str(bin_dir / "producer"), "load", *map(str, (SAMPLE / "knudjepsen").glob("*.csv"))],
        elsewhere,
        env,
    )
    run(
        [str(bin_dir / "producer"), "enqueue", "--from", "2016-01-18", "--to", "2016-01-20"],
        elsewhere,
        env,
    )
    run([str(bin_dir / "consumer"), "run", "--drain", "--device", "cpu"], elsewhere, env)
    where = run(
        [
            str(bin_dir / "python"),
            "-c",
            "import greenhouse_queue; print(greenhouse_queue.__file__)",
        ],
        elsewhere,
        env,
    )
    assert str(installed) in where and str(REPO) not in where, "ran the installed copy"
    with psycopg.connect(empty_db_url) as conn:
        statuses = dict(conn.execute("SELECT status, count(*) FROM jobs GROUP BY 1").fetchall())
        features = conn.execute("SELECT count(*) FROM features").fetchone()[0]
    assert statuses == {"done": 3}
    assert features > 0
