"""Reading delimited text: encoding, line numbers, field counts and number cells.

Also the row loop the wide exports share (:func:`rows_to_blocks`): the Aarslev cell export,
the KnudJepsen export and the Aarslev weather CSV each have a time in their leading fields
and one number per column after it; they differ only in their headers and time formats.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TextIO

from .blocks import Block, Context, builders_for, dedupe_signals
from .numbers import NumberError, parse_number
from .signals import Target

Row = tuple[int, list[str]]  # (line number, fields)

_SNIFF_BYTES = 1 << 16


def open_text(path: Path) -> TextIO:
    """The file as text: UTF-8 (with or without BOM), else Windows-1252 as Danish Excel writes."""
    with path.open("rb") as raw:
        head = raw.read(_SNIFF_BYTES)
    try:
        head.decode("utf-8-sig")
        encoding = "utf-8-sig"
    except UnicodeDecodeError as err:
        encoding = "cp1252" if err.start < len(head) - 4 else "utf-8-sig"
    return path.open(encoding=encoding, newline="")


def read_rows(f: TextIO, delimiter: str, ctx: Context) -> Iterator[Row]:
    """(line number, fields) per non-blank row; CR, LF and CRLF line ends all work."""
    reader = csv.reader(f, delimiter=delimiter, strict=True)
    line = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            text = str(err)
            if "expected after" in text:  # "x",y with delimiter ';': another separator
                reason = f"wrong delimiter or broken quoting: {text}"
            else:
                reason = f"malformed line: {text}"
            raise ctx.refuse(
                reason,
                line=reader.line_num,
                hint="the file looks truncated, its quoting is broken or it uses another delimiter",
            ) from None
        except UnicodeDecodeError as err:
            raise ctx.refuse(f"not UTF-8 text: {err}", line=line + 1) from None
        line = reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        yield line, row


def check_header_delimiter(first_line: str, delimiter: str, ctx: Context) -> None:
    """Refuse a file whose header is split by another delimiter than the format's."""
    if delimiter in first_line:
        return
    for other in (",", ";", "\t", "|"):
        if other != delimiter and other in first_line:
            raise ctx.refuse(
                f"wrong delimiter: this format separates fields with {delimiter!r}, "
                f"but the header is separated by {other!r}",
                line=1,
                hint="re-export the file with the original separator, or pick --format",
            )


@contextmanager
def delimited_rows(ctx: Context, delimiter: str) -> Iterator[Iterator[Row]]:
    """The file's rows, once its header line is known to use the format's delimiter."""
    with open_text(ctx.path) as f:
        check_header_delimiter(f.readline(), delimiter, ctx)
        f.seek(0)
        yield read_rows(f, delimiter, ctx)


def header_row(rows: Iterator[Row], ctx: Context) -> Row:
    """The first row; a file without one is refused as empty."""
    item = next(rows, None)
    if item is None:
        raise ctx.refuse("the file is empty")
    return item


def field_count_reason(expected: int, found: int, delimiter: str) -> str:
    reason = f"expected {expected} fields separated by {delimiter!r}, found {found}"
    if found == 1:
        return reason + " (wrong delimiter?)"
    if found < expected:
        return reason + " (truncated line?)"
    return reason


def parse_cells(
    cells: list[str], names: list[str], line: int, ctx: Context
) -> list[float | None] | None:
    """Numbers of one row's value cells; None (after ctx.bad_row) if any cell is bad."""
    out: list[float | None] = []
    for cell, name in zip(cells, names, strict=True):
        try:
            out.append(parse_number(cell))
        except NumberError as err:
            ctx.bad_row(line, f"column {name!r}: {err}")
            return None
    return out


def data_rows(
    rows: Iterator[Row], width: int, delimiter: str, ctx: Context, after: str = "the header"
) -> Iterator[Row]:
    """The rows after the header that have its ``width`` fields; the others are bad rows.

    A file with no rows at all ``after`` its header is refused as truncated.
    """
    count = 0
    for line, row in rows:
        count += 1
        if len(row) != width:
            ctx.bad_row(line, field_count_reason(width, len(row), delimiter))
            continue
        yield line, row
    if count == 0:
        raise ctx.refuse(f"no data rows after {after} (truncated file?)")


def rows_to_blocks(
    ctx: Context,
    rows: Iterator[Row],
    columns: list[tuple[int, str, Target]],
    delimiter: str,
    *,
    time_fields: int,
    time_of: Callable[..., datetime],
    after: str = "the header",
) -> Iterator[Block]:
    """Blocks from the data rows of a wide export.

    Each row is ``time_fields`` fields that ``time_of`` turns into a UTC time, then one
    number per entry of ``columns`` (column number, header text, target; see
    :func:`dedupe_signals`). A row with the wrong field count, time or number is a bad row.
    """
    targets = dedupe_signals(columns, ctx)
    names = [header for _, header, _ in columns]
    builders = builders_for(targets)
    for line, row in data_rows(rows, time_fields + len(names), delimiter, ctx, after):
        try:
            time = time_of(*row[:time_fields])
        except ValueError as err:
            ctx.bad_row(line, str(err))
            continue
        values = parse_cells(row[time_fields:], names, line, ctx)
        if values is None:
            continue
        for key, builder in builders:
            block = builder.add(key, time, values)
            if block is not None:
                yield block
    for _, builder in builders:
        yield from builder.flush()


def peek(path: Path, size: int = 8192) -> str:
    """The start of a file as text, for format detection."""
    with open_text(path) as f:
        return f.read(size)


__all__ = [
    "Row",
    "check_header_delimiter",
    "data_rows",
    "delimited_rows",
    "field_count_reason",
    "header_row",
    "open_text",
    "parse_cells",
    "peek",
    "read_rows",
    "rows_to_blocks",
]
