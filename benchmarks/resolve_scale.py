"""Resolution at scale: wall time and peak memory of `resolve` on about a million records, and the ratio to
generic Splink (stock comparisons, default training) on the same records, measured in the same run.

    uv run python benchmarks/resolve_scale.py --people 165000     # ~1M person-like records

Each side runs in its own process so peak RSS is its own. The seizure and the ingested database are cached
under /tmp/threadline-bench (see resolve_accuracy.py)."""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from resolve_accuracy import fresh_copy, generic_splink, prepared_store

from threadline.resolve import ResolveSettings, resolve


def _child(kind: str, home: str) -> None:
    store = fresh_copy(Path(home), f"resolve-scale-{kind}")
    started = time.perf_counter()
    if kind == "threadline":
        report = resolve(store, ResolveSettings(), actor="benchmark")
        extra = {"records": report.records, "subjects": report.subjects, "blocked_pairs": report.blocked_pairs}
    else:
        _, _seconds = generic_splink(store, 7)
        extra = {}
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    print(json.dumps({"kind": kind, "seconds": round(seconds, 1), "peak_rss_gb": round(peak, 2), **extra}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=165000)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    _, home = prepared_store(args.people)
    results = {}
    for kind in ("threadline", "generic"):
        out = subprocess.run(
            [sys.executable, __file__, "--child", kind, str(home)], capture_output=True, text=True, check=True
        )
        results[kind] = json.loads(out.stdout.strip().splitlines()[-1])
        print(json.dumps(results[kind]), flush=True)
    ours, generic = results["threadline"], results["generic"]
    print(
        f"{ours.get('records', 0):,} records: Threadline {ours['seconds']} s, {ours['peak_rss_gb']} GB peak | "
        f"generic Splink {generic['seconds']} s, {generic['peak_rss_gb']} GB | "
        f"time ratio {ours['seconds'] / generic['seconds']:.2f}x (goal <= 180 s, <= 6 GB)"
    )


if __name__ == "__main__":
    main()
