"""Media triage benchmarks, each against a baseline measured in the same run:
`uv run python benchmarks/media.py [--images 24] [--known 10000000] [--queries 100000] [--exact-known 100000000]`.

1. Hashing: a folder of benign generated 12-megapixel JPEGs (gradients, shapes, grain). Baseline: the naive
   pipeline, one process, Pillow full decode + pdqhash. Ours: `media scan` (one read for MD5/SHA-1/SHA-256,
   reduced-size JPEG decoding, every core) into a fresh SQLite store. Prints files/s, the ratio, and the
   distribution of Hamming distances between the reduced-size and the full-decode hash.
2. PDQ lookup: --known random hashes, --queries queries (half near-duplicates within 31 bits). Ours: the
   multi-index probed query by query (build time, memory, lookups/s on --threads threads, on up to 100k queries),
   and the batch join triage uses for a whole seizure (all --queries at once), each identical to brute force on a
   sample.
   Baseline: FAISS IndexBinaryMultiHash(256, 16, 16) (build time, memory, lookups/s on a sample of queries).
3. Exact: 1M seized SHA-256 against --exact-known known ones (on disk, memory-mapped): sorted 8-byte prefixes
   plus verification. Baseline: a Python set, on a slice (it does not fit at full size).
Sections can be skipped with --skip hashing,lookup,exact. Timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def section(title: str) -> None:
    print(f"\n== {title}", flush=True)


# ---- 1. hashing ---------------------------------------------------------------------------------------------


def make_photo(seed: int, size: tuple[int, int] = (4000, 3000)) -> bytes:
    from threadline.synth.media import pattern

    img = pattern(f"bench-{seed}").resize(size, Image.Resampling.BICUBIC)
    grain = np.random.default_rng(seed).normal(0, 4, (size[1], size[0], 3)).astype(np.float32)
    arr = np.clip(np.asarray(img, dtype=np.float32) + grain, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def naive_hash(path: Path) -> str:
    import pdqhash

    from threadline.core.pdq import bits_to_hex

    with Image.open(path) as img:
        bits, _ = pdqhash.compute(np.asarray(img.convert("RGB")))
    return bits_to_hex(bits)


def bench_hashing(images: int, workers: int) -> None:
    from threadline.core.db import open_store
    from threadline.core.pdq import hamming
    from threadline.core.settings import Settings
    from threadline.media import scan
    from threadline.media.hashing import DEFAULT_DRAFT, hash_file

    section(f"Hashing: {images} generated 12-megapixel JPEGs")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "media"
        folder.mkdir()
        started = time.perf_counter()
        for i in range(images):
            (folder / f"IMG_{i:04d}.jpg").write_bytes(make_photo(i))
        size = sum(p.stat().st_size for p in folder.iterdir())
        print(f"generated in {time.perf_counter() - started:.1f} s ({size / 1e6:.0f} MB)")
        files = sorted(folder.iterdir())

        started = time.perf_counter()
        full = {p.name: naive_hash(p) for p in files}
        naive_s = time.perf_counter() - started
        print(f"baseline (1 process, full decode + pdqhash): {images / naive_s:.2f} files/s")

        started = time.perf_counter()
        one = {p.name: hash_file(str(p)) for p in files}
        single_s = time.perf_counter() - started
        print(
            f"ours, 1 process (one read, draft >= {DEFAULT_DRAFT} px): {images / single_s:.2f} files/s "
            f"({naive_s / single_s:.1f}x)"
        )

        store = open_store(Settings(home=Path(tmp) / "home"))
        report = scan(store, folder, workers=workers)
        store.dispose()
        print(
            f"ours, `media scan` on {workers} cores into SQLite: {report.hashed / report.seconds:.2f} files/s "
            f"-> ratio {naive_s / report.seconds:.1f}x the naive pipeline"
        )
        distances = Counter(hamming(full[name], r.pdq or "0" * 64) for name, r in one.items())
        print(
            "reduced-size vs full-decode hash, Hamming distance: "
            + ", ".join(f"{d} bits: {n}" for d, n in sorted(distances.items()))
            + f"; max {max(distances)}"
        )
        for target in (1024, 256):
            dist = Counter(hamming(full[p.name], hash_file(str(p), draft=target).pdq or "") for p in files[:8])
            print(f"  draft >= {target} px on 8 files: max {max(dist)} bits ({dict(sorted(dist.items()))})")


# ---- 2. PDQ lookup ------------------------------------------------------------------------------------------


def near_duplicates(rng: np.random.Generator, sources: np.ndarray, max_bits: int = 31) -> np.ndarray:
    n = len(sources)
    bits = np.unpackbits(sources, axis=1)
    flips = rng.integers(0, max_bits + 1, n)
    order = np.argsort(rng.random((n, 256)), axis=1)
    mask = np.zeros((n, 256), dtype=np.uint8)
    rows = np.repeat(np.arange(n), 256).reshape(n, 256)
    chosen = np.arange(256)[None, :] < flips[:, None]
    mask[rows[chosen], order[chosen]] = 1
    return np.packbits(bits ^ mask, axis=1)


def sets_of(results: object, n: int) -> list[set[tuple[int, int]]]:
    return [set(results.of(q)) for q in range(n)]  # type: ignore[attr-defined]


def bench_lookup(known_n: int, queries_n: int, threads: int, faiss_queries: int, layouts: list[int]) -> None:
    import faiss
    import numba

    from threadline.media.pdqindex import FaissMultiHash, MultiIndex, brute_force, make_layout, plan_layout

    section(f"PDQ lookup: {known_n:,} known hashes, {queries_n:,} queries (half within 31 bits), {threads} threads")
    numba.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)
    rng = np.random.default_rng(2024)
    known = rng.integers(0, 256, (known_n, 32), dtype=np.uint8)
    half = queries_n // 2
    queries = np.concatenate(
        [
            near_duplicates(rng, known[rng.integers(0, known_n, half)]),
            rng.integers(0, 256, (queries_n - half, 32), np.uint8),
        ]
    )
    queries = queries[rng.permutation(queries_n)]
    sample = rng.choice(queries_n, 100, replace=False)
    started = time.perf_counter()
    truth = sets_of(brute_force(known, queries[sample], 31), len(sample))
    print(f"brute force (the reference) on 100 queries: {100 / (time.perf_counter() - started):.1f} lookups/s")

    chosen = plan_layout(known_n)
    candidates = {len(chosen): chosen} | {m: make_layout(m, 31) for m in layouts}
    best = probing = None
    for m, layout in sorted(candidates.items()):
        gc.collect()
        started = time.perf_counter()
        index = MultiIndex.build(known, 31, layout)
        build_s = time.perf_counter() - started
        index.search(queries[:10])  # compile / warm
        probe = queries[: min(queries_n, 20_000 if m != len(chosen) else 100_000)]
        started = time.perf_counter()
        found = index.search(probe, batch=False)
        rate = len(probe) / (time.perf_counter() - started)
        same = sets_of(index.search(queries[sample]), len(sample)) == truth
        tag = " (plan_layout's choice)" if m == len(chosen) else ""
        print(
            f"multi-index m={m} [{', '.join(sorted({f'{c.bits}b/r{c.radius}' for c in layout}))}]{tag}: "
            f"build {build_s:.1f} s, memory {index.nbytes / 2**30:.2f} GiB, {rate:,.0f} lookups/s on {len(probe):,} "
            f"queries ({int((np.diff(found.lims) > 0).sum()):,} with a match), identical to brute force: {same}",
            flush=True,
        )
        if m == len(chosen):
            probing = rate
            started, cpu = time.perf_counter(), time.process_time()
            joined = index.search(queries, batch=True)
            wall = time.perf_counter() - started
            best = queries_n / wall
            same = sets_of(index.search(queries[sample], batch=True), len(sample)) == truth
            agree = np.array_equal(joined.ids[: found.lims[-1]], found.ids) if len(probe) == queries_n else "n/a"
            print(
                f"batch join (16 chunks of 16 bits, both sides sorted per chunk) on all {queries_n:,} queries: "
                f"{wall:.1f} s wall, {time.process_time() - cpu:.1f} s CPU, {best:,.0f} lookups/s "
                f"({best / probing:.1f}x probing), identical to brute force: {same}, to probing: {agree}",
                flush=True,
            )
            del joined
        del index, found
    numba.set_num_threads(1)
    index = MultiIndex.build(known, 31, chosen)
    index.search(queries[:10])
    started = time.perf_counter()
    index.search(queries[:20_000])
    print(
        f"multi-index m={len(chosen)} on 1 thread: {min(20_000, queries_n) / (time.perf_counter() - started):,.0f}"
        " lookups/s"
    )
    del index
    numba.set_num_threads(threads)
    gc.collect()

    before = rss_mb()
    started = time.perf_counter()
    fx = FaissMultiHash(known)
    build_s = time.perf_counter() - started
    memory = rss_mb() - before
    n = min(faiss_queries, queries_n)
    started = time.perf_counter()
    fx.search(queries[:n])
    rate = n / (time.perf_counter() - started)
    same = sets_of(fx.search(queries[sample]), len(sample)) == truth
    print(
        f"baseline FAISS IndexBinaryMultiHash(256,16,16), nflip=1: build {build_s:.1f} s, memory +{memory / 1024:.2f} "
        f"GiB (RSS), {rate:,.0f} lookups/s on {n:,} queries, identical to brute force: {same}"
    )
    if best:
        print(f"-> ratio {best / rate:.1f}x FAISS (the batch join, as triage runs a seizure, against FAISS per query)")


# ---- 3. exact -----------------------------------------------------------------------------------------------


def bench_exact(known_n: int, seized_n: int) -> None:
    from threadline.media.exact import ExactIndex

    section(f"Exact: {seized_n:,} seized SHA-256 against {known_n:,} known (on disk, memory-mapped)")
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        path = Path(tmp) / "known.u8"
        started = time.perf_counter()
        with path.open("wb") as fh:
            for start in range(0, known_n, 5_000_000):
                fh.write(rng.bytes(32 * min(5_000_000, known_n - start)))
        known = np.memmap(path, dtype=np.uint8, mode="r", shape=(known_n, 32))
        print(f"wrote {known_n * 32 / 1e9:.1f} GB of known hashes in {time.perf_counter() - started:.1f} s")
        rows = rng.integers(0, known_n, seized_n // 2)
        seized = np.concatenate(
            [np.asarray(known[np.sort(rows)]), rng.integers(0, 256, (seized_n - len(rows), 32), np.uint8)]
        )
        seized = seized[rng.permutation(seized_n)]

        before = rss_mb()
        started = time.perf_counter()
        prefixes = np.empty(known_n, dtype=np.uint64)
        for start in range(0, known_n, 10_000_000):
            stop = min(known_n, start + 10_000_000)
            prefixes[start:stop] = np.ascontiguousarray(known[start:stop, :8]).view(">u8").ravel()
        index = ExactIndex.from_prefixes(known, prefixes)
        del prefixes
        build_s = time.perf_counter() - started
        started = time.perf_counter()
        found = index.match(seized)
        match_s = time.perf_counter() - started
        print(
            f"ours: sort {build_s:.1f} s + match {match_s:.1f} s = {build_s + match_s:.1f} s; "
            f"{int((found >= 0).sum()):,} matches (planted {len(rows):,}); index {index.nbytes / 2**30:.2f} GiB, "
            f"RSS growth {(rss_mb() - before) / 1024:.2f} GiB"
        )
        ok = all(np.array_equal(known[int(r)], seized[i]) for i, r in enumerate(found[:2000]) if r >= 0)
        print(f"every match verified against the full hash: {ok}")

        slice_n = min(known_n, 5_000_000)
        started = time.perf_counter()
        python_set = {bytes(row) for row in np.asarray(known[:slice_n])}
        hits = sum(1 for row in seized if bytes(row) in python_set)
        naive_s = time.perf_counter() - started
        ours_rate = known_n / (build_s + match_s)
        print(
            f"baseline Python set on {slice_n:,} known: {naive_s:.1f} s ({hits:,} hits) = {slice_n / naive_s:,.0f} "
            f"known/s; ours {ours_rate:,.0f} known/s -> ratio {ours_rate / (slice_n / naive_s):.1f}x"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--known", type=int, default=10_000_000)
    parser.add_argument("--queries", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--faiss-queries", type=int, default=1000)
    parser.add_argument("--layouts", default="12", help="extra multi-index chunk counts to measure, e.g. 12,13")
    parser.add_argument("--exact-known", type=int, default=100_000_000)
    parser.add_argument("--exact-seized", type=int, default=1_000_000)
    parser.add_argument("--skip", default="")
    args = parser.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    if "hashing" not in skip:
        bench_hashing(args.images, args.workers)
    if "lookup" not in skip:
        layouts = [int(m) for m in args.layouts.split(",") if m]
        bench_lookup(args.known, args.queries, args.threads, args.faiss_queries, layouts)
    if "exact" not in skip:
        bench_exact(args.exact_known, args.exact_seized)


if __name__ == "__main__":
    main()
