"""`producer status --watch`: the snapshot drawn as a terminal view, refreshed in place."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from greenhouse_queue.producer.snapshot import Snapshot

HOME_AND_CLEAR = "\x1b[H\x1b[J"  # cursor to the top left, erase to the end of the screen
BAR_WIDTH = 30


def render(snapshot: Snapshot, every: float) -> str:
    """One frame of the view, as plain text lines."""
    counts = snapshot.counts
    lines = [
        f"greenhouse-queue  {snapshot.taken_at:%Y-%m-%d %H:%M:%S} UTC  "
        f"(every {every:g}s; Ctrl-C stops)",
        f"jobs {counts.total}: queued {counts.queued} ({counts.retrying} retrying), "
        f"running {counts.running}, done {counts.done}, failed {counts.failed}, "
        f"cancelled {counts.cancelled}",
        _progress_line(snapshot),
        f"rate      {snapshot.jobs_per_minute:.1f} jobs/min, "
        f"{snapshot.feature_values_per_second:,.0f} feature values/s (last minute); "
        f"ETA {_eta(snapshot.eta_seconds)}",
        f"oldest due job waiting {_seconds(snapshot.oldest_due_age_seconds, 'none due')}",
        f"feature values written by done jobs: {snapshot.feature_values:,}",
        "",
        f"workers ({len(snapshot.workers)} live: holding a lease or done within a minute)",
    ]
    if snapshot.workers:
        lines.append(f"  {'NAME':<28} {'DEVICE':<6} {'HELD':>4} {'LEASE LEFT':>10}  LAST HEARTBEAT")
        lines += [
            f"  {w.name:<28} {w.device or '-':<6} {w.jobs_held:>4} "
            f"{_seconds(w.lease_left_seconds, '-'):>10}  "
            f"{_seconds(w.heartbeat_age_seconds, '-')} ago"
            for w in snapshot.workers
        ]
    if snapshot.failures:
        lines += ["", f"latest failures ({len(snapshot.failures)}):"]
        lines += [
            f"  job {f.job_id} [{f.window_start:%Y-%m-%d %H:%M}, {f.window_end:%Y-%m-%d %H:%M}) "
            f"{f.attempts}/{f.max_attempts} attempts, in {f.stage}: {_first_line(f.error)}"
            for f in snapshot.failures
        ]
    return "\n".join(lines)


def watch(
    take: Callable[[], Snapshot], every: float, out: TextIO, *, frames: int | None = None
) -> None:
    """Draws a frame every ``every`` seconds until interrupted (or ``frames`` were drawn).

    On a terminal each frame replaces the last; into a pipe or file frames follow one
    another, without escape codes.
    """
    in_place = out.isatty()
    drawn = 0
    while frames is None or drawn < frames:
        began = time.monotonic()
        frame = render(take(), every)
        out.write((HOME_AND_CLEAR + frame + "\n") if in_place else frame + "\n\n")
        out.flush()
        drawn += 1
        if frames is None or drawn < frames:
            time.sleep(max(0.0, every - (time.monotonic() - began)))


def _progress_line(snapshot: Snapshot) -> str:
    counts = snapshot.counts
    fraction = counts.fraction
    if fraction is None:
        return "progress  no jobs wanted yet"
    filled = round(BAR_WIDTH * fraction)
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    return (
        f"progress  [{bar}] {counts.done}/{counts.wanted} = {100 * fraction:.1f} % "
        "(done of all but cancelled; failed jobs are not progress)"
    )


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "unknown (nothing finished in the last minute)"
    if seconds == 0:
        return "nothing left"
    return _seconds(seconds, "")


def _seconds(value: float | None, missing: str) -> str:
    if value is None:
        return missing
    if abs(value) < 60:
        return f"{value:.1f}s"
    minutes, secs = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if text and text.strip() else "-"
