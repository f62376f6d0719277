"""Named SQL queries, loaded from the ``sql/`` folder (the ``greenhouse_queue.sql`` package).

Every statement that touches a table lives in ``sql/<area>.sql`` under a header
``-- name: <query>``, so one file shows everything that reads or writes an area.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files

SQL_DIR = files("greenhouse_queue.sql")
_HEADER = re.compile(r"^--\s*name:\s*(?P<name>[a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


@cache
def queries(area: str) -> dict[str, str]:
    """All named queries of ``sql/<area>.sql``, by name."""
    path = SQL_DIR / f"{area}.sql"
    text = path.read_text(encoding="utf-8")
    headers = list(_HEADER.finditer(text))
    if not headers:
        raise LookupError(f"{path}: no '-- name: ...' headers found")
    found: dict[str, str] = {}
    for header, following in zip(headers, [*headers[1:], None], strict=True):
        body = text[header.end() : following.start() if following else len(text)]
        name = header["name"]
        if name in found:
            raise LookupError(f"{path}: query {name!r} is defined twice")
        found[name] = _strip_comments(body)
    return found


def query(area: str, name: str) -> str:
    """The statement named ``name`` in ``sql/<area>.sql``."""
    try:
        return queries(area)[name]
    except KeyError:
        raise LookupError(f"sql/{area}.sql has no query named {name!r}") from None


def _strip_comments(body: str) -> str:
    lines = [line for line in body.splitlines() if not line.lstrip().startswith("--")]
    return "\n".join(lines).strip().rstrip(";").strip()
