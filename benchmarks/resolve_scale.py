"""Resolution at scale: wall time, CPU time and peak memory of `resolve` on about a million records, next to
generic Splink (stock comparisons, default training, the blocking of resolve_accuracy.py) on the same records,
measured in the same run.

    uv run python benchmarks/resolve_scale.py --people 140000     # 1.0M person-like records

Each side runs in its own process, so peak RSS is its own, under an address-space limit (LIMIT) so neither can
take the machine down. CPU seconds are printed too: on a shared machine wall time depends on the neighbours,
CPU time much less. The seizure and the ingested database are cached under /tmp/threadline-bench (see
resolve_accuracy.py)."""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from resolve_accuracy import GENERIC_MEMORY, fresh_copy, generic_splink_child, prepared_store

from threadline.resolve import ResolveSettings, resolve

GOAL_SECONDS = 180
GOAL_GB = 6
LIMIT = GENERIC_MEMORY


def _child(kind: str, home: str) -> None:
    store = fresh_copy(Path(home), f"resolve-scale-{kind}")
    started = time.perf_counter()
    if kind == "threadline":
        report = resolve(store, ResolveSettings(), actor="benchmark")
        extra = {
            "records": report.records,
            "subjects": report.subjects,
            "blocked_pairs": report.blocked_pairs,
            "timings": report.timings,
        }
    else:
        with tempfile.TemporaryDirectory() as folder:
            extra = generic_splink_child(Path(store.settings.home), 7, Path(folder) / "clusters.parquet")
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "kind": kind,
                "seconds": round(seconds, 1),
                "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
                "peak_rss_gb": round(usage.ru_maxrss / 1024 / 1024, 2),
                **extra,
            }
        )
    )


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=140000)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    _, home = prepared_store(args.people)
    results = {}
    for kind in ("threadline", "generic"):
        done = subprocess.run(
            [sys.executable, __file__, "--child", kind, str(home)],
            capture_output=True,
            text=True,
            preexec_fn=_limit,
            check=False,
        )
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            results[kind] = {"kind": kind, "failed": f"exit {done.returncode}: {tail}"}
        else:
            results[kind] = json.loads(lines[-1])
        print(json.dumps(results[kind]), flush=True)
    ours, generic = results["threadline"], results["generic"]
    if "failed" in ours:
        print(f"Threadline did not finish: {ours['failed']}")
        return
    line = (
        f"{ours['records']:,} records: Threadline {ours['seconds']} s wall, {ours['cpu_seconds']} s CPU, "
        f"{ours['peak_rss_gb']} GB peak (goal <= {GOAL_SECONDS} s, <= {GOAL_GB} GB: "
        f"{'met' if ours['seconds'] <= GOAL_SECONDS and ours['peak_rss_gb'] <= GOAL_GB else 'NOT met'})"
    )
    if "failed" in generic:
        line += f" | generic Splink did not finish within {LIMIT >> 30} GB: {generic['failed']}"
    else:
        line += (
            f" | generic Splink {generic['seconds']} s wall, {generic['cpu_seconds']} s CPU, "
            f"{generic['peak_rss_gb']} GB | wall ratio {ours['seconds'] / generic['seconds']:.2f}x, "
            f"CPU ratio {ours['cpu_seconds'] / generic['cpu_seconds']:.2f}x"
        )
    print(line)


if __name__ == "__main__":
    main()
