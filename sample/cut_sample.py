"""Cut the shipped sample from the real exports in ../shared/data, byte for byte.

Run from the repository root: ``python sample/cut_sample.py [DATA_DIR]``. Lines are copied
unchanged (headers, quoting, decimal commas, CRLF); the JSON is re-serialised, which
reproduces the original formatting exactly (checked below).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
KNUDJEPSEN_DAYS = (date(2016, 1, 18), date(2016, 1, 31))  # local (UTC+1), inclusive
AARSLEV_DAYS = (date(2014, 3, 24), date(2014, 4, 6))  # local (Europe/Copenhagen), inclusive


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def keep(path: Path, out: Path, header_lines: int, day_of) -> None:
    src = lines(path)
    body = [line for line in src[header_lines:] if day_of(line) is not None]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"".join(src[:header_lines] + body))
    print(f"{out.relative_to(HERE)}: {len(body)} data lines")


def between(day: date | None, days: tuple[date, date]) -> date | None:
    return day if day is not None and days[0] <= day <= days[1] else None


def knudjepsen_day(line: bytes) -> date | None:  # "18-01-2016 00:00:00";...
    text = line[1:11].decode()
    try:
        day = date(int(text[6:10]), int(text[3:5]), int(text[0:2]))
    except ValueError:
        return None
    return between(day, KNUDJEPSEN_DAYS)


def aarslev_day(line: bytes) -> date | None:  # 2014-03-24;00:00:00;...
    try:
        day = date.fromisoformat(line[:10].decode())
    except ValueError:
        return None
    return between(day, AARSLEV_DAYS)


def elspot_hour(line: bytes) -> date | None:  # HourDK is the 2nd field: 2016-01-18 00:00
    try:
        local = datetime.fromisoformat(line.split(b";")[1].decode())
    except (ValueError, IndexError):
        return None
    return between(local.date(), KNUDJEPSEN_DAYS)


def cut_json(path: Path, out: Path) -> None:
    raw = path.read_bytes()
    data = json.loads(raw)
    assert json.dumps(data).encode() == raw, "re-serialising would change the format"
    # The epochs encode Copenhagen wall-clock time as UTC+1 (see docs/loading.md), so
    # local day D runs from epoch D-1 23:00 UTC to D 23:00 UTC.
    start = datetime(*AARSLEV_DAYS[0].timetuple()[:3], tzinfo=UTC).timestamp() - 3600
    end = datetime(*AARSLEV_DAYS[1].timetuple()[:3], tzinfo=UTC).timestamp() + 23 * 3600
    for series in data:
        series["Readings"] = [r for r in series["Readings"] if start <= r[0] / 1000 < end]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data), encoding="utf-8")
    print(f"{out.relative_to(HERE)}: {[len(s['Readings']) for s in data]} readings")


def main() -> None:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parent.parent / "shared" / "data"
    for name in ("NO3_LAMPEGRP_1.csv", "NO3NO4.extra.csv", "NO3-NO4_belysningsgrp.csv"):
        keep(data / "knudjepsen" / name, HERE / "knudjepsen" / name, 3, knudjepsen_day)
    for name in ("output-2014-03-01-00-00.csv", "output-2014-04-01-00-00.csv"):
        keep(data / "aarslev/celle5" / name, HERE / "aarslev/celle5" / name, 1, aarslev_day)
    name = "temperature_sunradiation_mar_apr_may_2014.json"
    cut_json(data / "aarslev/weather" / name, HERE / "aarslev/weather" / name)
    name = "Elspotprices-DK1.csv"
    keep(data / "prices" / name, HERE / "prices" / name, 1, elspot_hour)


if __name__ == "__main__":
    main()
