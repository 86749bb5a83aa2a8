"""One row per run of a stage (locate, rank, refer, sweep, the pipeline), with the numbers it reported.

`threadline run` reads these to skip stages that are done and resume where a crash stopped."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from threadline.model.base import Base, JSONType, UTCDateTime, utcnow

RUN_STATUSES = ("running", "done", "failed")


class StageRun(Base):
    __tablename__ = "stage_run"
    __table_args__ = (Index("ix_stage_run_stage_started", "stage", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    stage: Mapped[str] = mapped_column(String(20))
    operation_id: Mapped[int | None] = mapped_column(ForeignKey("operation.id"))
    status: Mapped[str] = mapped_column(String(20), default="running")
    # Enough to tell whether the inputs changed since (counts, the max ids read, rule versions).
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    report: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
