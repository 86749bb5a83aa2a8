"""Seized media, known only by hashes, sizes and paths: Threadline never keeps image bytes or thumbnails.

Known-material sets (`HashSet`, `KnownHash`) are what seized media is triaged against; a `MediaVerdict` says,
for one seized item, whether it is known material, allow-listed, novel or could not be judged, and why.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from threadline.model.base import Base, JSONType, UTCDateTime, utcnow

MEDIA_ORIGINS = ("list", "scan")
MEDIA_KINDS = ("image", "video", "other", "none")
VERDICTS = ("known-exact", "known-near", "allow-listed", "novel", "low-quality", "unhashable")
HASH_SET_STATUSES = ("active", "superseded", "removed")


class MediaItem(Base):
    """One seized media file: where the evidence lies and its hashes. Rows come from forensic hash lists
    (ingest, origin "list") or from hashing a folder (the media stage, origin "scan")."""

    __tablename__ = "media_item"
    __table_args__ = (UniqueConstraint("source_file_id", "row", name="uq_media_item_source_row"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    seizure_id: Mapped[int | None] = mapped_column(ForeignKey("seizure.id"), index=True)
    source_file_id: Mapped[int | None] = mapped_column(ForeignKey("source_file.id"))
    row: Mapped[int | None] = mapped_column(Integer)
    # Relative to the seizure folder for both origins, so a list row and a scanned file of the same path meet.
    path: Mapped[str] = mapped_column(Text)
    size: Mapped[int | None] = mapped_column(BigInteger)
    md5: Mapped[str | None] = mapped_column(String(32), index=True)
    sha1: Mapped[str | None] = mapped_column(String(40), index=True)
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    pdq: Mapped[str | None] = mapped_column(String(64))
    pdq_quality: Mapped[int | None] = mapped_column(Integer)
    device: Mapped[str | None] = mapped_column(String(200))
    custodian: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    origin: Mapped[str] = mapped_column(String(10), default="list", server_default="list")
    # image | video | other | none (nothing could be read); null for list rows.
    kind: Mapped[str | None] = mapped_column(String(10))
    # Size and modification time when hashed: a rescan skips files whose both are unchanged.
    mtime_ns: Mapped[int | None] = mapped_column(BigInteger)
    # Why the file could not be read at all (no hash), or why it has no PDQ (videos, corrupt images, bombs).
    error: Mapped[str | None] = mapped_column(Text)
    pdq_skipped: Mapped[str | None] = mapped_column(Text)
    # The person the file belongs to, once resolve links custodians to subjects (no foreign key until then).
    owner_subject_id: Mapped[int | None] = mapped_column(Integer, index=True)
    hashed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    verdict: Mapped[MediaVerdict | None] = relationship(back_populates="item", passive_deletes=True)


class HashSet(Base):
    """One imported version of a known-hash set (a VICS export, a CSV, a PDQ list). Re-importing the same bytes
    adds nothing; changed bytes under the same name make a new version and retire the old one's hashes. An
    allow set (`is_allow`) lists known-benign files whose match overrides a known-material match."""

    __tablename__ = "hash_set"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_hash_set_name_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    format: Mapped[str] = mapped_column(String(20))
    is_allow: Mapped[bool] = mapped_column(Boolean, default=False)
    category: Mapped[str | None] = mapped_column(String(60))
    source_path: Mapped[str] = mapped_column(Text)
    source_sha256: Mapped[str] = mapped_column(String(64))
    source_size: Mapped[int] = mapped_column(BigInteger)
    # active | superseded | removed; only active sets' hashes are kept and matched.
    status: Mapped[str] = mapped_column(String(20), default="active")
    entries: Mapped[int] = mapped_column(Integer, default=0)
    hashes: Mapped[int] = mapped_column(Integer, default=0)
    quarantined: Mapped[int] = mapped_column(Integer, default=0)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class KnownHash(Base):
    """One known file of a set: its hashes and what the set says about it. PhotoDNA is kept opaquely (Threadline
    cannot compute it); `line` is the line (CSV, PDQ list) or entry number (VICS) in the imported file."""

    __tablename__ = "known_hash"
    # Exact-hash indexes hold only the rows that have that hash (partial: `WHERE md5 IS NOT NULL`): a PDQ list
    # of ten million lines then costs them nothing, where full indexes had made its import twice as slow. An
    # equality on the column (triage's join) implies IS NOT NULL, so both SQLite and PostgreSQL still use them.
    __table_args__ = tuple(
        Index(
            f"ix_known_hash_{kind}",
            kind,
            sqlite_where=text(f"{kind} IS NOT NULL"),
            postgresql_where=text(f"{kind} IS NOT NULL"),
        )
        for kind in ("md5", "sha1", "sha256")
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    hash_set_id: Mapped[int] = mapped_column(ForeignKey("hash_set.id", ondelete="CASCADE"), index=True)
    line: Mapped[int] = mapped_column(Integer)
    media_id: Mapped[str | None] = mapped_column(String(100))
    md5: Mapped[str | None] = mapped_column(String(32))
    sha1: Mapped[str | None] = mapped_column(String(40))
    sha256: Mapped[str | None] = mapped_column(String(64))
    pdq: Mapped[str | None] = mapped_column(String(64))
    pdq_quality: Mapped[int | None] = mapped_column(Integer)
    category: Mapped[str | None] = mapped_column(String(60))
    series: Mapped[str | None] = mapped_column(String(200))
    victim_identified: Mapped[bool | None] = mapped_column(Boolean)
    offender_identified: Mapped[bool | None] = mapped_column(Boolean)
    photodna: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class QuarantinedHash(Base):
    """An entry of a hash-set file that could not be used (a malformed hash), kept with its reason."""

    __tablename__ = "quarantined_hash"

    id: Mapped[int] = mapped_column(primary_key=True)
    hash_set_id: Mapped[int] = mapped_column(ForeignKey("hash_set.id", ondelete="CASCADE"), index=True)
    line: Mapped[int] = mapped_column(Integer)
    raw_text: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)


class MediaVerdict(Base):
    """The latest triage decision for one seized item, with the evidence for it. Re-running triage replaces it;
    set name and category are copied so a verdict still reads correctly after its set is retired."""

    __tablename__ = "media_verdict"

    id: Mapped[int] = mapped_column(primary_key=True)
    media_item_id: Mapped[int] = mapped_column(ForeignKey("media_item.id", ondelete="CASCADE"), unique=True)
    # known-exact | known-near | allow-listed | novel | low-quality | unhashable
    verdict: Mapped[str] = mapped_column(String(20), index=True)
    matched_by: Mapped[str | None] = mapped_column(String(10))
    distance: Mapped[int | None] = mapped_column(Integer)
    known_hash_id: Mapped[int | None] = mapped_column(ForeignKey("known_hash.id", ondelete="SET NULL"), index=True)
    hash_set_id: Mapped[int | None] = mapped_column(ForeignKey("hash_set.id", ondelete="SET NULL"))
    hashset: Mapped[str | None] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(60))
    series: Mapped[str | None] = mapped_column(String(200))
    victim_identified: Mapped[bool | None] = mapped_column(Boolean)
    matched_pdq: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    max_distance: Mapped[int] = mapped_column(Integer)
    min_quality: Mapped[int] = mapped_column(Integer)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    item: Mapped[MediaItem] = relationship(back_populates="verdict")
