"""Writing parsed blocks: binary COPY into a staging table, then an idempotent INSERT.

Everything runs inside the caller's transaction (one per file, see ``load_files``).
``INSERT ... ON CONFLICT DO NOTHING`` reports how many rows were new; the rest of a
block's non-empty cells were already present.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import psycopg

from greenhouse_queue.queries import query

from .records import Block
from .signals import DEFAULT_PRICE_AREA, READINGS, SPOT_PRICES, WEATHER, site_location

_INSERT = {
    READINGS: "insert_readings",
    WEATHER: "insert_weather",
    SPOT_PRICES: "insert_spot_prices",
}


def store_blocks(conn: psycopg.Connection, blocks: Iterable[Block]) -> Iterator[tuple[Block, int]]:
    """Store each block; yields (block, rows that were new)."""
    sites_done: set[str] = set()
    with conn.cursor() as cur:
        cur.execute(query("load", "create_batch"))
        cur.execute(query("load", "clear_batch"))
        for block in blocks:
            if block.table == READINGS:
                for site in set(block.keys) - sites_done:
                    cur.execute(
                        query("load", "insert_site"),
                        {
                            "site": site,
                            "location": site_location(site),
                            "price_area": DEFAULT_PRICE_AREA,
                        },
                    )
                    sites_done.add(site)
            with cur.copy(query("load", "copy_batch")) as copy:
                copy.set_types(["text", "timestamptz", "float8[]"])
                for row in zip(block.keys, block.times, block.values, strict=True):
                    copy.write_row(row)
            cur.execute(query("load", _INSERT[block.table]), {"signals": list(block.signals)})
            new = cur.rowcount
            cur.execute(query("load", "clear_batch"))
            yield block, new
