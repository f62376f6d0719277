"""``producer load``: read greenhouse, weather and price exports into PostgreSQL.

Public API:

* :func:`load_files` -- parse and store files, one transaction per file, with reports;
* :func:`read_file` -- parse one file into DataFrames, without a database;
* :func:`detect_format`, :data:`FORMATS`, :class:`LoadError`, :class:`FileReport`.

See ``docs/loading.md`` for formats, signals, time zones and clock changes.
"""

from __future__ import annotations

from .api import load_files, read_file
from .errors import LoadError
from .formats import FORMATS, detect_format
from .report import FileReport

__all__ = ["FORMATS", "FileReport", "LoadError", "detect_format", "load_files", "read_file"]
