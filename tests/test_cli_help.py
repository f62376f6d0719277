"""The CLIs explain themselves: every option says its default and format, every --help
names DATABASE_URL, no docstring markup leaks; `producer db url|psql|stop` works."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from greenhouse_queue.consumer.cli import parser as consumer_parser
from greenhouse_queue.producer.cli import parser as producer_parser
from tests.conftest import PRODUCER, REPO

MARKUP = re.compile(r"``|:(func|class|data|mod|meth):|\*\*")


def subcommands(top: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield top.prog, top
    for action in top._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield sub.prog, sub


def every_parser() -> list[tuple[str, argparse.ArgumentParser]]:
    return [*subcommands(producer_parser()), *subcommands(consumer_parser())]


@pytest.mark.parametrize(("prog", "command"), every_parser(), ids=lambda x: str(x))
def test_every_option_has_help_with_its_default_or_says_it_is_required(
    prog: str, command: argparse.ArgumentParser
) -> None:
    for action in command._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        assert action.help, f"{prog} {action.dest}: no help text"
        if action.option_strings:
            assert "default" in action.help or "(required)" in action.help or action.required, (
                f"{prog} {'/'.join(action.option_strings)}: say its default"
            )


@pytest.mark.parametrize(("prog", "command"), every_parser(), ids=lambda x: str(x))
def test_help_names_database_url_and_leaks_no_docstring_markup(
    prog: str, command: argparse.ArgumentParser
) -> None:
    text = command.format_help()
    assert "DATABASE_URL" in text, f"{prog} --help must say where it connects"
    assert not MARKUP.search(text), f"{prog} --help shows markup: {MARKUP.search(text)[0]}"


def test_options_that_take_values_name_their_format() -> None:
    enqueue = dict(subcommands(producer_parser()))["producer enqueue"].format_help()
    assert "--from YYYY-MM-DD" in enqueue and "--window DURATION" in enqueue
    run = dict(subcommands(consumer_parser()))["consumer run"].format_help()
    assert "--max-gap DURATION" in run and "--metrics-port PORT" in run


def producer(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PRODUCER, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def test_db_url_prints_database_url_and_psql_opens_it(db_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": db_url}
    url = producer(env, "db", "url")
    assert url.returncode == 0 and url.stdout.strip() == db_url

    psql = producer(env, "db", "psql", "--", "-Atc", "SELECT 6 * 7")

    assert psql.returncode == 0, psql.stderr
    assert psql.stdout.strip() == "42"


def test_db_starts_reports_and_stops_the_embedded_server() -> None:
    # Not under pytest's 0700 temporary folder: the server runs as an unprivileged user.
    folder = Path(tempfile.mkdtemp(prefix="greenhouse-db-test-"))
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["GREENHOUSE_PGDATA"] = str(folder / "pg")
    try:
        url = producer(env, "db", "url")
        assert url.returncode == 0, url.stderr
        assert re.fullmatch(r"postgresql://postgres@127\.0\.0\.1:\d+/postgres", url.stdout.strip())
        assert producer(env, "db", "psql", "--", "-Atc", "SELECT 1").stdout.strip() == "1"
    finally:
        stop = producer(env, "db", "stop")
    assert stop.returncode == 0 and stop.stdout.strip() == "embedded PostgreSQL stopped"
    again = producer(env, "db", "stop")
    shutil.rmtree(folder, ignore_errors=True)
    assert again.stdout.strip() == "embedded PostgreSQL was not running"
