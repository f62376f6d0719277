"""Row sums in one fixed order, whatever the array's shape or layout.

numpy's own summation order along an axis depends on the array's shape and strides, so
the same window could get different last bits in a batch of 1 and a batch of 64. These
sums add in exactly numpy's pairwise order for one contiguous row of n values, so they
also match ``np.sum(x[:n])`` (and thus tsfresh) bit for bit.
"""

from __future__ import annotations

from types import ModuleType

PAIRWISE_BLOCK = 128


def take_rows(xp: ModuleType, a, i):
    """a[r, i[r]] for every row r."""
    return xp.take_along_axis(a, i[:, None], axis=1)[:, 0]


def row_sum(xp: ModuleType, z, n):
    """Row sums of ``z`` (R, L; zero past each row's ``n`` values) in exactly the order
    numpy's pairwise summation adds a contiguous array of n values, so results match
    ``np.sum(x[:n])`` bit for bit. Beyond 128 samples numpy recurses; use a plain sum."""
    rows, length = z.shape
    if length > PAIRWISE_BLOCK:
        return z.sum(axis=1)
    padded = -(-length // 8) * 8
    if padded != length:
        z = xp.concatenate([z, xp.zeros((rows, padded - length), dtype=z.dtype)], axis=1)
    n8 = n - n % 8
    acc = xp.zeros((rows, 8), dtype=z.dtype)
    for block in range(padded // 8):  # numpy's 8 running accumulators
        acc = acc + xp.where((8 * block < n8)[:, None], z[:, 8 * block : 8 * block + 8], 0.0)
    res = ((acc[:, 0] + acc[:, 1]) + (acc[:, 2] + acc[:, 3])) + (
        (acc[:, 4] + acc[:, 5]) + (acc[:, 6] + acc[:, 7])
    )
    for k in range(7):  # the n % 8 leftovers, added one by one
        i = n8 + k
        res = res + xp.where(i < n, take_rows(xp, z, xp.minimum(i, padded - 1)), 0.0)
    return res


def last_axis_sum(xp: ModuleType, z):
    """``z.sum(axis=-1)`` for any number of leading axes, in row_sum's fixed order."""
    rows = z.reshape(-1, z.shape[-1])
    full = xp.full(rows.shape[0], rows.shape[1], dtype=xp.int64)
    return row_sum(xp, rows, full).reshape(z.shape[:-1])
