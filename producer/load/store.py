"""Writing one file's blocks as one source: binary COPY into a staging table, then insert,
find conflicts (or, with --replace, overwrite), and settle the conflicts at the end.

Everything runs inside the caller's transaction (one per file, see ``load_files``); the
statements and the rule are in sql/load.sql and docs/loading.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

import psycopg
from psycopg import sql

from greenhouse_queue.queries import query

from .blocks import Block
from .signals import DEFAULT_PRICE_AREA, READINGS, SPOT_PRICES, WEATHER

_KEY_COLUMN = {READINGS: "site", WEATHER: "location"}
# spot_prices has its own statements: two value columns instead of (signal, value) rows
_PRICE_STATEMENTS = {
    "insert_rows": "insert_prices",
    "find_changes": "find_price_changes",
    "resolve_conflicts": "resolve_price_conflicts",
    "replace_rows": "replace_prices",
}


@cache
def statement(name: str, table: str) -> str | sql.Composed:
    """The load statement ``name`` for ``table``: readings and weather share one text."""
    if table == SPOT_PRICES:
        return query("load", _PRICE_STATEMENTS.get(name, name))
    return sql.SQL(query("load", name)).format(
        table=sql.Identifier(table), key=sql.Identifier(_KEY_COLUMN[table])
    )


@dataclass(frozen=True)
class Change:
    """One value a file disagreed with (or, with --replace, changed)."""

    key: str
    time: datetime
    old_value: float
    old_file: str | None  # None: loaded before provenance was kept
    new_value: float


@dataclass
class SignalChanges:
    table: str
    signal: str
    count: int
    examples: list[Change] = field(default_factory=list)


@dataclass
class Settled:
    """What the end of a file settled: values changed, and the conflicts per signal."""

    changed: int = 0
    by_signal: list[SignalChanges] = field(default_factory=list)


class SourceWriter:
    """Stores the blocks of one file under source ``source``."""

    def __init__(self, conn: psycopg.Connection, source: int, *, replace: bool) -> None:
        self.conn = conn
        self.source = source
        self.replace = replace
        self.tables: set[str] = set()
        self.sites: set[str] = set()
        self.changed = 0  # --replace: values overwritten so far
        conn.execute(query("load", "create_batch"))

    def write(self, block: Block) -> int:
        """Stores ``block``; returns how many of its values were new to the database."""
        with self.conn.cursor() as cur:
            self._sites(cur, block)
            with cur.copy(query("load", "copy_batch")) as copy:
                copy.set_types(["text", "timestamptz", "float8[]"])
                for row in zip(block.keys, block.times, block.values, strict=True):
                    copy.write_row(row)
            params = {"source": self.source, "signals": list(block.signals), "tbl": block.table}
            if self.replace:  # what the block changes, then the change
                cur.execute(statement("find_changes", block.table), params)
                self.changed += cur.rowcount
                cur.execute(statement("replace_rows", block.table), params)
            cur.execute(statement("insert_rows", block.table), params)
            added = cur.rowcount
            if self.replace:
                cur.execute(query("load", "forget_conflicts"), params)
            elif added < block.cells():
                cur.execute(statement("find_changes", block.table), params)
                cur.execute(query("load", "keep_conflicts"), params)
            cur.execute(query("load", "clear_batch"))
        self.tables.add(block.table)
        return added

    def finish(self) -> Settled:
        """Records and settles the file's conflicts; the summary for its report."""
        settled = Settled(changed=self.changed)
        with self.conn.cursor() as cur:
            if not self.replace:
                for table in sorted(self.tables):
                    params = {"source": self.source, "tbl": table}
                    cur.execute(query("load", "record_conflicts"), params)
                    cur.execute(statement("resolve_conflicts", table), params)
                    settled.changed += cur.rowcount
            rows = cur.execute(query("load", "change_summary")).fetchall()
        for table, signal, count, key, time, old_value, old_file, new_value in rows:
            last = settled.by_signal[-1] if settled.by_signal else None
            if last is None or (last.table, last.signal) != (table, signal):
                settled.by_signal.append(SignalChanges(table, signal, int(count)))
            settled.by_signal[-1].examples.append(Change(key, time, old_value, old_file, new_value))
        return settled

    def _sites(self, cur: psycopg.Cursor, block: Block) -> None:
        if block.table != READINGS:
            return
        for site in set(block.keys) - self.sites:
            cur.execute(
                query("load", "insert_site"),
                {
                    "site": site,
                    "location": block.location or site,
                    "price_area": DEFAULT_PRICE_AREA,
                },
            )
            self.sites.add(site)
