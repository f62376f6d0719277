"""Progress bars on long work (load, export, report): drawn on a terminal, silent otherwise."""

from __future__ import annotations

import os
import pty
import select
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PRODUCER, REPO, SAMPLE

LOAD_FILE = sorted((SAMPLE / "knudjepsen").glob("*.csv"))[0]


def on_terminal(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Runs ``argv`` with a pseudo-terminal as stdout and stderr; returns its output."""
    main, child = pty.openpty()
    process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=child, stderr=child)
    os.close(child)
    output = b""
    try:
        while True:
            ready, _, _ = select.select([main], [], [], 1)
            if ready:
                try:
                    chunk = os.read(main, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                output += chunk
            elif process.poll() is not None:
                break
    finally:
        code = process.wait(timeout=300)
        os.close(main)
    return code, output.decode("utf-8", "replace")


def commands(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    """Each long command and the label its bar shows."""
    return {
        "load": ([*PRODUCER, "load", "--replace", str(LOAD_FILE)], f"load {LOAD_FILE.name}"),
        "export": ([*PRODUCER, "export", "--out", str(tmp_path / "f.csv")], "export f.csv"),
        "report": ([*PRODUCER, "report", "--out", str(tmp_path / "r")], "report"),
    }


@pytest.mark.parametrize("name", ["load", "export", "report"])
def test_a_terminal_sees_a_progress_bar(drained_db_url: str, tmp_path: Path, name: str) -> None:
    argv, label = commands(tmp_path)[name]

    code, output = on_terminal(argv, {**os.environ, "DATABASE_URL": drained_db_url})

    assert code == 0, output
    assert f"{label}:" in output and "%|" in output, output


@pytest.mark.parametrize("name", ["load", "export", "report"])
def test_a_pipe_gets_no_progress_bar(drained_db_url: str, tmp_path: Path, name: str) -> None:
    argv, label = commands(tmp_path)[name]

    result = subprocess.run(
        argv,
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": drained_db_url},
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr
    assert f"{label}:" not in result.stderr and "\r" not in result.stderr + result.stdout
