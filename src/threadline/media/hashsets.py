"""Known-hash sets: VICS JSON (Project VIC OData Media, data models 1.2, 1.3 and 2.0), CSV with hash columns,
and PDQ lists (one hex hash a line, optionally `,quality`).

Parsers yield good entries and rejected lines; a malformed hash never reaches `KnownHash` (nor the PDQ index
built from it): its line is quarantined with the reason. An import is one transaction: all of a file or none.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

import ijson
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from threadline.core import audit
from threadline.core.db import Store, driver_insert, json_dumps
from threadline.core.errors import InputError, NotFoundError
from threadline.model import HashSet, KnownHash, QuarantinedHash, utcnow

FORMATS = ("vics", "csv", "pdq-list")
BATCH = 50_000
_HEX = re.compile(r"^[0-9a-f]+$")
_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "pdq": 64}


@dataclass(slots=True)
class Entry:
    line: int
    md5: str | None = None
    sha1: str | None = None
    sha256: str | None = None
    pdq: str | None = None
    pdq_quality: int | None = None
    media_id: str | None = None
    category: str | None = None
    series: str | None = None
    victim_identified: bool | None = None
    offender_identified: bool | None = None
    photodna: str | None = None
    details: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    raw_text: str
    reason: str


@dataclass
class ImportReport:
    name: str
    version: int
    format: str
    allow: bool
    unchanged: bool = False
    entries: int = 0
    hashes: int = 0
    quarantined: int = 0
    superseded_version: int | None = None
    vics_version: str | None = None
    rejected: list[Rejected] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "format": self.format,
            "allow": self.allow,
            "unchanged": self.unchanged,
            "entries": self.entries,
            "hashes": self.hashes,
            "quarantined": self.quarantined,
            "superseded_version": self.superseded_version,
            "vics_version": self.vics_version,
            "rejected": [{"line": r.line, "reason": r.reason, "raw": r.raw_text} for r in self.rejected[:100]],
        }


def clean_hash(kind: str, value: Any) -> tuple[str | None, str | None]:
    """(normalised lower-case hex, None), (None, None) when absent, or (None, reason) when malformed."""
    if value is None:
        return None, None
    text = str(value).strip().lower()
    if text.startswith("0x"):
        text = text[2:]
    if not text:
        return None, None
    length = _LENGTHS[kind]
    if len(text) != length or not _HEX.match(text):
        return None, f"{kind} {str(value)[:80]!r} is not {length} hexadecimal digits"
    return text, None


def _quality(value: str) -> tuple[int | None, str | None]:
    text = value.strip()
    if not text:
        return None, None
    if not text.isdigit() or not 0 <= int(text) <= 100:
        return None, f"PDQ quality {text[:20]!r} is not a whole number from 0 to 100"
    return int(text), None


def sniff_format(path: Path) -> str:
    with path.open("rb") as fh:
        head = fh.read(4096)
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"{") or path.suffix.lower() == ".json":
        return "vics"
    first = next((ln.strip() for ln in text.decode("utf-8", "replace").splitlines() if ln.strip()), "")
    if re.match(r"^(0x)?[0-9a-fA-F]{64}(\s*,\s*\d{1,3})?$", first):
        return "pdq-list"
    return "csv"


# ---- PDQ lists ---------------------------------------------------------------------------------------------


# A well-formed line ("hex" or "hex,quality"), read in one match; anything else takes the careful path below,
# which says what is wrong with it.
_PDQ_LINE = re.compile(r"(?:0[xX])?([0-9a-fA-F]{64})(?:[ \t]*,[ \t]*(\d{1,3}))?")

# A block of lines that are all "hex,quality" (lower-case hex, quality 0-100, nothing else) or all "hex" is
# checked by one match over its text and read without a Python object per line: a ten-million-line list is
# almost only such lines. Lines are what the file's own line reader gives (\n, \r\n or \r ends one).
_EOL = r"(?:\r\n|\r|\n)"
_QUALITY = r"(?:100|0?[0-9]{1,2})"
_BLOCK_WITH_QUALITY = re.compile(rf"(?:[0-9a-f]{{64}},{_QUALITY}{_EOL})*(?:[0-9a-f]{{64}},{_QUALITY})?")
_BLOCK_PLAIN = re.compile(rf"(?:[0-9a-f]{{64}}{_EOL})*(?:[0-9a-f]{{64}})?")
_HEAD = itemgetter(slice(0, 64))
_TAIL = itemgetter(slice(65, None))
BLOCK_CHARS = 1 << 23  # about 120,000 lines a block
SUB_BLOCK = 256  # a block that is not all well-formed is tried again in pieces of this many lines


@dataclass(frozen=True, slots=True)
class PdqBlock:
    """Consecutive well-formed PDQ lines numbered first, first + 1, ...: their hashes (lower-case hex) and
    qualities (None when no line gives one)."""

    first: int
    hashes: list[str]
    qualities: list[int] | None

    def entries(self) -> Iterator[Entry]:
        count = len(self.hashes)
        qualities: Iterable[int | None] = self.qualities if self.qualities is not None else repeat(None, count)
        for number, (pdq, quality) in enumerate(zip(self.hashes, qualities, strict=True), start=self.first):
            yield Entry(number, pdq=pdq, pdq_quality=quality)


def _pdq_block(lines: list[str], first: int) -> PdqBlock | None:
    text = "".join(lines)
    if _BLOCK_WITH_QUALITY.fullmatch(text):
        # int() ignores the line ending; "007" is 7, as the careful path reads it.
        return PdqBlock(first, list(map(_HEAD, lines)), list(map(int, map(_TAIL, lines))))
    if _BLOCK_PLAIN.fullmatch(text):
        return PdqBlock(first, list(map(_HEAD, lines)), None)
    return None


def pdq_blocks(
    fh: io.TextIOBase, block_chars: int | None = None, sub_block: int | None = None
) -> Iterator[PdqBlock | Entry | Rejected]:
    """A PDQ list as blocks of well-formed lines where it can, and otherwise entries and rejected lines one by
    one; together exactly what `parse_pdq_list` yields."""
    block_chars = block_chars or BLOCK_CHARS
    sub_block = sub_block or SUB_BLOCK
    first = 1
    while lines := fh.readlines(block_chars):
        block = _pdq_block(lines, first)
        if block is not None:
            yield block
        else:
            for start in range(0, len(lines), sub_block):
                part = lines[start : start + sub_block]
                block = _pdq_block(part, first + start)
                if block is not None:
                    yield block
                else:
                    yield from _pdq_lines(part, first + start)
        first += len(lines)


def parse_pdq_list(fh: io.TextIOBase) -> Iterator[Entry | Rejected]:
    for item in pdq_blocks(fh):
        if isinstance(item, PdqBlock):
            yield from item.entries()
        else:
            yield item


def _pdq_lines(lines: Iterable[str], first: int = 1) -> Iterator[Entry | Rejected]:
    """Line by line: every line's entry, or its reason for being rejected."""
    fast = _PDQ_LINE.fullmatch
    for number, raw in enumerate(lines, start=first):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        matched = fast(line)
        if matched is not None:
            hex_value, quality_text = matched.groups()
            if quality_text is None:
                yield Entry(number, pdq=hex_value.lower())
                continue
            if int(quality_text) <= 100:
                yield Entry(number, pdq=hex_value.lower(), pdq_quality=int(quality_text))
                continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) > 2:
            yield Rejected(number, line, "expected 'pdq_hex' or 'pdq_hex,quality'")
            continue
        pdq, problem = clean_hash("pdq", fields[0])
        quality: int | None = None
        if problem is None and len(fields) == 2:
            quality, problem = _quality(fields[1])
        if problem is not None or pdq is None:
            yield Rejected(number, line, problem or "no PDQ hash on this line")
            continue
        yield Entry(number, pdq=pdq, pdq_quality=quality)


