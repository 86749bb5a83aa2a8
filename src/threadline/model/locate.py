"""Where each person is: every piece of locating evidence as a claim, and one decision per subject.

A `JurisdictionClaim` is one observation (a phone's region, an address country, an IP's country…) with the record
it came from and a weight. A `SubjectJurisdiction` is the decision drawn from all of them: a country (and an ISO
3166-2 region when the evidence gives one), a confidence, the claims that disagree, and the national agency the
lead goes to. Low confidence is "unplaced": a coordinator decides, the system never guesses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from threadline.model.base import Base, JSONType, UTCDateTime, utcnow

CLAIM_SOURCES = (
    "phone", "address_country", "region", "postal_code", "city", "ip", "email_domain", "shipping", "payment",
    "manual",
)  # fmt: skip
PLACEMENT_STATUSES = ("placed", "unplaced")


class JurisdictionClaim(Base):
    """One piece of evidence that a subject is in a country (and perhaps a region)."""

    __tablename__ = "jurisdiction_claim"
    __table_args__ = (Index("ix_jurisdiction_claim_subject_id", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id", ondelete="CASCADE"))
    record_id: Mapped[int | None] = mapped_column(ForeignKey("source_record.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(20))
    # The evidence as read (the phone number, the postal code, the IP), so the claim can be checked by eye.
    value: Mapped[str] = mapped_column(String(400))
    country: Mapped[str] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(10))
    weight: Mapped[float] = mapped_column(Float)
    # The evidence fits more than one country (a city name found in several, a shared dialling code).
    ambiguous: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("stage_run.id"))


class SubjectJurisdiction(Base):
    """The decided jurisdiction of one subject and the agency its lead goes to first."""

    __tablename__ = "subject_jurisdiction"

    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), index=True)  # placed | unplaced
    country: Mapped[str | None] = mapped_column(String(2), index=True)
    region: Mapped[str | None] = mapped_column(String(10))
    confidence: Mapped[float] = mapped_column(Float)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"))
    # Why it is unplaced, or which countries the disagreeing claims point to: [{country, weight, sources}].
    reason: Mapped[str | None] = mapped_column(Text)
    disagreements: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    claims: Mapped[int] = mapped_column(Integer, default=0)
    # Set when a coordinator placed the subject by hand; a later locate run keeps a manual decision.
    decided_by: Mapped[str | None] = mapped_column(String(200))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("stage_run.id"))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
