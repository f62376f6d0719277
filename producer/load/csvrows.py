"""Reading delimited text: encoding, line numbers, field counts and number cells."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from .numbers import NumberError, parse_number
from .records import Context

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


def read_rows(f: TextIO, delimiter: str, ctx: Context) -> Iterator[tuple[int, list[str]]]:
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


def first_line(path: Path) -> str:
    with open_text(path) as f:
        return f.readline()


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


def peek(path: Path, size: int = 8192) -> str:
    """The start of a file as text, for format detection."""
    with open_text(path) as f:
        return f.read(size)


__all__ = [
    "check_header_delimiter",
    "field_count_reason",
    "first_line",
    "open_text",
    "parse_cells",
    "peek",
    "read_rows",
]