# ---- CSV ---------------------------------------------------------------------------------------------------

_CSV_COLUMNS = {
    "md5": ("md5", "md5hash", "hashmd5"),
    "sha1": ("sha1", "sha1hash", "hashsha1"),
    "sha256": ("sha256", "sha256hash", "hashsha256"),
    "pdq": ("pdq", "pdqhash", "pdqhex"),
    "pdq_quality": ("quality", "pdqquality"),
    "category": ("category", "cat", "kategorie", "catégorie", "categoria"),
    "series": ("series", "serie"),
    "media_id": ("mediaid", "id", "hashid"),
    "victim_identified": ("victimidentified",),
}
_CSV_KEYS = {spelling: name for name, spellings in _CSV_COLUMNS.items() for spelling in spellings}
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}


def _key(header: str) -> str:
    return re.sub(r"[\s_\-.]", "", header.strip().lower().lstrip("\ufeff"))


def parse_csv(fh: io.TextIOBase, path: Path) -> Iterator[Entry | Rejected]:
    sample = fh.read(65536)
    fh.seek(0)
    first = sample.splitlines()[0] if sample else ""
    delimiter = max(",;\t|", key=first.count) if first else ","
    reader = csv.reader(fh, delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        raise InputError("empty CSV: expected a header with md5, sha1, sha256 or pdq columns", file=path, line=1)
    columns = {_CSV_KEYS[_key(h)]: i for i, h in enumerate(header) if _key(h) in _CSV_KEYS}
    if not any(k in columns for k in _LENGTHS):
        raise InputError(
            f"no hash column in the header {header!r}: name one md5, sha1, sha256 or pdq", file=path, line=1
        )
    for row in reader:
        number = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        raw = delimiter.join(row)
        if len(row) != len(header):
            yield Rejected(number, raw, f"{len(row)} fields where the header has {len(header)}")
            continue
        entry = Entry(number)
        problem: str | None = None
        for kind in _LENGTHS:
            if kind in columns:
                value, problem = clean_hash(kind, row[columns[kind]])
                if problem:
                    break
                setattr(entry, kind, value)
        if problem is None and "pdq_quality" in columns:
            entry.pdq_quality, problem = _quality(row[columns["pdq_quality"]])
        if problem is None and not (entry.md5 or entry.sha1 or entry.sha256 or entry.pdq):
            problem = "no hash in this row"
        if problem is not None:
            yield Rejected(number, raw, problem)
            continue
        for name in ("category", "series", "media_id"):
            if name in columns and row[columns[name]].strip():
                setattr(entry, name, row[columns[name]].strip()[:200])
        if "victim_identified" in columns:
            flag = row[columns["victim_identified"]].strip().lower()
            entry.victim_identified = True if flag in _TRUE else False if flag in _FALSE else None
        yield entry


# ---- VICS --------------------------------------------------------------------------------------------------


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    return None


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)[:200]


