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
    media_by_sha256: dict[str, Media] = field(default_factory=dict)
    owners: dict[int, int] = field(default_factory=dict)  # media item -> owner subject to store
    ambiguous_media: int = 0
    sightings: dict[int, list[Sighting]] = field(default_factory=dict)


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
    # Columns, not entities (a seizure's hash list is a million items), and each custodian or upload folder's
    # candidates worked out once.
    query = (
        select(
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
        .outerjoin(MediaVerdict, MediaVerdict.media_item_id == MediaItem.id)
        .order_by(MediaItem.id)
        .execution_options(yield_per=20000)
    )
    by_custodian: dict[str, set[int]] = {}

    def holders(name: str) -> set[int]:
        found = by_custodian.get(name)
        if found is None:
            found = set()
            for key in _custodian_keys(name):
                found |= index.get(key, set())
            by_custodian[name] = found
        return found

    for item in session.execute(query):
        media = Media(
            id=item.id,
            path=item.path,
            seizure_id=item.seizure_id,
            content=item.sha256 or item.md5 or item.sha1 or f"path:{item.seizure_id}:{item.path}",
            verdict=item.verdict,
            category=item.category,
            series=item.series,
            hashset=item.hashset,
            sha256=item.sha256,
        )
        if media.sha256:
            seen = ctx.media_by_sha256.get(media.sha256)
            if seen is None or (seen.verdict is None and media.verdict is not None):
                ctx.media_by_sha256[media.sha256] = media
        candidates: set[int] = set()
        how = ""
        if item.custodian:
            candidates = set(holders(item.custodian))
            how = f"custodian {item.custodian!r}"
        if not candidates:
            folder = _upload_owner(item.path, upload_folders)
            if folder:
                candidates = set(holders(folder))
                how = f"upload folder {folder!r}"
        if not candidates:
            how = "owner set on the item"
        kept = None
        if item.owner_subject_id is not None:
            kept = successors.get(item.owner_subject_id, item.owner_subject_id)
            kept = kept if kept in sizes else None
        if kept is not None:
            candidates.add(kept)
        if not candidates:
            continue
        if len(candidates) > 1:
            ctx.ambiguous_media += 1
        owner = kept if kept is not None else max(candidates, key=lambda s: (sizes.get(s, 0), -s))
        if item.owner_subject_id != owner:
            ctx.owners[item.id] = owner
        linked = Media(**{**media.__dict__, "linked_by": how})
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
    # Columns, not entities: a record's verbatim `raw` (its largest JSON) is not read here.
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
    for subject, record_id, record_type, file_id, row, locator, fields in session.execute(query):
        out[subject].append(Record(record_id, record_type, file_id, row, locator, fields or {}))
    return out


def messages_for(session: Session, records: dict[int, list[Record]]) -> dict[tuple[int, str], Record]:
    """The message records that the subjects' mail participant records point to, by (file, locator)."""
    wanted: dict[int, set[str]] = defaultdict(set)
    for recs in records.values():
        for r in recs:
            if r.record_type == "contact" and r.fields.get("message_id") and (loc := message_locator(r.locator)):
                wanted[r.file_id].add(loc)
    out: dict[tuple[int, str], Record] = {}
    for file_id, locators in wanted.items():
        names = sorted(locators)
        for start in range(0, len(names), 500):
            query = select(
                SourceRecord.id, SourceRecord.record_type, SourceRecord.row, SourceRecord.locator, SourceRecord.fields
            ).where(
                SourceRecord.source_file_id == file_id,
                SourceRecord.locator.in_(names[start : start + 500]),
                SourceRecord.record_type == "message",
            )
            for record_id, record_type, row, locator, fields in session.execute(query):
                out[(file_id, locator)] = Record(record_id, record_type, file_id, row, locator, fields or {})
    return out


def chunks(ids: list[int], size: int = CHUNK) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
