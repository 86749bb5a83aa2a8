"""The files of a seizure: plain files on disk and entries of zip archives read in place.

Archives are evidence too, so they are never extracted to disk; their entries are opened as streams. Limits keep a
hostile or corrupt archive (a zip bomb, `..` paths) from doing harm."""

from __future__ import annotations

import hashlib
import stat
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from threadline.core.errors import InputError

CHUNK = 1 << 20
# An entry may expand at most this much over its compressed size, and an archive to at most this in total.
MAX_RATIO = 200
MAX_ARCHIVE_BYTES = 50 * (1 << 30)
MAX_NESTING = 3


@dataclass(frozen=True)
class SeizedFile:
    """A readable file of the seizure: on disk, or an entry (possibly nested) inside zip archives."""

    path: str  # as shown to people: "orders/2012.csv" or "backup.zip!orders/2012.csv"
    disk_path: Path
    size: int
    entry: tuple[str, ...] = ()  # names inside nested archives, outermost first

    @property
    def name(self) -> str:
        return PurePosixPath(self.entry[-1]).name if self.entry else self.disk_path.name

    @contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        if not self.entry:
            with self.disk_path.open("rb") as handle:
                yield handle
            return
        with _open_entry(self.disk_path, self.entry) as handle:
            yield handle

    def sha256(self) -> str:
        digest = hashlib.sha256()
        with self.open() as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
        return digest.hexdigest()

    def head(self, size: int = 65536) -> bytes:
        with self.open() as handle:
            return handle.read(size)


@contextmanager
def _open_entry(disk_path: Path, entry: tuple[str, ...]) -> Iterator[IO[bytes]]:
    with zipfile.ZipFile(disk_path) as outer:
        handle: IO[bytes] = outer.open(entry[0])
        opened = [handle]
        try:
            for name in entry[1:]:
                inner = zipfile.ZipFile(handle)
                handle = inner.open(name)
                opened.append(handle)
            yield handle
        finally:
            for h in reversed(opened):
                h.close()


@dataclass
class Skipped:
    path: str
    reason: str


@dataclass
class Walk:
    files: list[SeizedFile] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def is_zip(head: bytes) -> bool:
    return head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06")


def _is_office_zip(names: list[str]) -> bool:
    return "[Content_Types].xml" in names


def safe_entry_name(name: str) -> str | None:
    """The entry's name if it stays inside the archive; None for absolute paths and `..` escapes."""
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return None
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if ".." in parts:
        return None
    return name


def _walk_zip(disk_path: Path, shown: str, entry: tuple[str, ...], walk: Walk, depth: int) -> None:
    try:
        with _open_entry_or_file(disk_path, entry) as handle, zipfile.ZipFile(handle) as archive:
            infos = archive.infolist()
            total = sum(i.file_size for i in infos)
            if total > MAX_ARCHIVE_BYTES:
                walk.skipped.append(
                    Skipped(shown, f"refused: archive would expand to {total} bytes (limit {MAX_ARCHIVE_BYTES})")
                )
                return
            for info in sorted(infos, key=lambda i: i.filename):
                if info.is_dir():
                    continue
                inner_shown = f"{shown}!{info.filename}"
                if safe_entry_name(info.filename) is None:
                    walk.skipped.append(Skipped(inner_shown, "refused: entry path escapes the archive"))
                    continue
                if info.flag_bits & 0x1:
                    walk.skipped.append(Skipped(inner_shown, "skipped: encrypted entry (no password given)"))
                    continue
                ratio = info.file_size / max(info.compress_size, 1)
                if info.file_size > 10 * (1 << 20) and ratio > MAX_RATIO:
                    walk.skipped.append(
                        Skipped(inner_shown, f"refused: compression ratio {ratio:.0f}:1 looks like a zip bomb")
                    )
                    continue
                name = PurePosixPath(info.filename).name
                if name.startswith(".") or name.startswith("__MACOSX"):
                    walk.skipped.append(Skipped(inner_shown, "skipped: hidden or system file"))
                    continue
                child = SeizedFile(inner_shown, disk_path, info.file_size, (*entry, info.filename))
                if depth < MAX_NESTING and name.lower().endswith(".zip"):
                    _walk_zip(disk_path, inner_shown, child.entry, walk, depth + 1)
                else:
                    walk.files.append(child)
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
        walk.skipped.append(Skipped(shown, f"unreadable archive ({exc}); check that the copy is complete"))


@contextmanager
def _open_entry_or_file(disk_path: Path, entry: tuple[str, ...]) -> Iterator[IO[bytes]]:
    if entry:
        with _open_entry(disk_path, entry) as handle:
            yield handle
    else:
        with disk_path.open("rb") as handle:
            yield handle


def walk_seizure(root: Path, *, exclude: tuple[str, ...] = ()) -> Walk:
    """Every file under `root` in a stable order, with zip archives opened in place (office files excepted)."""
    if not root.exists():
        raise InputError("folder not found", file=root)
    if not root.is_dir():
        raise InputError("not a folder: give the folder that holds the seized files", file=root)
    walk = Walk()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if any(rel == e or rel.startswith(e.rstrip("/") + "/") for e in exclude):
            continue
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            walk.skipped.append(Skipped(rel, "skipped: symbolic link (evidence must be inside the seizure)"))
            continue
        if not stat.S_ISREG(mode):
            continue
        if any(part.startswith(".") for part in Path(rel).parts):
            walk.skipped.append(Skipped(rel, "skipped: hidden file"))
            continue
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(8)
        if is_zip(head) and path.suffix.lower() not in (".xlsx", ".xlsm", ".docx", ".odt", ".ods"):
            try:
                with zipfile.ZipFile(path) as archive:
                    office = _is_office_zip(archive.namelist())
            except (zipfile.BadZipFile, OSError):
                office = False
            if not office:
                _walk_zip(path, rel, (), walk, 1)
                continue
        walk.files.append(SeizedFile(rel, path, size))
    return walk
