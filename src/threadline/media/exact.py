"""Exact matching in bulk: seized SHA-256 (or MD5, SHA-1) against a known set of hundreds of millions.

The known hashes' first 8 bytes, as big-endian integers, are sorted once (with the row each came from); a lookup
is a vectorised binary search, and every prefix hit is verified against the full hash, so a prefix collision can
never make a false match. Memory: 12 bytes per known hash plus what the full hashes need (they may be a memory
map on disk: only the few rows that hit are read). `naive_match` (a Python set) is the twin it is tested against.
"""

from __future__ import annotations

import numpy as np


class ExactIndex:
    def __init__(self, known: np.ndarray) -> None:
        """`known`: (n, k) uint8, one full hash per row (an array or a np.memmap)."""
        self.known = known
        prefixes = np.ascontiguousarray(known[:, :8]).view(">u8").ravel().astype(np.uint64)
        self.order = np.argsort(prefixes, kind="stable").astype(np.uint32 if len(known) < 2**32 else np.uint64)
        self.prefixes = prefixes[self.order]

    @classmethod
    def from_prefixes(cls, known: np.ndarray, prefixes: np.ndarray) -> ExactIndex:
        """Build from prefixes already read (e.g. streamed from disk in chunks), sorting them in place."""
        self = cls.__new__(cls)
        self.known = known
        self.order = np.argsort(prefixes).astype(np.uint32 if len(known) < 2**32 else np.uint64)
        self.prefixes = prefixes[self.order]
        return self

    @property
    def nbytes(self) -> int:
        return int(self.prefixes.nbytes + self.order.nbytes)

    def match(self, queries: np.ndarray) -> np.ndarray:
        """For each query row, the row of an identical known hash, or -1."""
        queries = np.ascontiguousarray(queries, dtype=np.uint8)
        qp = queries[:, :8].copy().view(">u8").ravel().astype(np.uint64)
        left = np.searchsorted(self.prefixes, qp, side="left")
        right = np.searchsorted(self.prefixes, qp, side="right")
        out = np.full(len(queries), -1, dtype=np.int64)
        # Nearly every hit is a single prefix: verify those in one vectorised gather of the full hashes.
        single = np.flatnonzero(right - left == 1)
        if len(single):
            rows = self.order[left[single]].astype(np.int64)
            order = np.argsort(rows)  # read the (possibly on-disk) known hashes in file order
            same = (np.asarray(self.known[rows[order]]) == queries[single[order]]).all(axis=1)
            out[single[order[same]]] = rows[order[same]]
        for q in np.flatnonzero(right - left > 1):
            for pos in range(int(left[q]), int(right[q])):
                row = int(self.order[pos])
                if np.array_equal(self.known[row], queries[q]):
                    out[q] = row
                    break
        return out


def naive_match(known: np.ndarray, queries: np.ndarray) -> np.ndarray:
    rows = {bytes(k): i for i, k in reversed(list(enumerate(known)))}
    return np.array([rows.get(bytes(q), -1) for q in queries], dtype=np.int64)
