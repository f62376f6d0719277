"""What loading one file found and did."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path


@dataclass
class FileReport:
    path: Path
    format: str
    rows_loaded: int = 0  # rows new to the database
    rows_already_present: int = 0  # non-empty cells whose row was there already
    sites: list[str] = field(default_factory=list)  # readings sites
    signals: list[str] = field(default_factory=list)  # every signal found, all tables
    time_first: datetime | None = None  # UTC
    time_last: datetime | None = None  # UTC
    unknown_columns: list[str] = field(default_factory=list)
    bad_rows: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)
    locations: list[str] = field(default_factory=list)  # weather locations
    price_areas: list[str] = field(default_factory=list)  # spot-price areas
    seconds: float = 0.0  # wall time spent on this file

    @property
    def rows_read(self) -> int:
        return self.rows_loaded + self.rows_already_present

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        span = "no rows"
        if self.time_first and self.time_last:
            span = f"{self.time_first:%Y-%m-%d %H:%M}..{self.time_last:%Y-%m-%d %H:%M} UTC"
        where = [
            *(f"site {s}" for s in self.sites),
            *(f"weather {loc}" for loc in self.locations),
            *(f"prices {a}" for a in self.price_areas),
        ]
        text = (
            f"{self.path.name} [{self.format}]: {self.rows_loaded:,} rows loaded, "
            f"{self.rows_already_present:,} already present; {', '.join(where) or 'nothing'}; "
            f"{len(self.signals)} signals ({', '.join(self.signals)}); {span}; "
            f"{self.rows_per_second:,.0f} rows/s"
        )
        if self.unknown_columns:
            text += f"; unknown columns: {'; '.join(self.unknown_columns)}"
        if self.bad_rows:
            line, reason = self.bad_rows[0]
            text += f"; {len(self.bad_rows)} bad rows skipped (first: line {line}: {reason})"
        return text
