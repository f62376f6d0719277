"""PostgreSQL binary COPY rows, encoded with numpy a block at a time.

Encoding row by row through psycopg's write_row costs microseconds per row, more than
computing the row. A block of rows in which every field has the same width in every row
(the same text, or a fixed-width number, or NULL) is one numpy structured array instead,
turned into bytes in one call.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

HEADER = b"PGCOPY\n\xff\r\n\x00" + np.array([0, 0], dtype=">i4").tobytes()
TRAILER = np.array([-1], dtype=">i2").tobytes()
PG_EPOCH_S = 946_684_800  # binary timestamptz counts microseconds from 2000-01-01 UTC

# PostgreSQL type -> (numpy big-endian code, width in bytes)
FIXED = {
    "int8": (">i8", 8),
    "int4": (">i4", 4),
    "float8": (">f8", 8),
    "bool": ("u1", 1),
    "timestamptz": (">i8", 8),
}


def timestamptz(seconds: np.ndarray) -> np.ndarray:
    """Binary timestamptz values (microseconds since 2000) from datetime64 or epoch seconds."""
    epoch_s = np.asarray(seconds).astype("datetime64[s]").astype(np.int64)
    return (epoch_s - PG_EPOCH_S) * 1_000_000


def uniform_rows(n: int, fields: Sequence[tuple[str, object]]) -> bytes:
    """``n`` binary COPY rows; ``fields`` are (type, value) in column order, where value is
    an array of n values, one scalar for every row, a str for text, or None for NULL."""
    dtype: list[tuple[str, str]] = [("fields", ">i2")]
    values: dict[str, object] = {"fields": len(fields)}
    for i, (kind, value) in enumerate(fields):
        length, data = f"length{i}", f"data{i}"
        dtype.append((length, ">i4"))
        if value is None:
            values[length] = -1
            continue
        if kind == "text":
            encoded = str(value).encode()
            values[length] = len(encoded)
            if encoded:
                dtype.append((data, f"S{len(encoded)}"))
                values[data] = encoded
            continue
        code, width = FIXED[kind]
        dtype.append((data, code))
        values[length], values[data] = width, value
    rows = np.empty(n, dtype=dtype)
    for name, value in values.items():
        rows[name] = value
    return rows.tobytes()


# --------------------------------------------------------------------------- varied rows
# Rows whose fields differ in width from row to row (texts of different lengths, arrays
# with NULL elements): every field is laid out at its widest in an (n, width) byte matrix
# next to a mask of the bytes each row really has, and one boolean index over the whole
# matrix yields the stream, rows in order.

FLOAT8_OID = 701
ARRAY_HEADER = [
    ("ndim", ">i4"),
    ("flags", ">i4"),
    ("elemtype", ">i4"),
    ("dim", ">i4"),
    ("lbound", ">i4"),
]


def varied_rows(fields: Sequence[tuple[str, object]]) -> bytes:
    """Binary COPY rows, one per element of each field's values; ``fields`` are (type, values)
    in column order: ("int8" | "int4" | "float8" | "timestamptz", (n,) numbers),
    ("text", (n,) str objects) or ("float8[]", (n, k) float64 with NaN for NULL elements)."""
    parts = [_field_count(len(fields), _rows(fields))]
    parts.extend(_FIELD[kind](values) for kind, values in fields)
    data = np.hstack([part[0] for part in parts])
    keep = np.hstack([part[1] for part in parts])
    return data[keep].tobytes()


def _rows(fields: Sequence[tuple[str, object]]) -> int:
    return len(np.asarray(fields[0][1]))


def _field_count(count: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    data = np.full(n, count, dtype=">i2").view(np.uint8).reshape(n, 2)
    return data, np.ones(data.shape, dtype=bool)


def _fixed(kind: str):
    code, width = FIXED[kind]

    def encode(values: object) -> tuple[np.ndarray, np.ndarray]:
        column = np.asarray(values)
        rows = np.empty(len(column), dtype=[("length", ">i4"), ("data", code)])
        rows["length"], rows["data"] = width, column
        data = rows.view(np.uint8).reshape(len(column), 4 + width)
        return data, np.ones(data.shape, dtype=bool)

    return encode


def _text(values: object) -> tuple[np.ndarray, np.ndarray]:
    """Length-prefixed UTF-8, padded to the longest; each distinct string encoded once."""
    labels, codes = np.unique(np.asarray(values, dtype=object), return_inverse=True)
    encoded = [str(label).encode() for label in labels]
    widest = max((len(e) for e in encoded), default=0)
    table = np.zeros((len(encoded), 4 + widest), dtype=np.uint8)
    for i, e in enumerate(encoded):
        table[i, :4] = np.frombuffer(np.array(len(e), dtype=">i4").tobytes(), dtype=np.uint8)
        table[i, 4 : 4 + len(e)] = np.frombuffer(e, dtype=np.uint8)
    lengths = np.array([len(e) for e in encoded])[codes]
    data = table[codes]
    keep = np.arange(4 + widest)[None, :] < (4 + lengths)[:, None]
    return data, keep


def _float8_array(values: object) -> tuple[np.ndarray, np.ndarray]:
    """One-dimensional float8[] per row; NaN becomes a NULL element (length -1, no data)."""
    matrix = np.asarray(values, dtype=np.float64)
    n, k = matrix.shape
    null = np.isnan(matrix)
    header = np.empty(n, dtype=[("length", ">i4"), *ARRAY_HEADER])
    header["length"] = 20 + 4 * k + 8 * (k - null.sum(axis=1))
    header["ndim"], header["elemtype"], header["dim"], header["lbound"] = 1, FLOAT8_OID, k, 1
    header["flags"] = null.any(axis=1)
    elements = np.empty((n, k), dtype=[("length", ">i4"), ("data", ">f8")])
    elements["length"] = np.where(null, -1, 8)
    elements["data"] = matrix
    keep = np.ones((n, k, 12), dtype=bool)
    keep[null, 4:] = False
    data = np.hstack(
        [header.view(np.uint8).reshape(n, 24), elements.view(np.uint8).reshape(n, 12 * k)]
    )
    return data, np.hstack([np.ones((n, 24), dtype=bool), keep.reshape(n, 12 * k)])


_FIELD = {
    **{kind: _fixed(kind) for kind in ("int8", "int4", "float8", "timestamptz")},
    "text": _text,
    "float8[]": _float8_array,
}
