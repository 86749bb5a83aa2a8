"""What rank reads from the store, in bulk: subjects in scope, where records came from, whose media is whose,
which identifiers turn up in other operations, and each subject's records with the messages they took part in.

Nothing here scores; `score.py` turns these facts into factors."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threadline.core.bulk import driver_rows
from threadline.ingest.normalise import normalise_email, normalise_username
from threadline.ingest.readers.mail import message_locator
from threadline.model import (
    Identifier,
    MediaItem,
    MediaVerdict,
    Operation,
    Seizure,
    SourceFile,
    SourceRecord,
    Subject,
    SubjectMember,
)

CHUNK = 2000
KNOWN = ("known-exact", "known-near")
UNCONFIRMED = ("low-quality", "unhashable")


@dataclass(frozen=True)
class FileInfo:
    path: str
    operation_id: int


@dataclass(frozen=True)
class Media:
    id: int
    path: str
    seizure_id: int | None
    content: str  # the file's identity across list rows and scanned files: a hash, else the path
    verdict: str | None
    category: str | None
    series: str | None
    hashset: str | None
    sha256: str | None
    linked_by: str = ""  # custodian | upload folder | owner set | attachment

    def evidence(self, text: str) -> dict[str, Any]:
        return {"media_item_id": self.id, "path": self.path, "seizure_id": self.seizure_id, "text": text}


@dataclass(frozen=True)
class Record:
    id: int
    record_type: str
    file_id: int
    row: int
    locator: str
    fields: dict[str, Any]

    def evidence(self, files: dict[int, FileInfo], text: str) -> dict[str, Any]:
        return {
            "record_id": self.id,
            "file": files[self.file_id].path if self.file_id in files else None,
            "row": self.row,
            "locator": self.locator,
            "text": text,
        }


@dataclass(frozen=True)
class Sighting:
    """A record in another operation carrying one of the subject's identifiers (or one of their own records)."""

    record: Record
    operation_id: int
    how: str  # "record of theirs" or "email a@b"


@dataclass
class Context:
    operation_id: int | None
    files: dict[int, FileInfo]
    operations: dict[int, tuple[str, datetime]]
    subject_ids: list[int]
    media: dict[int, list[Media]] = field(default_factory=dict)  # subject -> media of theirs
    # sha256 -> the row its Media is made from on first use (a hash list holds a million items; few are asked for)
    media_rows: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    _by_sha256: dict[str, Media | None] = field(default_factory=dict)
    owners: dict[int, int] = field(default_factory=dict)  # media item -> owner subject to store
    ambiguous_media: int = 0
    sightings: dict[int, list[Sighting]] = field(default_factory=dict)

    def media_by_sha256(self, sha256: str) -> Media | None:
        """The seized item with this SHA-256 (one with a verdict when copies differ), or None."""
        if sha256 not in self._by_sha256:
            row = self.media_rows.get(sha256)
            self._by_sha256[sha256] = _media(row) if row is not None else None
        return self._by_sha256[sha256]


# The columns link_media reads of each item (with its verdict), in this order.
_MEDIA_COLUMNS = (
    MediaItem.id,
    MediaItem.path,
    MediaItem.seizure_id,
    MediaItem.sha256,
    MediaItem.md5,
    MediaItem.sha1,
    MediaItem.custodian,
    MediaItem.owner_subject_id,
    MediaVerdict.verdict,
    MediaVerdict.category,
    MediaVerdict.series,
    MediaVerdict.hashset,
)


def _media(row: tuple[Any, ...], linked_by: str = "") -> Media:
    item_id, path, seizure_id, sha256, md5, sha1, _custodian, _owner, verdict, category, series, hashset = row
    return Media(
        id=item_id,
        path=path,
        seizure_id=seizure_id,
        content=sha256 or md5 or sha1 or f"path:{seizure_id}:{path}",
        verdict=verdict,
        category=category,
        series=series,
        hashset=hashset,
        sha256=sha256,
        linked_by=linked_by,
    )


def _values(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v not in (None, "")]
    text = str(value).strip()
    return [text] if text else []


def load_context(session: Session, operation: str | None) -> Context:
    operations = {
        oid: (name, created)
        for oid, name, created in session.execute(select(Operation.id, Operation.name, Operation.created_at))
    }
    operation_id = None
    if operation is not None:
        operation_id = next((oid for oid, (name, _) in operations.items() if name == operation), None)
    files = {
        fid: FileInfo(path, oid)
        for fid, path, oid in session.execute(
            select(SourceFile.id, SourceFile.path, Seizure.operation_id).join(
                Seizure, SourceFile.seizure_id == Seizure.id
            )
        )
    }
    query = select(Subject.id).where(Subject.status == "active").order_by(Subject.id)
    if operation_id is not None:
        in_operation = (
            select(SubjectMember.subject_id)
            .join(SourceRecord, SourceRecord.id == SubjectMember.record_id)
            .join(SourceFile, SourceFile.id == SourceRecord.source_file_id)
            .join(Seizure, Seizure.id == SourceFile.seizure_id)
            .where(Seizure.operation_id == operation_id)
        )
        query = query.where(Subject.id.in_(in_operation))
    subject_ids = list(session.scalars(query))
    return Context(operation_id, files, operations, subject_ids)


