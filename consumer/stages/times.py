"""Time on the stages' clock: UTC, as datetime, numpy datetime64[s] or epoch seconds.

The one place that converts between them; a naive datetime means UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware datetime; a naive one is taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def epoch_seconds(moment: datetime | np.datetime64) -> int:
    """Whole seconds since the Unix epoch."""
    if isinstance(moment, np.datetime64):
        return int(moment.astype("datetime64[s]").astype(np.int64))
    return int(as_utc(moment).timestamp())


def utc_seconds(moment: datetime | np.datetime64) -> np.datetime64:
    """datetime64[s] on the grid's UTC clock, from a datetime (naive means UTC) or datetime64."""
    if isinstance(moment, np.datetime64):
        return moment.astype("datetime64[s]")
    return np.datetime64(epoch_seconds(moment), "s")


def to_datetime(moment: np.datetime64 | int) -> datetime:
    """An aware UTC datetime from a datetime64 or epoch seconds."""
    seconds = epoch_seconds(moment) if isinstance(moment, np.datetime64) else int(moment)
    return datetime.fromtimestamp(seconds, tz=UTC)
