"""End to end at Project Spade scale: `uv run python benchmarks/spade_scale.py [--people 100000]
[--media 1000000] [--known 10000000] [--db postgresql://…]`.

Builds a synthetic seizure of --people invented people (several files per person), adds a forensic hash list of
--media seized files (random hashes, with a share of planted copies and near copies of known material) and a known
PDQ set of --known hashes (random hashes plus the planted originals), then runs `threadline run` once, in a fresh
process, ingest to referral packages, on SQLite (and on PostgreSQL with --db). It prints wall time, peak RSS and
each stage's share of the time; the goal is under 10 minutes and under 8 GB on SQLite on this 2-core machine.

Baseline, measured in the same run: the same stages as separate `threadline` commands, one process each (what an
analyst would type without `run`), on a fresh store of the same kind. With --skip-baseline it is left out.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

CACHE = Path("/tmp/threadline-bench/spade")


def threadline() -> list[str]:
    script = Path(sys.executable).parent / "threadline"
    return [str(script)] if script.exists() else [sys.executable, "-m", "threadline"]


def near(rng: random.Random, hex_hash: str, bits: int) -> str:
    value = int(hex_hash, 16)
    for bit in rng.sample(range(256), bits):
        value ^= 1 << bit
    return f"{value:064x}"


def build(people: int, media: int, known: int, seed: int) -> Path:
    """The seizure folder with its extra hash list and the known set, built once per size and cached."""
    from threadline.synth.generate import generate

    base = CACHE / f"p{people}-m{media}-k{known}-s{seed}"
    if (base / "done").exists():
        return base
    shutil.rmtree(base, ignore_errors=True)
    started = time.monotonic()
    generate(base / "synth", people, seed=seed)
    print(f"synthetic seizure of {people:,} people: {time.monotonic() - started:.0f} s", flush=True)
    rng = random.Random(seed)
    originals = [f"{rng.getrandbits(256):064x}" for _ in range(max(1, known // 1000))]
    started = time.monotonic()
    with (base / "known.pdq").open("w", encoding="ascii") as out:
        for h in originals:
            out.write(f"{h},100\n")
        for _ in range(known - len(originals)):
            out.write(f"{rng.getrandbits(256):064x},100\n")
    seized = base / "synth" / "seizure" / "forensic_hashes_nas02.csv"
    custodians = [f"user{n:05d}" for n in range(2000)]
    with seized.open("w", encoding="ascii") as out:
        out.write("path,size,md5,sha1,sha256,pdq,device,custodian\n")
        for n in range(media):
            roll = rng.random()
            if roll < 0.002:
                pdq = rng.choice(originals)
            elif roll < 0.004:
                pdq = near(rng, rng.choice(originals), rng.randrange(1, 30))
            else:
                pdq = f"{rng.getrandbits(256):064x}"
            out.write(
                f"nas02/{n // 1000:04d}/IMG_{n:07d}.jpg,{rng.randrange(20_000, 4_000_000)},"
                f"{rng.getrandbits(128):032x},{rng.getrandbits(160):040x},{rng.getrandbits(256):064x},{pdq},"
                f"NAS02,{rng.choice(custodians)}\n"
            )
    print(f"{media:,} seized hashes and {known:,} known PDQ hashes: {time.monotonic() - started:.0f} s", flush=True)
    (base / "done").write_text("ok")
    return base


def fresh_database(server: str | None, home: Path) -> tuple[str, object]:
    if server is None:
        return f"sqlite:///{home / 'threadline.db'}", None
    from sqlalchemy import create_engine, make_url, text

    from threadline.core.settings import normalise_database_url

    admin_url = normalise_database_url(server)
    name = f"tl_spade_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), drop


def run_child(command: list[str], env: dict[str, str]) -> tuple[float, int, str, str, int]:
    """Wall seconds, peak RSS (bytes: the largest single process of the tree, as the kernel reports it), stdout,
    stderr and exit code."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) * 1024, done.stdout, done.stderr, done.returncode


