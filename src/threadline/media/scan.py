"""`media scan`: hash every file of a seized media folder into `MediaItem`, in parallel, resumably.

The walk never follows symbolic links (a link is recorded with what it points to, a loop as a loop), so nothing
outside the evidence is read. Each file is read once for MD5, SHA-1 and SHA-256, and images are decoded from that
same read for PDQ. Results are committed in batches, so a scan that is stopped resumes where it was: files whose
size and modification time are unchanged since they were hashed are skipped.
"""

from __future__ import annotations

import errno
import multiprocessing
import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from threadline.core import audit
from threadline.core.db import Store
from threadline.core.errors import InputError
from threadline.media import hashing
from threadline.media.hashing import DEFAULT_DRAFT, FileHashes
from threadline.model import MediaItem, Operation, Seizure, utcnow

BATCH = 256
BATCH_SECONDS = 2.0

# (files done, files to hash, bytes read so far)
ScanProgress = Callable[[int, int, int], None]


@dataclass
class ScanReport:
    seizure_id: int
    directory: str
    files_seen: int = 0
    hashed: int = 0
    skipped_unchanged: int = 0
    not_media: int = 0
    perceptual: int = 0
    no_pdq: int = 0
    failed: int = 0
    bytes_read: int = 0
    seconds: float = 0.0
    by_kind: dict[str, int] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)
    list_mismatches: list[str] = field(default_factory=list)

    @property
    def files_per_second(self) -> float:
        return self.hashed / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "seizure_id": self.seizure_id,
            "directory": self.directory,
            "files_seen": self.files_seen,
            "hashed": self.hashed,
            "skipped_unchanged": self.skipped_unchanged,
            "not_media": self.not_media,
            "perceptual": self.perceptual,
            "no_pdq": self.no_pdq,
            "failed": self.failed,
            "bytes_read": self.bytes_read,
            "seconds": round(self.seconds, 3),
            "files_per_second": round(self.files_per_second, 1),
            "by_kind": dict(sorted(self.by_kind.items())),
            "problems": [{"path": p, "reason": r} for p, r in self.problems],
            "list_mismatches": self.list_mismatches,
        }


@dataclass(frozen=True, slots=True)
class Found:
    """One entry of the walk: a regular file to hash, or something recorded with the reason it is not hashed."""

    rel: str
    abs: str
    size: int | None = None
    mtime_ns: int | None = None
    problem: str | None = None


def walk(root: Path, base: Path) -> Iterator[Found]:
    """Every entry under `root`, paths relative to `base`, in a stable order; symbolic links never followed."""

    def rel(path: str) -> str:
        return PurePosixPath(Path(path).relative_to(base)).as_posix()

    stack = [str(root)]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield Found(rel(folder), folder, problem=f"folder cannot be read: {exc.strerror or exc}")
            continue
        subfolders = []
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as exc:
                yield Found(rel(entry.path), entry.path, problem=hashing._os_reason(exc))
                continue
            if stat.S_ISLNK(st.st_mode):
                yield Found(rel(entry.path), entry.path, problem=_link_problem(entry.path))
            elif stat.S_ISDIR(st.st_mode):
                subfolders.append(entry.path)
            elif stat.S_ISREG(st.st_mode):
                yield Found(rel(entry.path), entry.path, st.st_size, st.st_mtime_ns)
            else:
                yield Found(rel(entry.path), entry.path, problem="not a regular file (device, pipe or socket)")
        stack.extend(reversed(subfolders))


def _link_problem(path: str) -> str:
    target = os.readlink(path)
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"symbolic link loop ({target}): not followed"
        return f"broken symbolic link to {target}: not followed"
    return f"symbolic link to {target}: not followed (the evidence is hashed where it lies)"


def find_seizure(session: Session, directory: Path, operation: str | None) -> Seizure:
    """The seizure whose folder holds `directory` (the deepest one), or a new one for it."""
    target = directory.resolve()
    query = select(Seizure)
    if operation is not None:
        query = query.join(Operation).where(Operation.name == operation)
    best: Seizure | None = None
    for seizure in session.scalars(query.order_by(Seizure.id)):
        source = Path(seizure.source_path)
        if (target == source or source in target.parents) and (
            best is None or len(seizure.source_path) >= len(best.source_path)
        ):
            best = seizure
    if best is not None:
        return best
    name = operation or "default"
    op = session.scalars(select(Operation).where(Operation.name == name)).first()
    if op is None:
        op = Operation(name=name)
        session.add(op)
        session.flush()
    seizure = Seizure(operation_id=op.id, label=target.name, source_path=str(target), status="media")
    session.add(seizure)
    session.flush()
    return seizure


def _hash_star(job: tuple[str, str], draft: int | None, only_media: bool) -> tuple[str, FileHashes]:
    rel, path = job
    if only_media:
        return rel, hashing.hash_file(path, draft, only_media=True)
    return rel, hashing.hash_file(path, draft)


def _workers(requested: int | None) -> int:
    if requested:
        return max(1, requested)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _results(
    jobs: list[tuple[str, str]], draft: int | None, workers: int, only_media: bool
) -> Iterator[tuple[str, FileHashes]]:
    fn = partial(_hash_star, draft=draft, only_media=only_media)
    if workers <= 1 or len(jobs) < 4 * workers:
        for job in jobs:
            yield fn(job)
        return
    # fork: workers start at once; they only read files and never touch the database connections they inherit.
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        yield from pool.imap_unordered(fn, jobs, chunksize=4)


