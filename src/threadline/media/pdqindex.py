"""Finding every known PDQ hash within Hamming distance r of a query, exactly, at tens of millions of hashes.

`MultiIndex` is a multi-index hash (Norouzi et al.): the 256 bits are cut into m chunks; chunk i is probed at
radius t_i with sum(t_i + 1) >= r + 1, so by the generalised pigeonhole principle every hash within r of the
query agrees with it to within t_i bits on at least one chunk i, and is found. Each chunk's buckets are one
contiguous array of row numbers sorted by chunk value, with a direct offsets table (2^bits + 1 entries), so a
probe is two reads; candidates are verified with a full 256-bit popcount (numba, parallel over queries).
Chunk widths and radii come from a cost model (`plan_layout`) fitted on measurements (benchmarks/media.py).

For a large batch of queries (a whole seizure against a known set), `batch_search` turns the lookup around: for
each of 16 chunks of 16 bits (probed at radius 1 for r = 31), the known hashes and the queries are both sorted by
the chunk's value, and every bucket of known hashes is compared, while it sits in cache, with the queries of every
key within the radius. Memory is read in order and each known hash once per chunk, so the work is compares
(vectorised popcounts) instead of cache misses: at 10M known, 1M queries run several times faster than per-query
probing. `MultiIndex.search` picks it by itself for batches of `BATCH_FROM` queries or more.

`brute_force` is the obviously-correct twin every index is tested against; `FaissMultiHash` wraps FAISS's
IndexBinaryMultiHash(256, 16, 16) (exact for r <= 31 with one bit flip probed), kept as an option and as the
baseline the benchmark measures.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numba import njit, prange

from threadline.core.pdq import PDQ_BYTES

DEFAULT_DISTANCE = 31
MAX_CHUNK_RADIUS = 3
MAX_CHUNK_BITS = 26
# Relative cost of probing one bucket and of verifying one candidate, fitted on a 2-core machine at 10M hashes.
PROBE_COST = 1.0
CANDIDATE_COST = 1.3
MEMORY_BUDGET = 1_600_000_000
# From this many queries (and at least one per BATCH_PER_KNOWN known hashes), sorting both sides per chunk and
# comparing bucket against bucket beats probing query by query (benchmarks/media.py measures both).
BATCH_FROM = 20_000
BATCH_PER_KNOWN = 250
BATCH_BLOCKS = 64

_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)
_U1 = np.uint64(1)
_U56 = np.uint64(56)
_U64 = np.uint64(64)


class Searcher(Protocol):
    def search(self, queries: np.ndarray, max_distance: int) -> Results: ...


@dataclass
class Results:
    """CSR: the matches of query q are rows ``ids[lims[q]:lims[q+1]]`` at ``distances[...]``, nearest first."""

    lims: np.ndarray
    ids: np.ndarray
    distances: np.ndarray

    def of(self, q: int) -> list[tuple[int, int]]:
        a, b = int(self.lims[q]), int(self.lims[q + 1])
        return [(int(i), int(d)) for i, d in zip(self.ids[a:b], self.distances[a:b], strict=True)]

    @staticmethod
    def from_capped(ids: np.ndarray, distances: np.ndarray, counts: np.ndarray) -> Results:
        """From per-query rows (n, cap) of which the first counts[q] are matches (every count <= cap)."""
        nq, cap = ids.shape
        lims = np.zeros(nq + 1, dtype=np.int64)
        np.cumsum(counts, out=lims[1:])
        keep = np.arange(cap)[None, :] < counts[:, None]
        q = np.broadcast_to(np.arange(nq)[:, None], ids.shape)[keep]
        i, d = ids[keep], distances[keep]
        order = np.lexsort((i, d, q))
        return Results(lims, i[order].astype(np.int64), d[order].astype(np.int32))

    @staticmethod
    def from_lists(per_query: Sequence[Sequence[tuple[int, int]]]) -> Results:
        lims = np.zeros(len(per_query) + 1, dtype=np.int64)
        ids: list[int] = []
        dists: list[int] = []
        for q, matches in enumerate(per_query):
            for i, d in sorted(matches, key=lambda m: (m[1], m[0])):
                ids.append(i)
                dists.append(d)
            lims[q + 1] = len(ids)
        return Results(lims, np.array(ids, dtype=np.int64), np.array(dists, dtype=np.int32))


def to_words(matrix: np.ndarray) -> np.ndarray:
    """(n, 32) uint8 hashes as (n, 4) uint64, each word the big-endian value of 8 bytes (bit 0 = hash bit 0)."""
    matrix = np.ascontiguousarray(matrix, dtype=np.uint8).reshape(-1, PDQ_BYTES)
    return matrix.view(">u8").astype(np.uint64)


# ---- the reference: brute force --------------------------------------------------------------------------


def brute_force(known: np.ndarray, queries: np.ndarray, max_distance: int) -> Results:
    """Every known row within `max_distance` of each query, by comparing with all of them."""
    kw = to_words(known)
    qw = to_words(queries)
    per_query: list[list[tuple[int, int]]] = []
    for q in qw:
        d = np.bitwise_count(kw ^ q).sum(axis=1, dtype=np.int32)
        hits = np.flatnonzero(d <= max_distance)
        per_query.append([(int(i), int(d[i])) for i in hits])
    return Results.from_lists(per_query)


# ---- the multi-index ---------------------------------------------------------------------------------------


@njit(inline="always")
def _popcount(x: Any) -> Any:
    x = x - ((x >> _U1) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    return (x * _H01) >> _U56


@njit(inline="always")
def _chunk(w0: Any, w1: Any, w2: Any, w3: Any, start: int, bits: int) -> int:
    """Bits [start, start+bits) of the 256-bit hash as an integer, first bit most significant (bits <= 32)."""
    k = start // 64
    off = start % 64
    w = w0 if k == 0 else w1 if k == 1 else w2 if k == 2 else w3
    if off + bits <= 64:
        return int((w >> np.uint64(64 - off - bits)) & ((_U1 << np.uint64(bits)) - _U1))
    n0 = 64 - off
    n1 = bits - n0
    nxt = w1 if k == 0 else w2 if k == 1 else w3
    hi = w & ((_U1 << np.uint64(n0)) - _U1)
    return int((hi << np.uint64(n1)) | (nxt >> np.uint64(64 - n1)))


@njit(parallel=True, cache=True)
def _chunk_keys(words: np.ndarray, start: int, bits: int) -> np.ndarray:  # pragma: no cover - compiled
    n = words.shape[0]
    out = np.empty(n, dtype=np.uint32)
    for i in prange(n):
        out[i] = _chunk(words[i, 0], words[i, 1], words[i, 2], words[i, 3], start, bits)
    return out


@njit(cache=True)
def _bucket_sort(keys: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Counting sort: row numbers grouped by key, and where each key's group starts."""
    size = 1 << bits
    offsets = np.zeros(size + 1, dtype=np.uint32)
    for k in keys:
        offsets[k + 1] += 1
    for i in range(size):
        offsets[i + 1] += offsets[i]
    fill = offsets[:-1].copy()
    rows = np.empty(keys.shape[0], dtype=np.uint32)
    for i in range(keys.shape[0]):
        k = keys[i]
        rows[fill[k]] = i
        fill[k] += 1
    return rows, offsets