def prepare_home(home: Path, env: dict[str, str]) -> None:
    """The agency directory and keys for every national agency (each installation of the simulation)."""
    code = (
        "from threadline.cli.demo import generate_demo_keys\n"
        "from threadline.core.db import open_store\n"
        "from threadline.core.settings import load_settings\n"
        "from threadline.directory import seed_national_agencies\n"
        "store = open_store(load_settings())\n"
        "with store.session() as s: seed_national_agencies(s)\n"
        "generate_demo_keys(store)\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True)


def pipeline_run(base: Path, server: str | None, label: str) -> dict[str, object]:
    home = base / f"home-{label}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    url, drop = fresh_database(server, home)
    env = {**os.environ, "THREADLINE_HOME": str(home), "THREADLINE_DATABASE_URL": url}
    try:
        prepare_home(home, env)
        command = [
            *threadline(),
            "run",
            str(base / "synth" / "seizure"),
            "--operation",
            "Spade",
            "--originator",
            "CA",
            "--known",
            str(base / "known.pdq"),
            "--json",
        ]
        wall, peak, stdout, stderr, code = run_child(command, env)
        if code != 0 or not stdout.strip():
            raise SystemExit(f"threadline run failed ({code}):\n{stderr[-4000:]}")
        report = json.loads(stdout)
    finally:
        if drop is not None:
            drop()  # type: ignore[operator]
    stages = {s["stage"]: s["seconds"] for s in report["stages"]}
    return {"label": label, "wall": wall, "peak_rss": peak, "stages": stages, "summary": report["summary"]}


def separate_commands(base: Path, server: str | None) -> float:
    """The baseline: each stage as its own command and process, as typed by hand."""
    home = base / "home-baseline"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    url, drop = fresh_database(server, home)
    env = {**os.environ, "THREADLINE_HOME": str(home), "THREADLINE_DATABASE_URL": url}
    seizure = str(base / "synth" / "seizure")
    steps = [
        ["ingest", seizure, "--operation", "Spade"],
        ["hashes", "import", str(base / "known.pdq")],
        ["media", "scan", seizure, "--operation", "Spade"],
        ["triage"],
        ["resolve"],
        ["locate"],
        ["rank"],
        ["refer", "--operation", "Spade", "--originator", "CA"],
    ]
    try:
        prepare_home(home, env)
        started = time.monotonic()
        for step in steps:
            done = subprocess.run([*threadline(), *step], env=env, capture_output=True, text=True)
            if done.returncode not in (0, 1):
                raise SystemExit(f"baseline step failed: {' '.join(step)}\n{done.stderr[-3000:]}")
        return time.monotonic() - started
    finally:
        if drop is not None:
            drop()  # type: ignore[operator]


def show(result: dict[str, object]) -> None:
    wall = float(result["wall"])  # type: ignore[arg-type]
    stages: dict[str, float] = result["stages"]  # type: ignore[assignment]
    print(f"\n== {result['label']}: {wall:.0f} s wall, peak RSS {int(result['peak_rss']) / 2**30:.2f} GiB")  # type: ignore[call-overload]
    for stage, seconds in stages.items():
        print(f"  {stage:<8} {seconds:8.1f} s  {100 * seconds / wall:5.1f}%")
    print("  summary:", json.dumps(result["summary"], sort_keys=True)[:1500])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--media", type=int, default=1_000_000)
    parser.add_argument("--known", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", help="Also run on this PostgreSQL server (a fresh database is created).")
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    base = build(args.people, args.media, args.known, args.seed)
    results = [pipeline_run(base, None, "sqlite")]
    show(results[0])
    if args.db:
        results.append(pipeline_run(base, args.db, "postgresql"))
        show(results[1])
    sqlite = results[0]
    wall = float(sqlite["wall"])  # type: ignore[arg-type]
    goal = "met" if wall < 600 and int(sqlite["peak_rss"]) < 8 * 2**30 else "NOT met"  # type: ignore[call-overload]
    print(f"\nGoal (SQLite < 600 s and < 8 GB): {goal}")
    if not args.skip_baseline:
        baseline = separate_commands(base, None)
        ratio = baseline / wall
        print(f"Baseline (one command per stage, SQLite): {baseline:.0f} s; `threadline run` is {ratio:.2f}x as fast")


if __name__ == "__main__":
    main()
