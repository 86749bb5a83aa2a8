"""Ingest throughput and memory: `uv run python benchmarks/ingest.py [--rows 1000000] [--db URL]`.

Writes a CSV of invented customers, ingests it with `threadline ingest` in a fresh process (rows/s over the whole
command; peak memory of its largest process and of all its processes together), and measures the naive baseline in
the same run on the same file, once before and once after, the faster run counting: pandas.read_csv of the first
--baseline-rows rows (the baseline keeps every ORM object of its session, so a million rows would not fit in
memory), then one ORM object per row, into a fresh database of the same kind. Prints the ratio of rows per second
and, since wall-clock rates depend on what else the machine runs, CPU time per row of both."""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from anyascii import anyascii
from faker import Faker

# Invented customers of an international distributor: (Faker locale, ISO code, share in percent, other ways the
# country is written, how that country writes a date). Month-first US dates mixed with day-first European ones
# make the date column's order undecided, so each date is read by its record's country, as in a real list.
LOCALES = [
    ("en_GB", "GB", 14, ("United Kingdom", "UK", "England"), "{d:02d}/{m:02d}/{y}"),
    ("de_DE", "DE", 14, ("Germany", "Deutschland"), "{d:02d}.{m:02d}.{y}"),
    ("fr_FR", "FR", 9, ("France",), "{d:02d}/{m:02d}/{y}"),
    ("es_ES", "ES", 7, ("Spain", "España"), "{d:02d}/{m:02d}/{y}"),
    ("it_IT", "IT", 7, ("Italy", "Italia"), "{d:02d}/{m:02d}/{y}"),
    ("nl_NL", "NL", 5, ("Netherlands", "Nederland", "Holland"), "{d:02d}-{m:02d}-{y}"),
    ("pl_PL", "PL", 6, ("Poland", "Polska"), "{d:02d}.{m:02d}.{y}"),
    ("ru_RU", "RU", 6, ("Russia", "Россия"), "{d:02d}.{m:02d}.{y}"),
    ("en_US", "US", 14, ("USA", "United States"), "{m:02d}/{d:02d}/{y}"),
    ("en_CA", "CA", 5, ("Canada",), "{y}-{m:02d}-{d:02d}"),
    ("pt_BR", "BR", 4, ("Brazil", "Brasil"), "{d:02d}/{m:02d}/{y}"),
    ("sv_SE", "SE", 3, ("Sweden", "Sverige"), "{y}-{m:02d}-{d:02d}"),
    ("el_GR", "GR", 2, ("Greece", "Ελλάδα"), "{d:02d}/{m:02d}/{y}"),
    ("tr_TR", "TR", 2, ("Turkey", "Türkiye"), "{d:02d}.{m:02d}.{y}"),
    ("uk_UA", "UA", 1, ("Ukraine", "Україна"), "{d:02d}.{m:02d}.{y}"),
    ("ro_RO", "RO", 1, ("Romania", "România"), "{d:02d}.{m:02d}.{y}"),
]
POOL = 3000  # Faker draws per locale and field; a Faker call per cell would make writing the file the slow part
COLUMNS = "customer_id,first_name,last_name,email,phone,street,city,postal_code,country,date_of_birth,occupation"


@dataclass
class _Pool:
    code: str
    written: tuple[str, ...]
    date_format: str
    given: list[str]
    family: list[str]
    addresses: list[tuple[str, str, str]]
    phones: list[str]
    jobs: list[str]
    domains: list[str]


