"""Ingest throughput and memory: `uv run python benchmarks/ingest.py [--rows 1000000] [--db URL]`.

Writes a customer CSV of invented rows, ingests it with `threadline ingest` in a fresh process (rows/s, peak RSS),
and measures the naive baseline in the same run: pandas.read_csv of the whole file, then one ORM object per row
(on --baseline-rows rows, since it is slow), into a fresh database of the same kind. Prints the ratio."""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

GIVEN = ["Anna", "Bob", "Carla", "Dieter", "Émile", "Fatma", "Grzegorz", "Hana", "Ivan", "Юрий", "Ελένη", "Sven"]
FAMILY = ["Example", "Sample", "Müller", "Kowalski", "Иванов", "Παπαδόπουλος", "Dupont", "García", "Rossi", "Test"]
CITIES = [
    ("London", "GB", "+44 20 7946 "),
    ("Berlin", "DE", "030 1234"),
    ("Paris", "FR", "+33 1 4000 "),
    ("Madrid", "ES", "+34 91 000 "),
    ("Toronto", "CA", "+1 416 555 "),
]


def write_csv(path: Path, rows: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("customer_id,first_name,last_name,email,phone,city,country,date_of_birth,occupation\n")
        for i in range(rows):
            given, family = rng.choice(GIVEN), rng.choice(FAMILY)
            city, country, prefix = rng.choice(CITIES)
            out.write(
                f"C{i},{given},{family},user{i}@example.com,{prefix}{rng.randrange(1000, 9999)},{city},{country},"
                f"{rng.randrange(1, 28):02d}.{rng.randrange(1, 13):02d}.{rng.randrange(1940, 2005)},clerk\n"
            )


def fresh_database(kind_url: str | None, folder: Path, name: str) -> tuple[str, object]:
    """A new empty database: an SQLite file, or a new PostgreSQL database on the given server."""
    if kind_url is None:
        return f"sqlite:///{folder / (name + '.db')}", None
    from sqlalchemy import create_engine, make_url, text

    from threadline.core.settings import normalise_database_url

    admin_url = normalise_database_url(kind_url)
    db_name = f"tl_bench_{name}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{db_name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))

    return make_url(admin_url).set(database=db_name).render_as_string(hide_password=False), drop


def run_measured(command: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in bytes and stderr of one child process."""
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    stderr = process.stderr.read() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"command failed: {' '.join(command)}\n{stderr}")
    return wall, usage.ru_maxrss * 1024, stderr


BASELINE = """
import sys, pandas
from threadline.core.db import open_store
from threadline.core.settings import Settings
from threadline.model import Operation, Seizure, SourceFile, SourceRecord
path, url, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
frame = pandas.read_csv(path, dtype=str, keep_default_na=False, nrows=rows)
store = open_store(Settings(database_url=url))
with store.session() as session:
    op = Operation(name="baseline"); seizure = Seizure(operation=op, label="b", source_path=path)
    source = SourceFile(seizure=seizure, path="customers.csv", sha256="0" * 64, size=0)
    session.add_all([op, seizure, source]); session.flush()
    for i, row in enumerate(frame.to_dict("records"), start=2):
        session.add(SourceRecord(source_file_id=source.id, row=i, locator=str(i), record_type="customer",
                                 raw=row, fields=dict(row)))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--baseline-rows", type=int, default=100_000)
    parser.add_argument("--db", default=None, help="PostgreSQL server URL; default SQLite files")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        seizure = folder / "seizure"
        seizure.mkdir()
        csv_path = seizure / "customers.csv"
        write_csv(csv_path, args.rows)
        size_mb = csv_path.stat().st_size / 1e6
        print(f"input: {args.rows:,} rows, {size_mb:.0f} MB, database: {'PostgreSQL' if args.db else 'SQLite'}")

        url, drop = fresh_database(args.db, folder, "threadline")
        threadline = [
            str(Path(sys.executable).parent / "threadline"),
            "ingest",
            str(seizure),
            "--db",
            url,
            "--home",
            str(folder / "home"),
            "--json",
        ]
        wall, rss, _ = run_measured(threadline, env)
        ours = args.rows / wall
        print(f"threadline ingest: {wall:.1f} s, {ours:,.0f} rows/s, peak RSS {rss / 2**20:.0f} MiB")
        if drop:
            drop()  # type: ignore[operator]

        url, drop = fresh_database(args.db, folder, "baseline")
        rows = min(args.baseline_rows, args.rows)
        b_wall, b_rss, _ = run_measured([sys.executable, "-c", BASELINE, str(csv_path), url, str(rows)], env)
        base = rows / b_wall
        print(
            f"baseline (pandas.read_csv + one ORM object per row, {rows:,} rows): {b_wall:.1f} s, "
            f"{base:,.0f} rows/s, peak RSS {b_rss / 2**20:.0f} MiB"
        )
        if drop:
            drop()  # type: ignore[operator]
        print(
            f"ratio: {ours / base:.1f}x the baseline's rows/s (goal >= 5x and >= 20,000 rows/s; "
            f"peak RSS goal < 1024 MiB: {'met' if rss < 2**30 else 'NOT met'})"
        )


if __name__ == "__main__":
    main()