def _member_counts(session: Session) -> dict[int, int]:
    return {
        s: n for s, n in session.execute(select(Subject.id, Subject.member_count).where(Subject.status == "active"))
    }


def _identifier_index(session: Session) -> tuple[dict[tuple[str, str], set[int]], dict[int, int]]:
    """(kind, normalised value) -> active subjects holding it, and each retired subject's active successor."""
    index: dict[tuple[str, str], set[int]] = defaultdict(set)
    successor: dict[int, int | None] = {}
    for sid, status, merged, identifiers in session.execute(
        select(Subject.id, Subject.status, Subject.merged_into_id, Subject.identifiers)
    ):
        if status != "active":
            successor[sid] = merged
            continue
        for kind, values in (identifiers or {}).items():
            for value in _values(values):
                index[(kind, value.casefold())].add(sid)
    active: dict[int, int] = {}
    for sid in successor:
        seen, current = set(), successor.get(sid)
        while current is not None and current in successor and current not in seen:
            seen.add(current)
            current = successor[current]
        if current is not None and current not in successor:
            active[sid] = current
    return index, active


def _custodian_keys(text: str) -> list[tuple[str, str]]:
    keys: list[tuple[str, str]] = []
    if "@" in text:
        email = normalise_email(text)
        if email is not None:
            keys.append(("email", email.canonical.casefold()))
    username = normalise_username(text)
    if username:
        keys.append(("username", username))
    return keys


def _upload_owner(path: str, folders: tuple[str, ...]) -> str | None:
    """The per-customer folder name in paths like media/uploads/<username>/file.jpg."""
    parts = [p for p in path.replace("\\", "/").split("/") if p]
    for i, part in enumerate(parts[:-2]):
        if part.casefold() in folders:
            return parts[i + 1]
    return None


class UploadOwners:
    """`_upload_owner` worked out once per folder: its answer depends only on the folders of a path, never on the
    file's name, and a million-item hash list has a few thousand folders."""

    def __init__(self, folders: tuple[str, ...]) -> None:
        self.folders = folders
        self._by_folder: dict[str, str | None] = {}

    def __call__(self, path: str) -> str | None:
        folder, _, name = path.replace("\\", "/").rpartition("/")
        if not name:  # a path ending in a separator: its last part is a folder
            return _upload_owner(path, self.folders)
        if folder not in self._by_folder:
            self._by_folder[folder] = _upload_owner(path, self.folders)
        return self._by_folder[folder]


def link_media(session: Session, ctx: Context, upload_folders: tuple[str, ...]) -> None:
    """Every media item's subjects among the active ones: its owner when one is set (followed through merges;
    an analyst's choice, or rank's own from an earlier run), and those whose username or canonical e-mail is its
    custodian, else the name of the upload folder it lies in. A file matching several subjects (a person that
    resolution split) counts for each. The stored owner stays as set while its subject is active, else becomes
    the matching subject with most records; so a rerun finds the same subjects and the ranking does not drift."""
    index, successors = _identifier_index(session)
    sizes = _member_counts(session)
    in_scope = set(ctx.subject_ids)
    by_subject: dict[int, list[Media]] = defaultdict(list)
    # The driver's tuples, not entities or SQLAlchemy rows (a seizure's hash list is a million items); each
    # custodian or upload folder's candidates worked out once, and a Media made only for items someone holds.
    query = (
        select(*_MEDIA_COLUMNS)
        .outerjoin(MediaVerdict, MediaVerdict.media_item_id == MediaItem.id)
        .order_by(MediaItem.id)
    )
    by_custodian: dict[str, set[int]] = {}
    upload_owner = UploadOwners(upload_folders)

    def holders(name: str) -> set[int]:
        found = by_custodian.get(name)
        if found is None:
            found = set()
            for key in _custodian_keys(name):
                found |= index.get(key, set())
            by_custodian[name] = found
        return found

    media_rows = ctx.media_rows
    for row in driver_rows(session, query):
        item_id, path, _seizure, sha256, _md5, _sha1, custodian, owner_subject_id, verdict = row[:9]
        if sha256:
            seen = media_rows.get(sha256)
            if seen is None or (seen[8] is None and verdict is not None):
                media_rows[sha256] = row
        candidates: set[int] = set()
        how = ""
        if custodian:
            candidates = set(holders(custodian))
            how = f"custodian {custodian!r}"
        if not candidates:
            folder = upload_owner(path)
            if folder:
                candidates = set(holders(folder))
                how = f"upload folder {folder!r}"
        if not candidates:
            how = "owner set on the item"
        kept = None
        if owner_subject_id is not None:
            kept = successors.get(owner_subject_id, owner_subject_id)
            kept = kept if kept in sizes else None
        if kept is not None:
            candidates.add(kept)
        if not candidates:
            continue
        if len(candidates) > 1:
            ctx.ambiguous_media += 1
        owner = kept if kept is not None else max(candidates, key=lambda s: (sizes.get(s, 0), -s))
        if owner_subject_id != owner:
            ctx.owners[item_id] = owner
        linked = _media(row, how)
        for subject in candidates & in_scope:
            by_subject[subject].append(linked)
    ctx.media = dict(by_subject)


