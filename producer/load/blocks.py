"""Blocks: what the format parsers produce, and the builders that cut a file into them.

A :class:`Block` is a bounded chunk of one file, "wide": one row per timestamp (and key),
one value per signal (``None`` = empty cell, an absent reading). The store turns it into
narrow ``(key, time, signal, value)`` rows in the database; :func:`read_file` turns it into
a narrow DataFrame. :class:`Context` carries one file's settings and what parsing found
(bad rows, unknown columns).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from .errors import SKIP_HINT, LoadError
from .signals import Target

BLOCK_ROWS = 20_000  # rows per block: bounds memory whatever the file size


@dataclass
class Block:
    table: str  # readings | weather | spot_prices
    signals: tuple[str, ...]
    keys: list[str] = field(default_factory=list)  # site / location / price area, per row
    times: list[datetime] = field(default_factory=list)  # UTC, tz-aware
    values: list[list[float | None]] = field(default_factory=list)  # per row, per signal
    location: str | None = None  # readings: the weather location of the block's site

    def __len__(self) -> int:
        return len(self.times)

    def cells(self) -> int:
        """Non-empty cells: the narrow rows this block becomes."""
        if self.table == "spot_prices":  # one row per hour with any price
            return sum(any(v is not None for v in row) for row in self.values)
        return sum(v is not None for row in self.values for v in row)


@dataclass
class Context:
    """Settings and findings of parsing one file."""

    path: Path
    fmt: str
    tz: str | None = None
    skip_bad_rows: bool = False
    location: str | None = None
    bad_rows: list[tuple[int, str]] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)

    def bad_row(self, line: int, reason: str) -> None:
        """Refuse the file, or with --skip-bad-rows record the row and go on."""
        if not self.skip_bad_rows:
            raise LoadError(self.path, reason, line=line, hint=SKIP_HINT)
        self.bad_rows.append((line, reason))

    def refuse(self, reason: str, line: int | None = None, hint: str | None = None) -> LoadError:
        """A file-level error (header, structure) that --skip-bad-rows cannot skip."""
        return LoadError(self.path, reason, line=line, hint=hint)


class BlockBuilder:
    """Collects the rows of one group of columns (same table) and cuts them into blocks."""

    def __init__(
        self,
        table: str,
        signals: tuple[str, ...],
        columns: list[int],
        scales: list[float] | None = None,
        location: str | None = None,
    ):
        self.table = table
        self.signals = signals
        self.columns = columns  # positions in the parsed row
        self.scales = scales or [1.0] * len(columns)
        self.location = location
        self.block = self._new()

    def _new(self) -> Block:
        return Block(self.table, self.signals, location=self.location)

    def add(self, key: str, time: datetime, row: list[float | None]) -> Block | None:
        values = []
        for col, scale in zip(self.columns, self.scales, strict=True):
            v = row[col]
            values.append(v * scale if v is not None and scale != 1.0 else v)
        if all(v is None for v in values):
            return None
        block = self.block
        block.keys.append(key)
        block.times.append(time)
        block.values.append(values)
        if len(block) >= BLOCK_ROWS:
            self.block = self._new()
            return block
        return None

    def flush(self) -> Iterator[Block]:
        if len(self.block):
            yield self.block
            self.block = self._new()


def group_targets(targets: list[Target]) -> dict[tuple[str, str], list[int]]:
    """Column positions grouped by (table, key), in column order."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i, target in enumerate(targets):
        groups.setdefault((target.table, target.key), []).append(i)
    return groups


def builders_for(targets: list[Target]) -> list[tuple[str, BlockBuilder]]:
    """One (key, builder) per (table, key) of the columns, each with its columns' scales."""
    builders = []
    for (table, key), cols in group_targets(targets).items():
        signals = tuple(targets[c].signal for c in cols)
        scales = [targets[c].scale for c in cols]
        location = targets[cols[0]].location
        builders.append((key, BlockBuilder(table, signals, cols, scales, location)))
    return builders


def dedupe_signals(entries: list[tuple[int, str, Target]], ctx: Context) -> list[Target]:
    """One column per (table, key, signal); report unknown and repeated columns.

    ``entries`` are (column number in the file, 1-based; header text; target).
    """
    seen: set[tuple[str, str, str]] = set()
    result = []
    for column, header, target in entries:
        t = target
        if (t.table, t.key, t.signal) in seen:
            t = replace(t, signal=f"{t.signal}_col{column}", known=False)
        seen.add((t.table, t.key, t.signal))
        if not t.known:
            ctx.unknown_columns.append(f"{header!r} (column {column}) -> {t.key}/{t.signal}")
        result.append(t)
    return result
