"""Parse the next block while the database stores the current one.

Parsing is Python work and storing is server work, so running them side by side uses both
cores. The queue is bounded (a couple of blocks), so memory stays bounded too.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def prefetch(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Yield from ``items``, produced in a background thread; its errors re-raise here."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in items:
                if not put(("item", item)):
                    return
            put(("done", _DONE))
        except BaseException as err:  # handed to the consumer, re-raised there
            put(("error", err))

    worker = threading.Thread(target=run, name="load-parse", daemon=True)
    worker.start()
    try:
        while True:
            kind, item = q.get()
            if kind == "done":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        worker.join()