def find_sightings(session: Session, ctx: Context, kinds: tuple[str, ...], max_shared: int) -> None:
    """Records in other operations that carry a subject's identifiers. Only identifiers seen in more than one
    operation are looked at, and none that more than `max_shared` subjects share."""
    if len(ctx.operations) < 2 or not kinds:
        return
    index, _ = _identifier_index(session)
    crossing = (
        select(Identifier.kind, Identifier.value)
        .join(SourceRecord, SourceRecord.id == Identifier.record_id)
        .join(SourceFile, SourceFile.id == SourceRecord.source_file_id)
        .join(Seizure, Seizure.id == SourceFile.seizure_id)
        .where(Identifier.kind.in_(kinds))
        .group_by(Identifier.kind, Identifier.value)
        .having(func.count(func.distinct(Seizure.operation_id)) > 1)
    )
    shared = {(k, v) for k, v in session.execute(crossing)}
    if not shared:
        return
    holders = {key: index.get((key[0], key[1].casefold()), set()) for key in shared}
    shared = {key for key, subjects in holders.items() if 0 < len(subjects) <= max_shared}
    in_scope = set(ctx.subject_ids)
    values = sorted({v for _, v in shared})
    for start in range(0, len(values), 500):
        query = (
            select(Identifier.kind, Identifier.value, SourceRecord)
            .join(SourceRecord, SourceRecord.id == Identifier.record_id)
            .where(Identifier.value.in_(values[start : start + 500]), Identifier.kind.in_(kinds))
        )
        for kind, value, record in session.execute(query):
            if (kind, value) not in shared:
                continue
            info = ctx.files.get(record.source_file_id)
            if info is None:
                continue
            rec = Record(record.id, record.record_type, record.source_file_id, record.row, record.locator, {})
            for subject in holders[(kind, value)] & in_scope:
                ctx.sightings.setdefault(subject, []).append(Sighting(rec, info.operation_id, f"{kind} {value}"))


def member_records(session: Session, subject_ids: list[int]) -> dict[int, list[Record]]:
    out: dict[int, list[Record]] = defaultdict(list)
    # Columns on the driver's cursor: a record's verbatim `raw` (its largest JSON) is not read here.
    query = (
        select(
            SubjectMember.subject_id,
            SourceRecord.id,
            SourceRecord.record_type,
            SourceRecord.source_file_id,
            SourceRecord.row,
            SourceRecord.locator,
            SourceRecord.fields,
        )
        .join(SourceRecord, SourceRecord.id == SubjectMember.record_id)
        .where(SubjectMember.subject_id.in_(subject_ids))
        .order_by(SubjectMember.subject_id, SourceRecord.id)
    )
    for subject, record_id, record_type, file_id, row, locator, fields in driver_rows(session, query, (6,)):
        out[subject].append(Record(record_id, record_type, file_id, row, locator, fields or {}))
    return out


def messages_for(
    session: Session,
    records: dict[int, list[Record]],
    read: dict[tuple[int, str], Record | None] | None = None,
) -> dict[tuple[int, str], Record]:
    """The message records that the subjects' mail participant records point to, by (file, locator). `read`
    keeps what earlier calls found (or did not), so a message whose participants fall in several chunks of
    subjects is read once."""
    read = {} if read is None else read
    wanted: dict[int, set[str]] = defaultdict(set)
    for recs in records.values():
        for r in recs:
            if r.record_type == "contact" and r.fields.get("message_id") and (loc := message_locator(r.locator)):
                wanted[r.file_id].add(loc)
    for file_id, locators in wanted.items():
        names = sorted(loc for loc in locators if (file_id, loc) not in read)
        for start in range(0, len(names), 500):
            batch = names[start : start + 500]
            query = select(
                SourceRecord.id, SourceRecord.record_type, SourceRecord.row, SourceRecord.locator, SourceRecord.fields
            ).where(SourceRecord.source_file_id == file_id, SourceRecord.locator.in_(batch))
            # The record type is checked here, not in the query: given it, SQLite's planner walked the record_type
            # index (every message of the store, for each batch) instead of the (file, locator) key.
            read.update(((file_id, loc), None) for loc in batch)
            for record_id, record_type, row, locator, fields in driver_rows(session, query, (4,)):
                if record_type == "message":
                    read[(file_id, locator)] = Record(record_id, record_type, file_id, row, locator, fields or {})
    out: dict[tuple[int, str], Record] = {}
    for file_id, locators in wanted.items():
        for loc in locators:
            found = read.get((file_id, loc))
            if found is not None:
                out[(file_id, loc)] = found
    return out


def chunks(ids: list[int], size: int = CHUNK) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
