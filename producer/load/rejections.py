"""Per signal of one file: the values it carries and how many the physical limits reject.

Stage 1 removes every raw sample outside the limits (greenhouse_queue.limits), so a
signal whose samples are mostly outside them reaches the stages almost empty. The load
report says so at once, and ``producer status`` lists such signals later (from
``source_signals``), instead of leaving users to wonder why a query returns nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from greenhouse_queue.limits import bounds, limit_for, weather_grid_name

from .blocks import Block
from .signals import SPOT_PRICES, WEATHER


def judged_as(table: str, key: str, signal: str) -> str:
    """The name a stored signal has on the stage grid, whose limit applies to it."""
    if table == WEATHER:
        return weather_grid_name(signal)
    if table == SPOT_PRICES:  # price_eur_mwh of DK1 -> spot_price_dk1_eur_mwh
        return f"spot_price_{key.lower()}_{signal.removeprefix('price_')}"
    return signal


@dataclass(frozen=True)
class SignalTally:
    table: str
    key: str
    signal: str
    rows: int
    rejected: int

    @property
    def mostly_rejected(self) -> bool:
        """All or most of the values lie outside the limits: the stages see little or none."""
        return self.rows > 0 and 2 * self.rejected > self.rows

    def describe(self) -> str:
        rule = limit_for(judged_as(self.table, self.key, self.signal))
        where = f"{rule.low:g}..{rule.high:g}" if rule else "its limits"
        return (
            f"{self.signal} at {self.key}: {self.rejected:,} of {self.rows:,} values "
            f"({100 * self.rejected / self.rows:.0f} %) outside {where}"
        )


class LimitTally:
    """Counts values and rejections per (table, key, signal) over a file's blocks."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, str], list[int]] = {}

    def add(self, block: Block) -> None:
        values = np.array(block.values, dtype=np.float64).reshape(len(block), len(block.signals))
        keys = np.array(block.keys, dtype=object)
        for key in set(block.keys):
            rows = values[keys == key]
            names = [judged_as(block.table, key, s) for s in block.signals]
            low, high = bounds(names)
            present = ~np.isnan(rows)
            outside = present & ((rows < low) | (rows > high))
            for signal, n, bad in zip(
                block.signals, present.sum(axis=0), outside.sum(axis=0), strict=True
            ):
                if n:
                    counts = self._counts.setdefault((block.table, key, signal), [0, 0])
                    counts[0] += int(n)
                    counts[1] += int(bad)

    def tallies(self) -> list[SignalTally]:
        return [
            SignalTally(table, key, signal, rows, rejected)
            for (table, key, signal), (rows, rejected) in sorted(self._counts.items())
        ]
