"""The README works for a newcomer: its commands parse, its pictures exist, it shows the
architecture and a job's life as mermaid diagrams, the watch view and an export."""

from __future__ import annotations

import re
import shlex

import pytest

from greenhouse_queue.consumer.cli import parser as consumer_parser
from greenhouse_queue.producer.cli import parser as producer_parser
from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
PARSERS = {"producer": producer_parser, "consumer": consumer_parser}


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end]


def using_it_commands() -> list[list[str]]:
    (block,) = re.findall(r"```sh\n(.*?)```", section("Using it"), re.S)[:1]
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] in PARSERS:
            commands.append(words)
    return commands


def test_using_it_puts_the_commands_on_path_and_names_the_database() -> None:
    text = section("Using it")
    assert 'export PATH="$PWD/.venv/bin:$PATH"' in text
    assert 'export DATABASE_URL="$(producer db url)"' in text
    assert "producer db psql" in text and "producer db stop" in text


@pytest.mark.parametrize("words", using_it_commands(), ids=" ".join)
def test_every_command_in_using_it_is_accepted_by_its_cli(words: list[str]) -> None:
    PARSERS[words[0]]().parse_args(words[1:])  # exits 2 on anything it does not know


def test_the_readme_draws_the_architecture_and_a_jobs_life_in_mermaid() -> None:
    diagrams = re.findall(r"```mermaid\n(.*?)```", README, re.S)
    flow = next(d for d in diagrams if d.startswith("flowchart"))
    for part in (
        "producer",
        "PostgreSQL",
        "consumer",
        "aggregate",
        "fill gaps",
        "features",
        "eras",
        "jobs",
        "readings",
        "resampled",
        "changepoints",
    ):
        assert part in flow, f"the architecture diagram misses {part}"
    states = next(d for d in diagrams if d.startswith("stateDiagram"))
    for state in ("queued", "running", "done", "failed", "cancelled"):
        assert re.search(rf"\b{state}\b", states)


def test_the_readme_shows_the_watch_view_a_report_screenshot_and_an_export() -> None:
    assert "oldest due job waiting" in README and "LEASE LEFT" in README
    (picture,) = re.findall(r"!\[[^\]]*\]\((docs/[^)]+\.png)\)", README)
    png = (REPO / picture).read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) < 200_000
    assert "producer export --out features.parquet --wide" in README
    assert "air_temp_c__abs_energy" in README
    assert "docs/status.schema.json" in README
