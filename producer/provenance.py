"""Where the raw data came from: ``producer sources``, and the section of ``producer
status`` that names the signals the physical limits take away."""

from __future__ import annotations

import psycopg

from greenhouse_queue.producer.load.rejections import SignalTally
from greenhouse_queue.queries import query


def render_sources(conn: psycopg.Connection, *, limit: int = 50) -> str:
    """One line per loaded file, newest first."""
    rows = conn.execute(query("sources", "list_sources"), {"limit": limit}).fetchall()
    if not rows:
        return "no sources: load files with `producer load FILE...`"
    lines = []
    for (
        source, name, fmt, sha256, size, loaded_at, replace, values, added, changed,
        conflicts, first, last,
    ) in rows:  # fmt: skip
        span = f"{first:%Y-%m-%d %H:%M}..{last:%Y-%m-%d %H:%M} UTC" if first and last else "empty"
        mode = " --replace" if replace else ""
        lines.append(
            f"{source:>4}  {name} [{fmt}{mode}] sha256 {sha256[:12]}, {size:,} bytes, "
            f"loaded {loaded_at:%Y-%m-%d %H:%M %Z}: {values:,} values, {added:,} new, "
            f"{changed:,} changed, {conflicts:,} in conflict; {span}"
        )
    return "\n".join(lines)


def rejected_signals(conn: psycopg.Connection) -> list[str]:
    """Lines for ``producer status``: signals whose values are mostly outside the limits."""
    rows = conn.execute(query("sources", "rejected_signals")).fetchall()
    if not rows:
        return []
    lines = ["signals mostly outside the physical limits (the stages see little or none):"]
    for table, key, signal, values, rejected, files in rows:
        tally = SignalTally(table, key, signal, int(values), int(rejected))
        lines.append(f"  {tally.describe()} ({files})")
    return lines
