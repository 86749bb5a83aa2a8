"""Who is behind the records: subjects (people), which records are theirs and why, and what analysts decided.

A `Subject` is one person as far as the evidence goes. Each record belongs to at most one subject through a
`SubjectMember` row that keeps the probability with which it joined. Analysts' `Judgement`s (same / not same
person) override the model on the next run; `ReviewPair`s are the uncertain pairs waiting for one. The trained
model is data (`ResolveModel`, Splink's JSON with a version) so it can be reviewed, diffed and reused."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from threadline.model.base import Base, JSONType, UTCDateTime, utcnow

JUDGEMENT_DECISIONS = ("same", "not_same")
REVIEW_STATUSES = ("pending", "decided", "skipped")
SUBJECT_STATUSES = ("active", "retired")


class ResolveModel(Base):
    """A trained matching model: Splink's settings with m and u values, saved as JSON with a version."""

    __tablename__ = "resolve_model"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    # Threadline's comparison design the model was trained for; a new design means training again.
    spec_version: Mapped[str] = mapped_column(String(20))
    engine: Mapped[str] = mapped_column(String(20))
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType)
    training: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ResolveRun(Base):
    """One run of the resolve stage and the numbers it reported."""

    __tablename__ = "resolve_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int | None] = mapped_column(ForeignKey("resolve_model.id"))
    mode: Mapped[str] = mapped_column(String(20))  # full | incremental | unchanged
    engine: Mapped[str] = mapped_column(String(20))
    threshold: Mapped[float] = mapped_column(Float)
    report: Mapped[dict[str, Any]] = mapped_column(JSONType)
    actor: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Subject(Base):
    """A person behind one or more records. Retired subjects (merged into another, or emptied) keep their id so
    references made earlier can still be followed."""

    __tablename__ = "subject"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="active", index=True)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("subject.id"))
    # Too little to match on (a first name only): kept alone rather than guessed into someone else.
    insufficient: Mapped[bool] = mapped_column(Boolean, default=False)
    member_count: Mapped[int] = mapped_column(Integer, default=0)
    given_name: Mapped[str | None] = mapped_column(String(200))
    family_name: Mapped[str | None] = mapped_column(String(200))
    full_name: Mapped[str | None] = mapped_column(String(400))
    date_of_birth: Mapped[str | None] = mapped_column(String(10))
    country: Mapped[str | None] = mapped_column(String(2))
    # Canonical value per field (most frequent, then most recent) and every identifier of every member.
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType)
    identifiers: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_run_id: Mapped[int | None] = mapped_column(ForeignKey("resolve_run.id"))
    updated_run_id: Mapped[int | None] = mapped_column(ForeignKey("resolve_run.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SubjectMember(Base):
    """A record's place in a subject, with the match probability that put it there (1.0 when an analyst said
    so, empty for a subject of one)."""

    __tablename__ = "subject_member"

    record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id", ondelete="CASCADE"), primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id"), index=True)
    match_probability: Mapped[float | None] = mapped_column(Float)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("resolve_run.id"))


class Judgement(Base):
    """An analyst's decision that two records are (or are not) the same person. The newest one for a pair wins."""

    __tablename__ = "judgement"
    __table_args__ = (Index("ix_judgement_pair", "record_a_id", "record_b_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_a_id: Mapped[int] = mapped_column(ForeignKey("source_record.id", ondelete="CASCADE"))
    record_b_id: Mapped[int] = mapped_column(ForeignKey("source_record.id", ondelete="CASCADE"))
    decision: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReviewPair(Base):
    """A pair the model was unsure about, waiting for an analyst's judgement."""

    __tablename__ = "review_pair"
    __table_args__ = (UniqueConstraint("record_a_id", "record_b_id", name="uq_review_pair_records"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_a_id: Mapped[int] = mapped_column(ForeignKey("source_record.id", ondelete="CASCADE"))
    record_b_id: Mapped[int] = mapped_column(ForeignKey("source_record.id", ondelete="CASCADE"))
    match_probability: Mapped[float] = mapped_column(Float)
    match_weight: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("resolve_run.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SubjectLink(Base):
    """An edge between two subjects (a shared identifier, a message between them, a payment), with the records
    that prove it, for the link chart."""

    __tablename__ = "subject_link"
    __table_args__ = (
        UniqueConstraint("subject_a_id", "subject_b_id", "kind", "value", name="uq_subject_link_edge"),
        Index("ix_subject_link_subject_b_id", "subject_b_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_a_id: Mapped[int] = mapped_column(ForeignKey("subject.id"))
    subject_b_id: Mapped[int] = mapped_column(ForeignKey("subject.id"))
    kind: Mapped[str] = mapped_column(String(20))  # email | phone | username | ip | national_id | message | payment
    value: Mapped[str] = mapped_column(String(320))
    record_ids: Mapped[list[int]] = mapped_column(JSONType)
    evidence_count: Mapped[int] = mapped_column(Integer, default=1)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("resolve_run.id"))
