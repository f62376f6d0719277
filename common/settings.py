"""Settings read from the environment, with the defaults the CLIs document."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from greenhouse_queue.cli import UsageError


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise UsageError(f"environment variable {name}={raw!r} is not an integer") from None


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise UsageError(f"environment variable {name}={raw!r} is not a number") from None


def default_worker_name() -> str:
    """Host plus pid: unique across scaled containers and processes on one host."""
    return os.environ.get("WORKER_NAME") or f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class QueueTiming:
    """How long a claim lives without a heartbeat, and how often workers renew and poll."""

    lease_seconds: float = 30.0
    heartbeat_seconds: float = 10.0
    poll_seconds: float = 5.0

    @classmethod
    def from_env(cls) -> QueueTiming:
        return cls(
            lease_seconds=env_float("LEASE_SECONDS", cls.lease_seconds),
            heartbeat_seconds=env_float("HEARTBEAT_SECONDS", cls.heartbeat_seconds),
            poll_seconds=env_float("POLL_SECONDS", cls.poll_seconds),
        )

    def validate(self) -> None:
        if self.lease_seconds <= 0 or self.heartbeat_seconds <= 0 or self.poll_seconds <= 0:
            raise ValueError("lease, heartbeat and poll intervals must be positive")
        if self.heartbeat_seconds * 2 > self.lease_seconds:
            # A heartbeat slower than half the lease lets a healthy job's lease lapse.
            raise ValueError(
                f"heartbeat ({self.heartbeat_seconds:g}s) must be at most half the lease "
                f"({self.lease_seconds:g}s)"
            )