def scan(
    store: Store,
    directory: Path,
    *,
    owner: str | None = None,
    device: str | None = None,
    operation: str | None = None,
    actor: str = "system",
    workers: int | None = None,
    draft: int | None = DEFAULT_DRAFT,
    only_media: bool = False,
    progress: ScanProgress | None = None,
) -> ScanReport:
    """Hash every file under `directory` into the seizure that holds it (see `find_seizure`). With
    `only_media` (a whole seizure folder), files that are neither images nor videos are left to ingest."""
    started = time.monotonic()
    if not directory.is_dir():
        raise InputError("is not a folder: give the folder of seized media to scan", file=directory)
    with store.session() as session:
        seizure = find_seizure(session, directory, operation)
        base = Path(seizure.source_path)
        report = ScanReport(seizure_id=seizure.id, directory=str(directory.resolve()))
        existing: dict[str, tuple[int, int | None, int | None, str | None]] = {
            path: (item_id, size, mtime, error)
            for item_id, path, size, mtime, error in session.execute(
                select(MediaItem.id, MediaItem.path, MediaItem.size, MediaItem.mtime_ns, MediaItem.error).where(
                    MediaItem.seizure_id == seizure.id, MediaItem.origin == "scan"
                )
            )
        }
        listed: dict[str, tuple[str | None, str | None, str | None, str | None]] = {
            path: (dev, cust, md5, sha256)
            for path, dev, cust, md5, sha256 in session.execute(
                select(MediaItem.path, MediaItem.device, MediaItem.custodian, MediaItem.md5, MediaItem.sha256).where(
                    MediaItem.seizure_id == seizure.id, MediaItem.origin == "list"
                )
            )
        }
        audit.record(
            session,
            actor=actor,
            action="media.scan.start",
            object_type="seizure",
            object_id=seizure.id,
            details={"directory": report.directory, "owner": owner, "device": device},
        )

    jobs: list[tuple[str, str]] = []
    problems: list[FileHashes] = []
    for found in walk(directory.resolve(), base):
        report.files_seen += 1
        old = existing.get(found.rel)
        if found.problem is not None:
            if old is not None and old[3] == found.problem:
                report.skipped_unchanged += 1
                continue
            problems.append(FileHashes(path=found.rel, error=found.problem))
            continue
        if old is not None and old[3] is None and old[1] == found.size and old[2] == found.mtime_ns:
            report.skipped_unchanged += 1
            continue
        jobs.append((found.rel, found.abs))

    pending: list[FileHashes] = list(problems)
    last_flush = time.monotonic()

    def flush() -> None:
        nonlocal pending, last_flush
        if pending:
            _write(store, seizure.id, pending, existing, listed, owner, device, report)
        pending = []
        last_flush = time.monotonic()

    if progress is not None:
        progress(0, len(jobs), 0)
    for done, (rel, result) in enumerate(_results(jobs, draft, _workers(workers), only_media), start=1):
        result.path = rel
        if result.kind == "skipped":
            report.not_media += 1
        else:
            pending.append(result)
        report.bytes_read += result.size or 0
        if progress is not None:
            progress(done, len(jobs), report.bytes_read)
        if len(pending) >= BATCH or time.monotonic() - last_flush > BATCH_SECONDS:
            flush()
    flush()
    report.seconds = time.monotonic() - started
    with store.session() as session:
        audit.record(
            session,
            actor=actor,
            action="media.scan.finish",
            object_type="seizure",
            object_id=seizure.id,
            details={k: v for k, v in report.to_dict().items() if k not in ("problems", "list_mismatches")},
        )
    return report


def _write(
    store: Store,
    seizure_id: int,
    results: list[FileHashes],
    existing: dict[str, tuple[int, int | None, int | None, str | None]],
    listed: dict[str, tuple[str | None, str | None, str | None, str | None]],
    owner: str | None,
    device: str | None,
    report: ScanReport,
) -> None:
    now = utcnow()
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for r in results:
        row = r.to_dict()
        listed_device, listed_custodian, listed_md5, listed_sha256 = listed.get(r.path, (None, None, None, None))
        row.update(
            seizure_id=seizure_id,
            origin="scan",
            device=(device or listed_device),
            custodian=(owner or listed_custodian),
            hashed_at=now,
        )
        if r.error is not None:
            report.failed += 1
            report.problems.append((r.path, r.error))
        else:
            report.hashed += 1
            report.by_kind[r.kind] = report.by_kind.get(r.kind, 0) + 1
            if r.pdq is not None:
                report.perceptual += 1
            else:
                report.no_pdq += 1
                if r.kind == "image" or r.size == 0:
                    report.problems.append((r.path, r.pdq_skipped or ""))
            if (listed_md5 and listed_md5 != r.md5) or (listed_sha256 and listed_sha256 != r.sha256):
                report.list_mismatches.append(r.path)
        old = existing.get(r.path)
        if old is None:
            inserts.append(row)
        else:
            row["id"] = old[0]
            updates.append(row)
        existing[r.path] = (old[0] if old else -1, r.size, r.mtime_ns, r.error)
    with store.session() as session:
        if inserts:
            session.execute(insert(MediaItem), inserts)
        if updates:
            session.execute(update(MediaItem), updates)