def _pools(seed: int) -> tuple[list[_Pool], list[int]]:
    pools = []
    for i, (locale, code, _share, written, date_format) in enumerate(LOCALES):
        fake = Faker(locale)
        fake.seed_instance(seed + i)
        pools.append(
            _Pool(
                code,
                written,
                date_format,
                [fake.first_name() for _ in range(POOL)],
                [fake.last_name() for _ in range(POOL)],
                [(fake.street_address().replace("\n", " "), fake.city(), fake.postcode()) for _ in range(POOL)],
                [fake.phone_number() for _ in range(POOL)],
                [fake.job() for _ in range(POOL // 10)],
                sorted({fake.free_email_domain() for _ in range(40)} | {fake.domain_name() for _ in range(20)}),
            )
        )
    return pools, [share for _, _, share, _, _ in LOCALES]


def _fresh_digits(rng: random.Random, text: str, last: int) -> str:
    """The same shape with other last digits: a pooled phone number or postal code becomes a new one, with its
    country and area codes kept."""
    chars = list(text)
    places = [i for i, c in enumerate(chars) if c.isdigit()][-last:]
    for i in places:
        chars[i] = str(rng.randrange(10))
    return "".join(chars)


def write_csv(path: Path, rows: int, seed: int = 1) -> None:
    """Customers from 16 countries in their own scripts and formats: names from Faker's lists, e-mail addresses,
    phone numbers (national and international forms) and postal codes nearly all distinct, street addresses,
    cities and occupations from pools of thousands, a few empty cells."""
    rng = random.Random(seed)
    pools, shares = _pools(seed)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(COLUMNS + "\n")
        writer = csv.writer(out, lineterminator="\n")
        for i in range(rows):
            pool = rng.choices(pools, shares)[0]
            given, family = rng.choice(pool.given), rng.choice(pool.family)
            street, city, postcode = rng.choice(pool.addresses)
            local = anyascii(rng.choice((f"{given}.{family}", f"{given[0]}{family}", f"{family}{given[:2]}")))
            local = "".join(c for c in local.lower() if c.isalnum() or c == ".").strip(".") or "x"
            email = f"{local}{i}@{rng.choice(pool.domains)}"
            phone = _fresh_digits(rng, rng.choice(pool.phones), 4) if rng.random() > 0.08 else ""
            country = pool.code if rng.random() < 0.7 else rng.choice(pool.written)
            born = pool.date_format.format(d=rng.randrange(1, 29), m=rng.randrange(1, 13), y=rng.randrange(1940, 2006))
            writer.writerow(
                (
                    f"C{i:07d}",
                    given,
                    family,
                    email,
                    phone,
                    street,
                    city,
                    _fresh_digits(rng, postcode, 2),
                    country,
                    born if rng.random() > 0.05 else "",
                    rng.choice(pool.jobs),
                )
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


def _tree_pss(root: int) -> int:
    """Proportional set size of a process and all its descendants in bytes: shared pages counted once, so
    worker processes forked from the ingest are added without counting what they share with it twice."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/smaps_rollup") as handle:
                total += next(int(line.split()[1]) * 1024 for line in handle if line.startswith("Pss:"))
        except (OSError, StopIteration):
            continue
    return total


def run_measured(command: list[str], env: dict[str, str]) -> tuple[float, float, int, int | None, str]:
    """Wall seconds, CPU seconds (its own and its worker processes'), peak RSS of the largest process, peak PSS
    of all its processes together (sampled every 0.2 s, Linux only) in bytes, and stderr of one child process."""
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak: list[int | None] = [0 if os.path.exists("/proc/self/smaps_rollup") else None]
    done = threading.Event()

    def sample() -> None:
        while peak[0] is not None and not done.wait(0.2):
            peak[0] = max(peak[0], _tree_pss(process.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stderr = process.stderr.read() if process.stderr else ""
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    done.set()
    sampler.join()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"command failed: {' '.join(command)}\n{stderr}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, peak[0], stderr


def _memory(rss: int, pss: int | None) -> str:
    together = f", all its processes together {pss / 2**20:.0f} MiB (PSS)" if pss is not None else ""
    return f"peak RSS {rss / 2**20:.0f} MiB (largest process){together}"


BASELINE = """
import sys, time, pandas
from threadline.core.db import open_store
from threadline.core.settings import Settings
from threadline.model import Operation, Seizure, SourceFile, SourceRecord
started = time.monotonic()
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
print(time.monotonic() - started, file=sys.stderr)
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

        rows = min(args.baseline_rows, args.rows)
        # The baseline runs before and after Threadline and its faster run counts: on a shared machine the
        # load changes from minute to minute, and this way a quiet moment never favours Threadline alone.
        first = run_baseline(args.db, folder, csv_path, rows, env, "before")

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
        wall, cpu, rss, pss, _ = run_measured(threadline, env)
        ours = args.rows / wall
        print(
            f"threadline ingest: {wall:.1f} s, {ours:,.0f} rows/s; CPU {cpu:.1f} s in all processes, "
            f"{cpu / args.rows * 1e6:.0f} µs a row; {_memory(rss, pss)}"
        )
        floor = write_floor(url, folder) if args.db is None else None
        if drop:
            drop()  # type: ignore[operator]

        base = max(first, run_baseline(args.db, folder, csv_path, rows, env, "after"))
        memory = max(rss, pss or 0)
        if floor is not None:
            # What 5x the baseline leaves a row, in CPU time over all the machine's cores, against the database
            # work alone: the gap is what reading and normalising may cost.
            budget = (os.cpu_count() or 1) / (5 * base) * 1e6
            print(
                f"writing alone (the same records and identifiers, already built, into a fresh store with the "
                f"ingest's executemany and settings): {floor * 1e6:.0f} µs CPU a row; at 5x the baseline a row may "
                f"cost {budget:.0f} µs of CPU on this machine's {os.cpu_count()} cores, all processes together "
                f"(Threadline: {cpu / args.rows * 1e6:.0f})"
            )
        # Wall-clock rates depend on what else the machine runs; CPU per row does not, so both are printed.
        print(
            f"ratio: {ours / base:.1f}x the baseline's best rows/s (goal >= 5x and >= 20,000 rows/s; "
            f"peak memory goal < 1024 MiB: {'met' if memory < 2**30 else 'NOT met'})"
        )


def write_floor(url: str, folder: Path) -> float:
    """CPU seconds a row to write Threadline's records and identifiers again, already built, into a fresh SQLite
    store, in blocks of 10,000 as the ingest commits them, with the ingest's bulk settings: the part of an
    ingest no reading or normalising can save."""
    import sqlite3

    from threadline.core.db import open_store
    from threadline.core.settings import Settings

    target_url, _ = fresh_database(None, folder, "floor")
    open_store(Settings(database_url=target_url)).engine.dispose()  # the schema, by the migrations
    source = sqlite3.connect(url.removeprefix("sqlite:///"))
    target = sqlite3.connect(target_url.removeprefix("sqlite:///"), isolation_level=None)
    target.execute("PRAGMA cache_size = -65536")
    target.execute("PRAGMA wal_autocheckpoint = 10000")
    for table in ("operation", "seizure", "source_file"):
        rows = source.execute(f"SELECT * FROM {table}").fetchall()
        marks = ", ".join("?" * len(rows[0]))
        target.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
    columns = [r[1] for r in source.execute("PRAGMA table_info(source_record)")]
    record_sql = f"INSERT INTO source_record ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    identifier_sql = "INSERT INTO identifier (record_id, kind, value) VALUES (?, ?, ?)"
    last = source.execute("SELECT max(id) FROM source_record").fetchone()[0] or 0
    spent, rows_written = 0.0, 0
    for low in range(0, last, 10_000):
        records = source.execute(
            f"SELECT {', '.join(columns)} FROM source_record WHERE id > ? AND id <= ?", (low, low + 10_000)
        ).fetchall()
        identifiers = source.execute(
            "SELECT record_id, kind, value FROM identifier WHERE record_id > ? AND record_id <= ?",
            (low, low + 10_000),
        ).fetchall()
        started = time.process_time()
        target.execute("BEGIN")
        target.executemany(record_sql, records)
        target.executemany(identifier_sql, identifiers)
        target.execute("COMMIT")
        spent += time.process_time() - started
        rows_written += len(records)
    source.close()
    target.close()
    return spent / max(1, rows_written)


def run_baseline(db: str | None, folder: Path, csv_path: Path, rows: int, env: dict[str, str], when: str) -> float:
    """One run of the naive baseline into a fresh database; its rows per second."""
    url, drop = fresh_database(db, folder, f"baseline_{when}")
    command = [sys.executable, "-c", BASELINE, str(csv_path), url, str(rows)]
    b_wall, b_cpu, b_rss, b_pss, b_err = run_measured(command, env)
    # The baseline's rate is taken without its interpreter start and imports (a few seconds that a
    # 100,000-row run would otherwise be charged per row), which favours the baseline.
    b_work = float(b_err.strip().splitlines()[-1])
    base = rows / b_work
    print(
        f"baseline {when} (pandas.read_csv + one ORM object per row, {rows:,} rows): {b_wall:.1f} s in all, "
        f"{b_work:.1f} s reading and writing: {base:,.0f} rows/s; CPU {b_cpu:.1f} s, "
        f"{b_cpu / rows * 1e6:.0f} µs a row with start and imports; {_memory(b_rss, b_pss)}"
    )
    if drop:
        drop()  # type: ignore[operator]
    return base


if __name__ == "__main__":
    main()
