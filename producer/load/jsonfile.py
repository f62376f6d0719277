"""JSON exports: telling them from CSV by their first character, and reading them whole.

Three formats (Aarslev weather, Elspot, Open-Meteo) come as JSON or CSV; each says how to
read its own JSON structure, this module only finds out which of the two a file is and
refuses JSON that does not decode.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .blocks import Block, Context
from .csvrows import open_text


def looks_like_json(path: Path) -> bool:
    """True if the file's first non-blank character opens a JSON list or object."""
    with open_text(path) as f:
        head = f.read(64).lstrip()
    return head.startswith(("[", "{"))


def json_or_csv(
    ctx: Context,
    parse_json: Callable[[Context], Iterator[Block]],
    parse_csv: Callable[[Context], Iterator[Block]],
) -> Iterator[Block]:
    """The blocks of a format that comes as JSON or CSV, by the file's content."""
    if looks_like_json(ctx.path):
        yield from parse_json(ctx)
    else:
        yield from parse_csv(ctx)


def load_json(ctx: Context) -> Any:
    """The decoded file; a file that is not valid JSON is refused (line and column)."""
    with open_text(ctx.path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as err:
            raise ctx.refuse(
                f"invalid JSON: {err.msg} at column {err.colno}",
                line=err.lineno,
                hint="the file looks truncated",
            ) from None
