"""`kill -9` in the middle of a large file, then a rerun, gives exactly the counts of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from threadline.ingest.pipeline import PARALLEL_MIN_BYTES


def _command() -> list[str]:
    script = Path(sys.executable).parent / "threadline"
    return [str(script)] if script.exists() else [sys.executable, "-m", "threadline"]


def _write_big_csv(folder: Path, rows: int) -> None:
    folder.mkdir()
    with (folder / "customers.csv").open("w", encoding="utf-8") as out:
        out.write("customer_id,first_name,last_name,email,phone,country\n")
        for i in range(rows):
            if i % 997 == 0:
                out.write(f"C{i},broken row\n")
            else:
                out.write(f"C{i},Given{i},Family{i % 501},person{i}@example.com,+44 20 7946 {i % 10000:04d},GB\n")


def _counts(db: Path) -> tuple[int, int, int, int]:
    with closing(sqlite3.connect(db)) as conn:
        records = conn.execute("select count(*) from source_record").fetchone()[0]
        quarantined = conn.execute("select count(*) from quarantined_row").fetchone()[0]
        identifiers = conn.execute("select count(*) from identifier").fetchone()[0]
        rows_read = conn.execute("select sum(rows_read) from source_file").fetchone()[0]
    return records, quarantined, identifiers, rows_read


def _processes_naming(text: str) -> list[int]:
    """Live processes whose command line contains `text` (zombies, already gone but not reaped, excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "stat").read_text().split(") ", 1)[1].startswith("Z"):
                continue
            if text.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except (OSError, IndexError):
            continue
    return found


@pytest.mark.slow
@pytest.mark.parametrize("rows", [30_000, 80_000], ids=["one-process", "workers-and-writer-thread"])
def test_kill_then_rerun_matches_uninterrupted_run(tmp_path: Path, rows: int) -> None:
    """30,000 rows (2 MB) are built in the ingest process; 80,000 (over 4 MB) by worker processes, with the
    blocks committed on a writer thread."""
    seizure = tmp_path / "seizure"
    _write_big_csv(seizure, rows)
    assert ((seizure / "customers.csv").stat().st_size >= PARALLEL_MIN_BYTES) == (rows > 30_000)
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    base = [*_command(), "ingest", str(seizure), "--batch-size", "500", "--home", str(tmp_path / "home")]

    clean_db = tmp_path / "clean.db"
    done = subprocess.run(
        [*base, "--db", f"sqlite:///{clean_db}"], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    expected = _counts(clean_db)
    assert expected[0] + expected[1] == rows and expected[1] == len(range(0, rows, 997))

    crash_db = tmp_path / "crash.db"
    process = subprocess.Popen(
        [*base, "--db", f"sqlite:///{crash_db}"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    killed_at = 0
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
        if not crash_db.exists():
            continue
        try:
            # Read-only and closed at once, so the watcher never holds a lock the ingest has to wait for.
            with closing(sqlite3.connect(f"file:{crash_db}?mode=ro", uri=True, timeout=1)) as conn:
                row = conn.execute("select checkpoint_row from source_file").fetchone()
        except sqlite3.Error:
            continue
        if row and 2000 <= row[0] < rows - 5000:
            process.send_signal(signal.SIGKILL)
            killed_at = row[0]
            break
    process.wait(timeout=30)
    assert killed_at, "the run finished before it could be interrupted"
    # Worker processes of the killed ingest leave on their own instead of waiting for work forever.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and _processes_naming(str(crash_db)):
        time.sleep(0.2)
    assert not _processes_naming(str(crash_db))
    partial = _counts(crash_db)
    assert partial[0] + partial[1] < rows  # really interrupted
    assert partial[0] + partial[1] == partial[3]  # and consistent: counts match what was committed

    rerun = subprocess.run(
        [*base, "--db", f"sqlite:///{crash_db}", "--json"], env=env, capture_output=True, text=True, timeout=600
    )
    assert rerun.returncode == 0, rerun.stderr
    assert '"status": "resumed"' in rerun.stdout
    assert _counts(crash_db) == expected
    with closing(sqlite3.connect(crash_db)) as conn, closing(sqlite3.connect(clean_db)) as clean:
        query = "select locator, record_key, fields from source_record order by locator"
        assert conn.execute(query).fetchall() == clean.execute(query).fetchall()