def _vics_hashes(obj: dict[str, Any]) -> tuple[dict[str, str], str | None]:
    found: dict[str, str] = {}
    for kind, keys in (("md5", ("MD5", "Md5")), ("sha1", ("SHA1", "Sha1")), ("sha256", ("SHA256", "Sha256"))):
        for key in keys:
            if key in obj:
                value, problem = clean_hash(kind, obj[key])
                if problem:
                    return {}, problem
                if value:
                    found[kind] = value
                break
    return found, None


def parse_vics(path: Path, report: ImportReport) -> Iterator[Entry | Rejected]:
    """Entries of `value[]`; `line` is the entry's number (1-based) in that array. Streamed: any size fits."""
    number = 0
    try:
        with path.open("rb") as fh:
            for prefix, event, value in ijson.parse(fh):
                if prefix in ("odata.metadata", "@odata.context") and event == "string":
                    match = re.search(r"DataModels/(\d+(?:\.\d+)?)", value)
                    report.vics_version = match.group(1) if match else str(value)[:80]
                if prefix == "value" and event == "start_array":
                    break
            else:
                raise InputError("no 'value' array of Media entries: is this a VICS export?", file=path)
        with path.open("rb") as fh:
            for media in ijson.items(fh, "value.item", use_float=True):
                number += 1
                yield from _vics_entry(number, media)
    except ijson.JSONError as exc:
        where = f"after entry {number}" if number else "before the first entry"
        raise InputError(f"not valid VICS JSON ({exc}) {where}: nothing was imported", file=path) from exc


def _vics_entry(number: int, media: Any) -> Iterator[Entry | Rejected]:
    raw = str(media)[:500]
    if not isinstance(media, dict):
        yield Rejected(number, raw, "a Media entry must be a JSON object")
        return
    files = [f for f in media.get("MediaFiles") or [] if isinstance(f, dict)]
    hashes, problem = _vics_hashes(media)
    file_hashes: list[dict[str, str]] = []
    for f in files:
        found, file_problem = _vics_hashes(f)
        problem = problem or file_problem
        if found and found not in file_hashes:
            file_hashes.append(found)
    if problem:
        yield Rejected(number, raw, problem)
        return
    variants = [hashes] if hashes else []
    variants += [h for h in file_hashes if not any(h.items() <= v.items() for v in variants)]
    if not variants:
        yield Rejected(number, raw, "no MD5, SHA1 or SHA256 in this Media entry or its MediaFiles")
        return
    photodna = media.get("PhotoDNA") or next((f.get("PhotoDNA") for f in files if f.get("PhotoDNA")), None)
    details = {
        k: media[k]
        for k in ("IsDistributed", "IsPrecategorized", "MediaSize", "DateUpdated", "Tags", "Comments")
        if k in media
    }
    names = [str(f["FileName"]) for f in files if f.get("FileName")]
    if names:
        details["file_names"] = names[:20]
    for variant in variants:
        yield Entry(
            number,
            md5=variant.get("md5"),
            sha1=variant.get("sha1"),
            sha256=variant.get("sha256"),
            media_id=_text(media.get("MediaID")),
            category=_text(media.get("Category")),
            series=_text(media.get("Series")),
            victim_identified=_flag(media.get("VictimIdentified")),
            offender_identified=_flag(media.get("OffenderIdentified")),
            photodna=None if photodna is None else str(photodna),
            details=details or None,
        )


