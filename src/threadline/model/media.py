"""Seized media, known only by hashes, sizes and paths: Threadline never keeps image bytes or thumbnails."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from threadline.model.base import Base, UTCDateTime, utcnow


class MediaItem(Base):
    """One seized media file: where the evidence lies and its hashes. Rows come from forensic hash lists
    (ingest) or from hashing a folder (the media stage)."""

    __tablename__ = "media_item"
    __table_args__ = (UniqueConstraint("source_file_id", "row", name="uq_media_item_source_row"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    seizure_id: Mapped[int | None] = mapped_column(ForeignKey("seizure.id"), index=True)
    source_file_id: Mapped[int | None] = mapped_column(ForeignKey("source_file.id"))
    row: Mapped[int | None] = mapped_column(Integer)
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
