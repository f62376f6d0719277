"""No SQL is built from values by string formatting: ruff's S608 and an AST scan enforce it.

Values travel as psycopg placeholders (``%(name)s``); identifiers, where code must
name a table, are composed with ``psycopg.sql`` (``sql.SQL(...).format(sql.Identifier(...))``).
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ("common", "consumer", "producer", "migrations", "docker", "bench", "tests")
# Calls whose first argument is SQL text sent to the server.
SQL_CALLS = {"execute", "executemany", "copy", "stream", "query"}


def ruff() -> list[str]:
    found = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if found is None:
        pytest.fail("ruff is not installed: pip install ruff (it is in the test extras)")
    return [found]


def lint_config() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]


def test_pyproject_enables_s608_for_the_application_code() -> None:
    lint = lint_config()
    selected = set(lint.get("select", [])) | set(lint.get("extend-select", []))
    assert selected & {"S608", "S60", "S6", "S", "ALL"}, "ruff must select S608"
    ignored = set(lint.get("ignore", [])) | set(lint.get("extend-ignore", []))
    assert not ignored & {"S608", "S60", "S6", "S"}, "S608 must not be ignored"
    for pattern, rules in lint.get("per-file-ignores", {}).items():
        if set(rules) & {"S608", "S60", "S6", "S"}:
            # Tests may spell out SQL in assertions; the application code may not.
            assert pattern.startswith("tests/"), f"S608 is switched off for {pattern}"


def test_ruff_s608_passes_on_the_repository() -> None:
    result = subprocess.run(
        [*ruff(), "check", "--no-cache", "--output-format", "json", "--select", "S608", "."],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], "\n".join(
        f"{f['filename']}:{f['location']['row']}: {f['message']}" for f in findings
    )


def test_ruff_s608_catches_an_f_string_query(tmp_path: Path) -> None:
    """Proves the rule above can fail: the same ruff flags the pattern we forbid."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def f(conn, site):\n"
        "    return conn.execute(f\"SELECT * FROM readings WHERE site = '{site}'\")\n"
    )
    result = subprocess.run(
        [*ruff(), "check", "--no-cache", "--isolated", "--select", "S608", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1 and "S608" in result.stdout


def formatted_sql_calls(source: str) -> list[int]:
    """Lines where SQL handed to execute()/copy()/... is built by formatting a str.

    As with ruff, ``# noqa: S608`` on one of the call's lines is an explicit, reviewable
    exemption (for an identifier taken from a fixed list, never for a value).
    """
    text = source.splitlines()
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in SQL_CALLS
            and node.args
        ):
            continue
        span = text[node.lineno - 1 : (node.end_lineno or node.lineno)]
        if _formats_text(node.args[0]) and not any("noqa: S608" in line for line in span):
            lines.append(node.lineno)
    return lines


def _formats_text(arg: ast.expr) -> bool:
    if isinstance(arg, ast.JoinedStr):
        return any(isinstance(part, ast.FormattedValue) for part in arg.values)
    if isinstance(arg, ast.BinOp) and isinstance(arg.op, ast.Mod):
        return _is_text(arg.left)
    if isinstance(arg, ast.BinOp) and isinstance(arg.op, ast.Add):
        # Joining constant text with a named query (sql/*.sql) adds no value.
        parts = (arg.left, arg.right)
        return any(_is_text(p) for p in parts) and not all(
            (isinstance(p, ast.Constant) and isinstance(p.value, str)) or _is_named_query(p)
            for p in parts
        )
    if (
        isinstance(arg, ast.Call)
        and isinstance(arg.func, ast.Attribute)
        and arg.func.attr == "format"
    ):
        # str.format is forbidden; psycopg.sql.SQL(...).format(...) composes safely.
        return _is_text(arg.func.value)
    return False


def _is_named_query(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "query"
    )


def _is_text(node: ast.expr) -> bool:
    return (isinstance(node, ast.Constant) and isinstance(node.value, str)) or isinstance(
        node, ast.JoinedStr
    )


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        ("conn.execute(f'SELECT {x}')", True),
        ("conn.execute('SELECT %s' % x)", True),
        ("conn.execute('SELECT {}'.format(x))", True),
        ("conn.execute('SELECT ' + x)", True),
        ("cur.copy(f'COPY {t} FROM STDIN')", True),
        ("conn.execute('SELECT %(x)s', {'x': x})", False),
        ("conn.execute(sql.SQL('DROP DATABASE {}').format(sql.Identifier(n)))", False),
        ("conn.execute(query('queue', 'claim'), params)", False),
        ("conn.execute('EXPLAIN ' + query('queue', 'claim'), params)", False),
        ("conn.execute(f'SELECT count(*) FROM {t}')  # noqa: S608", False),
    ],
)
def test_the_scan_tells_formatting_from_placeholders(source: str, flagged: bool) -> None:
    assert bool(formatted_sql_calls(source)) is flagged


def test_no_python_file_formats_sql_it_executes() -> None:
    offenders = []
    for folder in SOURCE_DIRS:
        for path in sorted((REPO / folder).rglob("*.py")):
            for line in formatted_sql_calls(path.read_text(encoding="utf-8")):
                offenders.append(f"{path.relative_to(REPO)}:{line}")
    assert offenders == []
