"""What was seized and where every record came from: the provenance a court will ask for."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from threadline.model.base import Base, JSONType, UTCDateTime, utcnow
from threadline.model.directory import Agency

RECORD_TYPES = ("customer", "order", "contact", "message", "payment", "account", "media")
# The canonical fields of `SourceRecord.fields`: what mappings name, ingest fills and exports write.
CANONICAL_FIELDS = (
    "record_id", "record_type", "full_name", "given_name", "family_name", "aliases", "date_of_birth", "email",
    "phone", "street", "city", "region", "postal_code", "country", "ip", "username", "national_id", "occupation",
    "organisation", "date", "amount", "currency", "counterparty",
)  # fmt: skip


class Operation(Base):
    """An investigation that one or more seizures belong to, led by an originating agency."""

    __tablename__ = "operation"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    originating_agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    originating_agency: Mapped[Agency | None] = relationship()
    seizures: Mapped[list[Seizure]] = relationship(back_populates="operation")


class Seizure(Base):
    """One delivery of seized material (a directory or archive), ingested as a unit."""

    __tablename__ = "seizure"
    __table_args__ = (UniqueConstraint("operation_id", "source_path", name="uq_seizure_operation_source"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    operation_id: Mapped[int] = mapped_column(ForeignKey("operation.id"), index=True)
    label: Mapped[str] = mapped_column(String(300))
    source_path: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open")
    # The column mapping used, saved so an analyst can review, edit and pass it back.
    mapping: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    operation: Mapped[Operation] = relationship(back_populates="seizures")
    files: Mapped[list[SourceFile]] = relationship(back_populates="seizure")


class SourceFile(Base):
    """One version of a file inside a seizure, fingerprinted so anyone can check the evidence is the same file.

    The same path with different bytes is a new version; the same bytes again add nothing. `checkpoint_row`
    is the last row whose records are committed, so an interrupted ingest resumes exactly there."""

    __tablename__ = "source_file"
    __table_args__ = (UniqueConstraint("seizure_id", "path", "sha256", name="uq_source_file_seizure_path_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    seizure_id: Mapped[int] = mapped_column(ForeignKey("seizure.id"))
    # Path inside the seizure; entries of an archive read in place are "archive.zip!inner/file.csv".
    path: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    format: Mapped[str | None] = mapped_column(String(40))
    encoding: Mapped[str | None] = mapped_column(String(40))
    delimiter: Mapped[str | None] = mapped_column(String(4))
    record_type: Mapped[str | None] = mapped_column(String(20))
    # pending | ingesting | done | duplicate | skipped | failed
    status: Mapped[str] = mapped_column(String(20), default="pending")
    status_reason: Mapped[str | None] = mapped_column(Text)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("source_file.id"))
    checkpoint_row: Mapped[int] = mapped_column(Integer, default=0)
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    records: Mapped[int] = mapped_column(Integer, default=0)
    rows_quarantined: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    seizure: Mapped[Seizure] = relationship(back_populates="files")


class SourceRecord(Base):
    """One row, message, card or entry as found (verbatim) and as understood (canonical fields)."""

    __tablename__ = "source_record"
    __table_args__ = (UniqueConstraint("source_file_id", "locator", name="uq_source_record_file_locator"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_file_id: Mapped[int] = mapped_column(ForeignKey("source_file.id"))
    # Row or line number within the file (1-based), and a locator that is unique within it
    # ("12", "Orders!12", "message 3"), so every record can be found again in the evidence.
    row: Mapped[int] = mapped_column(Integer)
    locator: Mapped[str] = mapped_column(String(200))
    record_type: Mapped[str] = mapped_column(String(20), index=True)
    record_key: Mapped[str | None] = mapped_column(String(200))
    raw: Mapped[dict[str, Any]] = mapped_column(JSONType)
    fields: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    source_file: Mapped[SourceFile] = relationship()
    identifiers: Mapped[list[Identifier]] = relationship(back_populates="record")


IDENTIFIER_KINDS = ("email", "phone", "username", "ip", "national_id")


class Identifier(Base):
    """A normalised identifier (canonical e-mail, E.164 phone, username, IP, national id) of a record,
    indexed so every record sharing it is one lookup away."""

    __tablename__ = "identifier"
    __table_args__ = (Index("ix_identifier_kind_value", "kind", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(320))

    record: Mapped[SourceRecord] = relationship(back_populates="identifiers")


class QuarantinedRow(Base):
    """Input that could not be read as a record. Kept with its reason so nothing is lost."""

    __tablename__ = "quarantined_row"
    __table_args__ = (UniqueConstraint("source_file_id", "locator", name="uq_quarantined_row_file_locator"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_file_id: Mapped[int] = mapped_column(ForeignKey("source_file.id"))
    row: Mapped[int | None] = mapped_column(Integer)
    locator: Mapped[str] = mapped_column(String(200))
    raw_text: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    source_file: Mapped[SourceFile] = relationship()
