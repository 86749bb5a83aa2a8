"""Benchmark: synthetic seizure generation speed against naive per-person Faker.

    uv run python benchmarks/synth.py [--people 100000] [--seed 7]

Baseline (measured in the same run): naive per-person Faker, i.e. ``name()``, ``address()``, ``email()``,
``phone_number()`` and ``date_of_birth()`` from ``Faker(locale)`` for each person of a 5k sample spread across the
same countries, extrapolated to --people (``simple_profile()`` fails for some locales, e.g. es_AR). The baseline
produces far less than ``generate`` (five fields, no files, no noise, no truth), so the ratio understates what
pooling buys.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from faker import Faker

from threadline.synth import generate
from threadline.synth.countries import select_countries
from threadline.synth.people import build_people


def baseline_people_per_second(sample: int, countries: int, seed: int) -> float:
    chosen = select_countries(countries)
    fakers = [Faker(c.locale) for c in chosen]
    for i, f in enumerate(fakers):
        f.seed_instance(seed + i)
    wanted = ("name", "address", "email", "phone_number", "date_of_birth")
    calls = [[getattr(f, m) for m in wanted if hasattr(f, m)] for f in fakers]  # a few locales lack a field
    weights = [c.weight for c in chosen]
    total_w = sum(weights)
    started = time.perf_counter()
    done = 0
    for fields, w in zip(calls, weights, strict=True):
        for _ in range(max(1, round(sample * w / total_w))):
            for call in fields:
                call()
            done += 1
    return done / (time.perf_counter() - started)


def folder_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--people", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--countries", type=int, default=50)
    ap.add_argument("--baseline-sample", type=int, default=5_000)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="threadline-synth-bench-"))
    try:
        started = time.perf_counter()
        report = generate(tmp / "out", args.people, seed=args.seed, countries=args.countries)
        wall = time.perf_counter() - started
        size = folder_size(tmp / "out")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ours = args.people / wall
    started = time.perf_counter()
    build_people(args.people, select_countries(args.countries), args.seed)
    people_stage = args.people / (time.perf_counter() - started)
    base = baseline_people_per_second(args.baseline_sample, args.countries, args.seed)
    print(
        f"synth: {args.people:,} people, {report.countries} countries, {sum(report.records.values()):,} records, "
        f"{report.media_files:,} media files, {size / 1e6:,.0f} MB on disk"
    )
    print(f"synth end to end: wall {wall:.1f} s, {ours:,.0f} people/s")
    print(f"synth people stage alone (names, addresses, e-mail, phones, households): {people_stage:,.0f} people/s")
    print(
        f"baseline, naive per-person Faker (name, address, email, phone, dob; {args.baseline_sample:,} sample, "
        f"extrapolated): {base:,.0f} people/s = {args.people / base:.1f} s for {args.people:,}"
    )
    print(f"ratio people stage / baseline: {people_stage / base:.2f}x")
    print(f"ratio end to end / baseline: {ours / base:.2f}x (whole seizure, media and truth vs five Faker fields)")


if __name__ == "__main__":
    main()
