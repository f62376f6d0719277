"""What loading one file found and did."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .rejections import SignalTally
from .store import SignalChanges


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
    source: int | None = None  # its row in sources
    sha256: str = ""
    replace: bool = False  # loaded with --replace
    identical_to: tuple[int, str, datetime] | None = None  # (source, name, loaded_at): a no-op
    rows_changed: int = 0  # stored values this load changed
    changes: list[SignalChanges] = field(default_factory=list)  # conflicts, or replacements
    mostly_rejected: list[SignalTally] = field(default_factory=list)  # lost to the limits

    @property
    def rows_read(self) -> int:
        return self.rows_loaded + self.rows_already_present

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0

    @property
    def conflicts(self) -> int:
        return 0 if self.replace else sum(c.count for c in self.changes)

    def __str__(self) -> str:
        if self.identical_to is not None:
            source, name, loaded_at = self.identical_to
            return (
                f"{self.path.name} [{self.format}]: nothing to do, byte-identical to "
                f"source {source} ({name}, loaded {loaded_at:%Y-%m-%d %H:%M %Z}); "
                "load it with --replace to make it win"
            )
        return "\n".join([self._summary(), *self._changes(), *self._limits()])

    def _summary(self) -> str:
        span = "no rows"
        if self.time_first and self.time_last:
            span = f"{self.time_first:%Y-%m-%d %H:%M}..{self.time_last:%Y-%m-%d %H:%M} UTC"
        where = [
            *(f"site {s}" for s in self.sites),
            *(f"weather {loc}" for loc in self.locations),
            *(f"prices {a}" for a in self.price_areas),
        ]
        mode = ", --replace" if self.replace else ""
        text = (
            f"{self.path.name} [{self.format}{mode}] source {self.source}: "
            f"{self.rows_loaded:,} rows loaded, "
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

    def _changes(self) -> list[str]:
        if self.replace:
            head = f"  replaced: {self.rows_changed:,} stored values changed"
        elif self.changes:
            head = (
                f"  conflicts: {self.conflicts:,} values disagree with stored ones; each "
                "disputed value is now the mean of its files' values (see docs/loading.md)"
            )
        else:
            return []
        lines = [head]
        for group in self.changes:
            examples = "; ".join(
                f"{c.key} {c.time:%Y-%m-%d %H:%M} UTC: {c.old_value:g} "
                f"({c.old_file or 'an earlier load'}) -> {c.new_value:g}"
                for c in group.examples
            )
            lines.append(f"    {group.signal}: {group.count:,} (e.g. {examples})")
        return lines

    def _limits(self) -> list[str]:
        return [
            f"  limits: {tally.describe()}: the stages will have little or none of it"
            for tally in self.mostly_rejected
        ]