@njit(inline="always")
def _record(r: int, d: int, out_ids: np.ndarray, out_d: np.ndarray, qi: int, n: int, cap: int) -> int:
    for s in range(min(n, cap)):
        if out_ids[qi, s] == r:
            return n
    if n < cap:
        out_ids[qi, n] = r
        out_d[qi, n] = d
    return n + 1


@njit(parallel=True, cache=True)
def _search(
    words: np.ndarray,
    queries: np.ndarray,
    starts: np.ndarray,
    widths: np.ndarray,
    radii: np.ndarray,
    rows_all: np.ndarray,
    rows_base: np.ndarray,
    offsets_all: np.ndarray,
    offsets_base: np.ndarray,
    max_d: int,
    cap: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    # Three passes per query: probe keys -> bucket bounds -> candidate rows -> verify. Each pass's memory reads
    # are independent of one another, so the CPU overlaps their cache misses instead of waiting on each.
    nq = queries.shape[0]
    nc = starts.shape[0]
    total_probes = 0
    for c in range(nc):
        b = widths[c]
        t = radii[c]
        if t >= 0:
            total_probes += 1
        if t >= 1:
            total_probes += b
        if t >= 2:
            total_probes += b * (b - 1) // 2
        if t >= 3:
            total_probes += b * (b - 1) * (b - 2) // 6
    out_ids = np.full((nq, cap), -1, dtype=np.int64)
    out_d = np.zeros((nq, cap), dtype=np.int32)
    out_n = np.zeros(nq, dtype=np.int64)
    for qi in prange(nq):
        q0, q1, q2, q3 = queries[qi, 0], queries[qi, 1], queries[qi, 2], queries[qi, 3]
        pos = np.empty(total_probes, dtype=np.int64)
        lo = np.empty(total_probes, dtype=np.int64)
        hi = np.empty(total_probes, dtype=np.int64)
        p = 0
        for c in range(nc):
            t = radii[c]
            if t < 0:
                continue
            b = widths[c]
            base = offsets_base[c]
            key = _chunk(q0, q1, q2, q3, starts[c], b)
            pos[p] = base + key
            p += 1
            if t >= 1:
                for i in range(b):
                    k1 = key ^ (1 << i)
                    pos[p] = base + k1
                    p += 1
                    if t >= 2:
                        for j in range(i + 1, b):
                            k2 = k1 ^ (1 << j)
                            pos[p] = base + k2
                            p += 1
                            if t >= 3:
                                for h in range(j + 1, b):
                                    pos[p] = base + (k2 ^ (1 << h))
                                    p += 1
        # Bucket bounds, as positions in rows_all (each chunk's rows start at rows_base[c]).
        p = 0
        total = 0
        for c in range(nc):
            t = radii[c]
            if t < 0:
                continue
            b = widths[c]
            count = 1
            if t >= 1:
                count += b
            if t >= 2:
                count += b * (b - 1) // 2
            if t >= 3:
                count += b * (b - 1) * (b - 2) // 6
            rb = rows_base[c]
            for k in range(p, p + count):
                lo[k] = rb + offsets_all[pos[k]]
                hi[k] = rb + offsets_all[pos[k] + 1]
            for k in range(p, p + count):
                total += hi[k] - lo[k]
            p += count
        cand = np.empty(total, dtype=np.int64)
        m = 0
        for k in range(p):
            for j in range(lo[k], hi[k]):
                cand[m] = rows_all[j]
                m += 1
        n = 0
        for k in range(m):
            r = cand[k]
            d = (
                _popcount(words[r, 0] ^ q0)
                + _popcount(words[r, 1] ^ q1)
                + _popcount(words[r, 2] ^ q2)
                + _popcount(words[r, 3] ^ q3)
            )
            if d <= max_d:
                n = _record(r, d, out_ids, out_d, qi, n, cap)
        out_n[qi] = n
    return out_ids, out_d, out_n


# ---- the batch join ---------------------------------------------------------------------------------------------


@njit(parallel=True, cache=True)
def _sort_by_chunk16(
    words: np.ndarray, c: int, first: int, second: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Rows sorted by bits [16c, 16c+16): words `first` and `second` as columns, the row numbers, bucket offsets.

    A counting sort in parallel parts: each part counts its keys, then writes its rows after the earlier parts'."""
    n = words.shape[0]
    col = c // 4
    shift = np.uint64(48 - 16 * (c % 4))
    parts = 8
    counts = np.zeros((parts, 65536), dtype=np.int64)
    for t in prange(parts):
        for i in range(t * n // parts, (t + 1) * n // parts):
            counts[t, (words[i, col] >> shift) & np.uint64(0xFFFF)] += 1
    offsets = np.zeros(65537, dtype=np.int64)
    starts = np.empty((parts, 65536), dtype=np.int64)
    total = 0
    for k in range(65536):
        offsets[k] = total
        for t in range(parts):
            starts[t, k] = total
            total += counts[t, k]
    offsets[65536] = total
    fa = np.empty(n, dtype=np.uint64)
    fb = np.empty(n, dtype=np.uint64)
    rows = np.empty(n, dtype=np.uint32)
    for t in prange(parts):
        fill = starts[t]
        for i in range(t * n // parts, (t + 1) * n // parts):
            k = (words[i, col] >> shift) & np.uint64(0xFFFF)
            p = fill[k]
            fill[k] = p + 1
            fa[p] = words[i, first]
            fb[p] = words[i, second]
            rows[p] = i
    return fa, fb, rows, offsets


@njit(parallel=True, cache=True)
def _join_chunk(
    words: np.ndarray,
    fa: np.ndarray,
    fb: np.ndarray,
    known_rows: np.ndarray,
    known_offsets: np.ndarray,
    queries: np.ndarray,
    query_rows: np.ndarray,
    query_offsets: np.ndarray,
    masks: np.ndarray,
    max_d: int,
    first: int,
    second: int,
    blocks: np.ndarray,
    nblocks: int,
    slab: int,
    hit_q: np.ndarray,
    hit_r: np.ndarray,
    hit_d: np.ndarray,
    hit_n: np.ndarray,
) -> None:  # pragma: no cover - compiled
    # Each block of buckets is compared with the queries whose key lies within the radius of each bucket's key; a
    # block's matches go to its own slab (a query is reached from several blocks, so nothing is shared). Two words
    # filter (the chunk's own bits are in neither: 128 random bits pass <= 31 about once in 10^8), the full hash,
    # fetched by row, confirms.
    for j in prange(blocks.shape[0]):
        blk = blocks[j]
        b0 = blk * 65536 // nblocks
        b1 = (blk + 1) * 65536 // nblocks
        h = 0
        for b in range(b0, b1):
            ea = known_offsets[b]
            n = known_offsets[b + 1] - ea
            if n == 0:
                continue
            # Slices, so the index is known to be >= 0: numba then drops its negative-index fix-up and the filter
            # loop vectorises (4x faster than indexing fa[ea + e]).
            sa = fa[ea : ea + n]
            sb = fb[ea : ea + n]
            for f in masks:
                key = b ^ f
                for qi in range(query_offsets[key], query_offsets[key + 1]):
                    x = queries[qi, first]
                    y = queries[qi, second]
                    close = 0
                    for e in range(n):  # no branch: a count of the entries that pass the filter
                        close += 1 if _popcount(sa[e] ^ x) + _popcount(sb[e] ^ y) <= max_d else 0
                    if close == 0:
                        continue
                    for e in range(n):
                        if _popcount(sa[e] ^ x) + _popcount(sb[e] ^ y) <= max_d:
                            r = known_rows[ea + e]
                            d = int(
                                _popcount(words[r, 0] ^ queries[qi, 0])
                                + _popcount(words[r, 1] ^ queries[qi, 1])
                                + _popcount(words[r, 2] ^ queries[qi, 2])
                                + _popcount(words[r, 3] ^ queries[qi, 3])
                            )
                            if d <= max_d:
                                if h < slab:
                                    hit_q[blk, h] = query_rows[qi]
                                    hit_r[blk, h] = r
                                    hit_d[blk, h] = d
                                h += 1
        hit_n[blk] = h


@njit(cache=True)
def _collect(
    hit_q: np.ndarray,
    hit_r: np.ndarray,
    hit_d: np.ndarray,
    hit_n: np.ndarray,
    out_ids: np.ndarray,
    out_d: np.ndarray,
    out_n: np.ndarray,
    cap: int,
) -> None:  # pragma: no cover - compiled
    for blk in range(hit_n.shape[0]):
        for h in range(hit_n[blk]):
            q = hit_q[blk, h]
            out_n[q] = _record(hit_r[blk, h], int(hit_d[blk, h]), out_ids, out_d, q, out_n[q], cap)


def _masks(radius: int) -> np.ndarray:
    """Every 16-bit value within `radius` bits of zero."""
    return np.array([m for m in range(1 << 16) if m.bit_count() <= radius], dtype=np.int64)


def batch_search(words: np.ndarray, queries: np.ndarray, max_distance: int, cap: int = 16) -> tuple[np.ndarray, ...]:
    """Every known row within `max_distance` of each query (both as (n, 4) words), by sorted bucket joins.

    Returns (ids, distances, counts) as `_search` does: a query's first min(count, cap) matches; a count above
    `cap` means more were found than kept."""
    layout = make_layout(16, max_distance)
    assert all(c.start == 16 * i and c.bits == 16 for i, c in enumerate(layout))
    if any(c.radius > MAX_CHUNK_RADIUS for c in layout):
        raise ValueError(f"batch search covers distances up to {16 * (MAX_CHUNK_RADIUS + 1) - 1}")
    if words.shape[0] >= 2**32:
        raise ValueError("batch search holds row numbers in 32 bits: at most 4,294,967,295 known hashes")
    nq = queries.shape[0]
    out_ids = np.full((nq, cap), -1, dtype=np.int64)
    out_d = np.zeros((nq, cap), dtype=np.int32)
    out_n = np.zeros(nq, dtype=np.int64)
    slab = 1024 + 4 * nq // BATCH_BLOCKS
    for c, chunk in enumerate(layout):
        if chunk.radius < 0:
            continue
        first, second = (2, 3) if c < 8 else (0, 1)
        fa, fb, krows, koffsets = _sort_by_chunk16(words, c, first, second)
        qkeys = (queries[:, c // 4] >> np.uint64(48 - 16 * (c % 4))) & np.uint64(0xFFFF)
        qrows = np.argsort(qkeys, kind="stable")
        qsorted = queries[qrows]
        qoffsets = np.searchsorted(qkeys[qrows], np.arange(65537, dtype=np.uint64))
        masks = _masks(chunk.radius)
        blocks = np.arange(BATCH_BLOCKS, dtype=np.int64)
        while len(blocks):
            hit_q = np.empty((BATCH_BLOCKS, slab), dtype=np.int64)
            hit_r = np.empty((BATCH_BLOCKS, slab), dtype=np.int64)
            hit_d = np.empty((BATCH_BLOCKS, slab), dtype=np.int32)
            hit_n = np.zeros(BATCH_BLOCKS, dtype=np.int64)
            _join_chunk(
                words, fa, fb, krows, koffsets, qsorted, qrows, qoffsets, masks, max_distance,
                first, second, blocks, BATCH_BLOCKS, slab, hit_q, hit_r, hit_d, hit_n,
            )  # fmt: skip
            found = hit_n.copy()
            over = np.flatnonzero(found > slab)
            hit_n[over] = 0  # those blocks run again, whole, with room for all they found
            _collect(hit_q, hit_r, hit_d, hit_n, out_ids, out_d, out_n, cap)
            if len(over):
                slab = int(found[over].max())
            blocks = over.astype(np.int64)
    return out_ids, out_d, out_n


@dataclass(frozen=True)
class Chunk:
    start: int
    bits: int
    radius: int  # -1: not probed (and not built)


def _probes(bits: int, radius: int) -> int:
    return sum(math.comb(bits, k) for k in range(radius + 1)) if radius >= 0 else 0


def layout_cost(n: int, chunks: Sequence[Chunk]) -> float:
    """Modelled work of one query: probes, plus candidates expected in the probed buckets of random hashes."""
    return sum(
        _probes(c.bits, c.radius) * (PROBE_COST + CANDIDATE_COST * n / (1 << c.bits)) for c in chunks if c.radius >= 0
    )


def layout_memory(n: int, chunks: Sequence[Chunk]) -> int:
    built = [c for c in chunks if c.radius >= 0]
    return n * PDQ_BYTES + sum(4 * n + 4 * ((1 << c.bits) + 1) for c in built)


def make_layout(m: int, max_distance: int) -> list[Chunk]:
    """m chunks of near-equal width; radii summing to max_distance + 1 - m, spent where they cost least."""
    base, extra = divmod(256, m)
    widths = [base + 1] * extra + [base] * (m - extra)
    starts = [sum(widths[:i]) for i in range(m)]
    budget = max_distance + 1  # sum of (radius + 1) needed
    if budget <= m:
        # Only budget chunks need probing at radius 0; probe the widest (smallest buckets).
        return [Chunk(s, w, 0 if i < budget else -1) for i, (s, w) in enumerate(zip(starts, widths, strict=True))]
    radii = [0] * m
    spare = budget - m
    # Raise radii one step at a time, narrowest chunk first (fewest probes per step), evenly.
    order = sorted(range(m), key=lambda i: widths[i])
    while spare:
        for i in order:
            if spare == 0:
                break
            radii[i] += 1
            spare -= 1
    return [Chunk(s, w, r) for s, w, r in zip(starts, widths, radii, strict=True)]


def plan_layout(n: int, max_distance: int = DEFAULT_DISTANCE, memory_budget: int = MEMORY_BUDGET) -> list[Chunk]:
    """The cheapest exact layout (by `layout_cost`) that fits `memory_budget` bytes."""
    best: list[Chunk] | None = None
    best_cost = math.inf
    # Chunks much wider than log2(n) buy nothing (buckets are already near-empty) but cost 4 * 2^bits bytes.
    widest = min(MAX_CHUNK_BITS, max(12, math.ceil(math.log2(n + 1)) + 2))
    for m in range(max(2, math.ceil((max_distance + 1) / (MAX_CHUNK_RADIUS + 1))), 65):
        chunks = make_layout(m, max_distance)
        if any(c.radius > MAX_CHUNK_RADIUS or c.bits > widest for c in chunks if c.radius >= 0):
            continue
        if best is not None and layout_memory(n, chunks) > memory_budget:
            continue
        cost = layout_cost(n, chunks)
        if cost < best_cost:
            best, best_cost = chunks, cost
    if best is None:
        raise ValueError(f"no exact layout for distance {max_distance}")
    return best


class MultiIndex:
    """Exact PDQ range search for distances up to `max_distance` (the radius it was built for)."""

    def __init__(
        self,
        words: np.ndarray,
        chunks: Sequence[Chunk],
        max_distance: int,
        rows: np.ndarray,
        rows_base: np.ndarray,
        offsets: np.ndarray,
        offsets_base: np.ndarray,
    ) -> None:
        self.words = words
        self.chunks = list(chunks)
        self.max_distance = max_distance
        self.rows = rows
        self.rows_base = rows_base
        self.offsets = offsets
        self.offsets_base = offsets_base
        self._starts = np.array([c.start for c in self.chunks], dtype=np.int64)
        self._widths = np.array([c.bits for c in self.chunks], dtype=np.int64)
        self._radii = np.array([c.radius for c in self.chunks], dtype=np.int64)

    def __len__(self) -> int:
        return int(self.words.shape[0])

    @property
    def nbytes(self) -> int:
        return int(self.words.nbytes + self.rows.nbytes + self.offsets.nbytes)

    @classmethod
    def build(
        cls, known: np.ndarray, max_distance: int = DEFAULT_DISTANCE, chunks: Sequence[Chunk] | None = None
    ) -> MultiIndex:
        words = to_words(known)
        n = words.shape[0]
        layout = list(chunks) if chunks is not None else plan_layout(n, max_distance)
        if sum(c.radius + 1 for c in layout) < max_distance + 1:
            raise ValueError("layout too coarse: it would miss matches at this distance")
        if any(c.radius > MAX_CHUNK_RADIUS or c.bits > MAX_CHUNK_BITS for c in layout if c.radius >= 0):
            raise ValueError(f"chunks are probed at radius <= {MAX_CHUNK_RADIUS} and <= {MAX_CHUNK_BITS} bits wide")
        rows_parts: list[np.ndarray] = []
        offsets_parts: list[np.ndarray] = []
        for c in layout:
            if c.radius < 0:
                rows_parts.append(np.zeros(0, dtype=np.uint32))
                offsets_parts.append(np.zeros(0, dtype=np.uint32))
                continue
            keys = _chunk_keys(words, c.start, c.bits)
            rows, offsets = _bucket_sort(keys, c.bits)
            rows_parts.append(rows)
            offsets_parts.append(offsets)
        rows_base = np.zeros(len(layout) + 1, dtype=np.int64)
        rows_base[1:] = np.cumsum([len(p) for p in rows_parts])
        offsets_base = np.zeros(len(layout) + 1, dtype=np.int64)
        offsets_base[1:] = np.cumsum([len(p) for p in offsets_parts])
        return cls(
            words,
            layout,
            max_distance,
            np.concatenate(rows_parts) if rows_parts else np.zeros(0, np.uint32),
            rows_base,
            np.concatenate(offsets_parts) if offsets_parts else np.zeros(0, np.uint32),
            offsets_base,
        )

    def search(
        self, queries: np.ndarray, max_distance: int | None = None, cap: int = 16, batch: bool | None = None
    ) -> Results:
        """Matches of every query; `batch` forces (True) or forbids (False) the batch join, chosen by size if None."""
        d = self.max_distance if max_distance is None else max_distance
        if d > self.max_distance:
            raise ValueError(f"index built for distance <= {self.max_distance}, asked for {d}")
        qw = to_words(queries)
        nq = qw.shape[0]
        if nq == 0 or len(self) == 0:
            return Results(np.zeros(nq + 1, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int32))
        if batch is None:
            batch = nq >= max(BATCH_FROM, len(self) // BATCH_PER_KNOWN)
        if batch:
            ids, dist, counts = batch_search(self.words, qw, d, cap)
        else:
            ids, dist, counts = _search(
                self.words,
                qw,
                self._starts,
                self._widths,
                self._radii,
                self.rows,
                self.rows_base,
                self.offsets,
                self.offsets_base,
                d,
                cap,
            )
        over = np.flatnonzero(counts > cap)
        if not len(over):
            return Results.from_capped(ids, dist, counts)
        per_query: list[list[tuple[int, int]]] = [
            list(zip(ids[q, : counts[q]].tolist(), dist[q, : counts[q]].tolist(), strict=True)) for q in range(nq)
        ]
        if len(over):
            # A query with more matches than `cap` (a very common hash): run those again with room for all.
            again = self.search(queries[over], d, cap=int(counts[over].max()) + 1, batch=False)
            for k, q in enumerate(over):
                per_query[q] = again.of(k)
        return Results.from_lists(per_query)

    # ---- persistence under THREADLINE_HOME ----

    def save(self, folder: Path, meta: dict[str, Any], extras: dict[str, np.ndarray] | None = None) -> None:
        """Write atomically (arrays plus `extras` beside them): a half-written index is never loaded."""
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".pdq-index-", dir=folder.parent))
        for name in ("words", "rows", "rows_base", "offsets", "offsets_base"):
            np.save(tmp / f"{name}.npy", getattr(self, name))
        for name, array in (extras or {}).items():
            np.save(tmp / f"extra-{name}.npy", array)
        manifest = dict(meta) | {
            "max_distance": self.max_distance,
            "chunks": [[c.start, c.bits, c.radius] for c in self.chunks],
            "hashes": len(self),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        old = folder.with_name(folder.name + ".old")
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)

    @staticmethod
    def manifest(folder: Path) -> dict[str, Any] | None:
        try:
            return dict(json.loads((folder / "manifest.json").read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return None

    @staticmethod
    def load_extra(folder: Path, name: str) -> np.ndarray:
        return np.asarray(np.load(folder / f"extra-{name}.npy"))

    @classmethod
    def load(cls, folder: Path) -> MultiIndex:
        manifest = cls.manifest(folder)
        if manifest is None:
            raise FileNotFoundError(folder / "manifest.json")
        arrays = {n: np.load(folder / f"{n}.npy") for n in ("words", "rows", "rows_base", "offsets", "offsets_base")}
        chunks = [Chunk(int(s), int(b), int(r)) for s, b, r in manifest["chunks"]]
        return cls(
            arrays["words"],
            chunks,
            int(manifest["max_distance"]),
            arrays["rows"],
            arrays["rows_base"],
            arrays["offsets"],
            arrays["offsets_base"],
        )


# ---- FAISS, the baseline and an option ---------------------------------------------------------------------


class FaissMultiHash:
    """FAISS IndexBinaryMultiHash(256, 16, 16) probing one bit flip per 16-bit chunk: exact for r <= 31."""

    def __init__(self, known: np.ndarray) -> None:
        import faiss

        self.index = faiss.IndexBinaryMultiHash(256, 16, 16)
        self.index.nflip = 1
        if len(known):
            self.index.add(np.ascontiguousarray(known, dtype=np.uint8))

    def search(self, queries: np.ndarray, max_distance: int = DEFAULT_DISTANCE) -> Results:
        if max_distance > 31:
            raise ValueError("FAISS IndexBinaryMultiHash(256, 16, 16) with one flip is exact only up to 31")
        queries = np.ascontiguousarray(queries, dtype=np.uint8)
        if len(queries) == 0 or self.index.ntotal == 0:
            return Results(np.zeros(len(queries) + 1, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int32))
        # FAISS binary range search keeps distances strictly below the radius.
        lims, dist, ids = self.index.range_search(queries, max_distance + 1)
        per_query = [
            list(zip(ids[lims[q] : lims[q + 1]].tolist(), dist[lims[q] : lims[q + 1]].tolist(), strict=True))
            for q in range(len(queries))
        ]
        return Results.from_lists(per_query)
