"""`producer report`: one self-contained page, checked in a real browser (headless Chromium).

The page must open from a file with no network, run without a single script error, draw
every figure, and show the queue's failures.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import psycopg
from PIL import Image

from tests.conftest import POISON_DAY, PRODUCER, REPO, run_without

CHROMIUM_HINT = "chromium is missing: apt-get install -y chromium (.ci/run does this)"


def producer(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run(
        [*PRODUCER, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def chromium_screenshot(page: Path, shot: Path, profile: Path) -> str:
    """Loads ``page`` in headless Chromium, saves a screenshot; returns its console log."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    assert binary, CHROMIUM_HINT
    result = subprocess.run(
        [
            binary,
            "--headless",
            "--no-sandbox",  # the suite runs as root in CI
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,2000",
            "--virtual-time-budget=10000",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_the_report_loads_in_chromium_without_script_errors(
    drained_db_url: str, tmp_path: Path
) -> None:
    result = producer(
        drained_db_url,
        "report",
        "--out",
        str(tmp_path / "report"),
        "--feature",
        "mean",
        "--feature",
        "standard_deviation",
    )
    assert result.returncode == 0, result.stderr
    page = tmp_path / "report" / "index.html"
    html = page.read_text(encoding="utf-8")
    # Self-contained: nothing is fetched from anywhere.
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", html)
    with psycopg.connect(drained_db_url) as conn:
        sites = [s for (s,) in conn.execute("SELECT DISTINCT site FROM features ORDER BY 1")]
    assert len(sites) == 3 and all(f'id="site-{site}"' in html for site in sites)
    assert "air_temp_c__standard_deviation" in html and "injected fault" in html

    console = chromium_screenshot(page, tmp_path / "shot.png", tmp_path / "profile")

    assert "Uncaught" not in console, console
    status = re.search(r"report-status errors=(\d+) plots=(\d+)", console)
    assert status, f"the page never finished loading:\n{console}"
    errors, plots = map(int, status.groups())
    assert errors == 0
    # Per site a heatmap, the eras and the chosen features; then the queue figure.
    assert plots >= 3 * len(sites) + 1
    with Image.open(tmp_path / "shot.png") as shot:
        colours = shot.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 100, "the screenshot is blank"


def test_the_failures_table_lists_each_failed_job(drained_db_url: str, tmp_path: Path) -> None:
    result = producer(drained_db_url, "report", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "index.html").read_text(encoding="utf-8")
    table = html[html.index('<table id="failures">') :]
    assert f"{POISON_DAY} 00:00" in table and "<td>features</td>" in table and "1/1" in table


def test_without_plotly_the_report_says_what_to_install(
    drained_db_url: str, tmp_path: Path
) -> None:
    result = run_without("plotly", ["report", "--out", str(tmp_path)], drained_db_url)
    assert result.returncode == 2
    assert "pip install 'greenhouse-queue[report]'" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "index.html").exists()