# ---- import, list, remove ----------------------------------------------------------------------------------


def _file_digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _entries(path: Path, fmt: str, report: ImportReport) -> Iterator[Entry | Rejected | PdqBlock]:
    if fmt == "vics":
        yield from parse_vics(path, report)
        return
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as fh:
        if fmt == "pdq-list":
            yield from pdq_blocks(fh)
        else:
            yield from parse_csv(fh, path)


def import_hashes(
    store: Store,
    path: Path,
    *,
    name: str | None = None,
    fmt: str | None = None,
    category: str | None = None,
    allow: bool = False,
    actor: str = "system",
) -> ImportReport:
    """Import a known-hash file as (a new version of) the set `name` (default: the file's name)."""
    if not path.is_file():
        raise InputError("no such file: give a VICS JSON, CSV or PDQ list to import", file=path)
    fmt = fmt or sniff_format(path)
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}", file=path)
    name = name or path.stem
    sha256, size = _file_digest(path)
    with store.session() as session:
        current = session.scalars(select(HashSet).where(HashSet.name == name, HashSet.status == "active")).first()
        if (
            current is not None
            and current.source_sha256 == sha256
            and current.format == fmt
            and current.is_allow == allow
            and current.category == category
        ):
            report = ImportReport(name, current.version, fmt, allow, unchanged=True)
            report.entries, report.hashes, report.quarantined = current.entries, current.hashes, current.quarantined
            return report
        version = (session.scalar(select(func.max(HashSet.version)).where(HashSet.name == name)) or 0) + 1
        hash_set = HashSet(
            name=name,
            version=version,
            format=fmt,
            is_allow=allow,
            category=category,
            source_path=str(path.resolve()),
            source_sha256=sha256,
            source_size=size,
        )
        session.add(hash_set)
        session.flush()
        report = ImportReport(name, version, fmt, allow)
        _load(session, hash_set, _entries(path, fmt, report), category, report)
        hash_set.hashes, hash_set.quarantined = report.hashes, report.quarantined
        hash_set.entries = report.entries
        if current is not None:
            _retire(session, current, "superseded")
            report.superseded_version = current.version
        audit.record(
            session,
            actor=actor,
            action="hashes.import",
            object_type="hash_set",
            object_id=hash_set.id,
            details={k: v for k, v in report.to_dict().items() if k != "rejected"} | {"sha256": sha256},
        )
    return report


_KNOWN_COLUMNS = (
    "hash_set_id", "line", "media_id", "md5", "sha1", "sha256", "pdq", "pdq_quality", "category", "series",
    "victim_identified", "offender_identified", "photodna", "details",
)  # fmt: skip
_PDQ_COLUMNS = ("hash_set_id", "line", "pdq", "pdq_quality", "category")


def _copy_text(value: str) -> str:
    """`value` as one field of PostgreSQL's COPY text format."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


class _Writer:
    """Rows of `known_hash` (tuples in `columns` order) straight to the database driver: COPY on PostgreSQL,
    executemany on SQLite. At ten million hashes SQLAlchemy's per-row parameter processing (even Core's) was
    most of the import's time. Everything runs in the session's transaction: all of a file or none."""

    def __init__(self, session: Session) -> None:
        self.connection = session.connection()
        self.postgresql = self.connection.dialect.name == "postgresql"
        self.driver: Any = self.connection.connection.driver_connection

    def rows(self, columns: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> None:
        if self.postgresql:
            statement = f"COPY known_hash ({', '.join(columns)}) FROM STDIN"
            with self.driver.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
            return
        statement = driver_insert(self.connection, "known_hash", columns)
        cursor = self.driver.cursor()
        try:
            cursor.executemany(statement, rows)
        finally:
            cursor.close()

    def pdq_block(self, hash_set_id: int, block: PdqBlock, category: str | None) -> None:
        """A block's rows built by the C loops of zip and map, not one Python statement per line."""
        count = len(block.hashes)
        lines = range(block.first, block.first + count)
        if not self.postgresql:
            qualities: Iterable[int | None] = block.qualities if block.qualities is not None else repeat(None, count)
            rows = zip(repeat(hash_set_id, count), lines, block.hashes, qualities, repeat(category, count), strict=True)
            self.rows(_PDQ_COLUMNS, rows)
            return
        # COPY's text format, joined in C: the set, the category and NULL are the same on every line.
        texts = map(str, block.qualities) if block.qualities is not None else repeat("\\N", count)
        fields = zip(
            repeat(str(hash_set_id), count),
            map(str, lines),
            block.hashes,
            texts,
            repeat("\\N" if category is None else _copy_text(category), count),
            strict=True,
        )
        data = "\n".join(map("\t".join, fields)) + "\n"
        statement = f"COPY known_hash ({', '.join(_PDQ_COLUMNS)}) FROM STDIN"
        with self.driver.cursor() as cursor, cursor.copy(statement) as copy:
            copy.write(data)


