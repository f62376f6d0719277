"""One log format for every process: time, level, process and the message."""

from __future__ import annotations

import logging
import os

from greenhouse_queue.db import mask_url


class _MaskingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_url(super().format(record))


def setup(name: str) -> logging.Logger:
    handler = logging.StreamHandler()
    handler.setFormatter(_MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    # The schema check reads migrations/ through Alembic, which is chatty at INFO.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return logging.getLogger(name)