def _load(
    session: Session,
    hash_set: HashSet,
    items: Iterator[Entry | Rejected | PdqBlock],
    category: str | None,
    report: ImportReport,
) -> None:
    rows: list[tuple[Any, ...]] = []
    rejected: list[dict[str, Any]] = []
    last_entry = 0
    hash_set_id = hash_set.id
    writer = _Writer(session)

    def flush() -> None:
        if rows:
            writer.rows(_KNOWN_COLUMNS, rows)
            rows.clear()
        if rejected:
            session.execute(insert(QuarantinedHash), rejected)
            rejected.clear()

    for item in items:
        if isinstance(item, PdqBlock):
            flush()  # rows go in in line order
            count = len(item.hashes)
            writer.pdq_block(hash_set_id, item, category)
            report.entries += count
            report.hashes += count
            last_entry = item.first + count - 1
            continue
        if isinstance(item, Rejected):
            report.quarantined += 1
            if len(report.rejected) < 1000:
                report.rejected.append(item)
            rejected.append(
                {"hash_set_id": hash_set_id, "line": item.line, "raw_text": item.raw_text, "reason": item.reason}
            )
        else:
            if item.line != last_entry:
                report.entries += 1
                last_entry = item.line
            report.hashes += 1
            rows.append(
                (
                    hash_set_id,
                    item.line,
                    item.media_id,
                    item.md5,
                    item.sha1,
                    item.sha256,
                    item.pdq,
                    item.pdq_quality,
                    item.category or category,
                    item.series,
                    item.victim_identified,
                    item.offender_identified,
                    item.photodna,
                    None if item.details is None else json_dumps(item.details),
                )
            )
        if len(rows) + len(rejected) >= BATCH:
            flush()
    flush()


def _retire(session: Session, hash_set: HashSet, status: str) -> None:
    """Drop a set version's hashes (verdicts keep their copied set name and category) and mark it."""
    session.execute(delete(KnownHash).where(KnownHash.hash_set_id == hash_set.id))
    hash_set.status = status
    hash_set.retired_at = utcnow()


@dataclass
class RemoveReport:
    name: str
    versions: list[int]
    hashes: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "versions": self.versions, "hashes": self.hashes}


def remove_set(store: Store, name: str, *, actor: str = "system") -> RemoveReport:
    with store.session() as session:
        active = list(session.scalars(select(HashSet).where(HashSet.name == name, HashSet.status == "active")))
        if not active:
            raise NotFoundError(f"no active hash set named {name!r}: see `threadline hashes list`")
        report = RemoveReport(name, [s.version for s in active], sum(s.hashes for s in active))
        for hash_set in active:
            _retire(session, hash_set, "removed")
        audit.record(
            session,
            actor=actor,
            action="hashes.remove",
            object_type="hash_set",
            object_id=active[0].id,
            details=report.to_dict(),
        )
    return report


def list_sets(session: Session, *, include_retired: bool = False) -> list[dict[str, Any]]:
    query = select(HashSet).order_by(HashSet.name, HashSet.version)
    if not include_retired:
        query = query.where(HashSet.status == "active")
    return [
        {
            "name": s.name,
            "version": s.version,
            "status": s.status,
            "format": s.format,
            "allow": s.is_allow,
            "category": s.category,
            "entries": s.entries,
            "hashes": s.hashes,
            "quarantined": s.quarantined,
            "source": s.source_path,
            "sha256": s.source_sha256,
            "imported_at": s.imported_at.isoformat(),
        }
        for s in session.scalars(query)
    ]


def quarantined(session: Session, name: str, limit: int = 100) -> list[dict[str, Any]]:
    query = (
        select(QuarantinedHash, HashSet.version)
        .join(HashSet, QuarantinedHash.hash_set_id == HashSet.id)
        .where(HashSet.name == name)
        .order_by(HashSet.version, QuarantinedHash.line)
        .limit(limit)
    )
    return [
        {"version": version, "line": q.line, "reason": q.reason, "raw": q.raw_text}
        for q, version in session.execute(query)
    ]
