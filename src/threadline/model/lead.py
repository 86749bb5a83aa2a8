"""Leads and their lives: what was sent to whom, every hop, every event, every package and status file.

A `Lead` is one subject sent to one agency. When that agency forwards it to an agency below (a hop), the hop is a
new lead whose `parent_id` is the lead it came from. Its history is `LeadEvent`s, append-only (the database refuses
UPDATE and DELETE), each with actor, time and notes; the lead row holds the current state for fast inboxes.

The same tables serve both ends: at the originator leads are `outgoing`; at a receiving installation that opened
a package they are `incoming`, identified by the same `uid`, and carry the subject as received (`subject_snapshot`)
instead of a local subject. Events carry a `uid` too, so a status file replayed at the other end changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from threadline.model.base import Base, JSONType, UTCDateTime, utcnow

LEAD_STATUSES = (
    "created", "sent", "acknowledged", "assigned", "investigating", "action_taken", "outcome", "closed", "recalled",
)  # fmt: skip
# Status changes a lead may make; everything else is refused. Events that do not change the status
# (note, escalated, imported) are allowed in any state but "recalled" and "closed" allow only notes.
LEAD_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "created": ("sent", "recalled"),
    "sent": ("acknowledged", "recalled"),
    "acknowledged": ("assigned", "investigating", "action_taken", "outcome", "recalled"),
    "assigned": ("investigating", "action_taken", "outcome", "closed", "recalled"),
    "investigating": ("assigned", "action_taken", "outcome", "recalled"),
    "action_taken": ("action_taken", "outcome", "recalled"),
    "outcome": ("outcome", "closed", "recalled"),
    "closed": (),
    "recalled": (),
}
TERMINAL_STATUSES = ("closed", "recalled")
# Event kinds: one per target status, plus events that leave the status alone.
LEAD_EVENT_KINDS = (*LEAD_STATUSES, "note", "escalated", "imported", "package_written", "received")
OUTCOMES = ("arrested", "charged", "no_offence", "insufficient_evidence", "unable_to_locate", "transferred")
# After the H0-H3 handling codes of European police messaging: how the receiver may use and pass on a lead.
HANDLING_CODES = {
    "H0": "For police and law-enforcement purposes; may be disseminated to other law-enforcement bodies.",
    "H1": "Not for use in judicial proceedings without the originator's permission.",
    "H2": "Not to be disseminated further without the originator's permission.",
    "H3": "Further restrictions apply; see the handling note.",
}
LEAD_DIRECTIONS = ("outgoing", "incoming")
KEY_KINDS = ("signing", "age")


class Lead(Base):
    __tablename__ = "lead"
    __table_args__ = (
        Index("ix_lead_agency_status", "agency_id", "status"),
        Index("ix_lead_operation_id", "operation_id"),
        Index("ix_lead_parent_id", "parent_id"),
        Index("ix_lead_subject_id", "subject_id"),
        Index("ix_lead_due", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Global id, the same at every installation the lead reaches.
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    direction: Mapped[str] = mapped_column(String(10), default="outgoing")
    operation_id: Mapped[int | None] = mapped_column(ForeignKey("operation.id"))
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("subject.id"))
    # The subject as sent (names, identifiers with provenance, jurisdiction, factors): what an incoming lead
    # shows, and what an outgoing one said at the time it was packaged.
    subject_snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"))
    originating_agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("lead.id"))
    hop: Mapped[int] = mapped_column(Integer, default=0)
    country: Mapped[str | None] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(10))
    tier: Mapped[str] = mapped_column(String(20))
    score: Mapped[float] = mapped_column(Float)
    handling_code: Mapped[str] = mapped_column(String(4), default="H0")
    handling_note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="created", index=True)
    # Response clocks: acknowledge by, act by; `due_at` is the clock running now (null once closed/recalled).
    ack_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    action_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # 0 none; 1 the receiving agency's supervisor; 2 the agency above; 3 the coordinator.
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    arrests: Mapped[int] = mapped_column(Integer, default=0)
    charges: Mapped[int] = mapped_column(Integer, default=0)
    children_safeguarded: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str | None] = mapped_column(String(30))
    package_id: Mapped[int | None] = mapped_column(ForeignKey("referral_package.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    parent: Mapped[Lead | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Lead]] = relationship(back_populates="parent")
    events: Mapped[list[LeadEvent]] = relationship(back_populates="lead", order_by="LeadEvent.id")


class LeadEvent(Base):
    """One thing that happened to a lead. Append-only. Outcome events carry arrests, charges and children
    safeguarded in `details`; escalations carry the level and whom they went to."""

    __tablename__ = "lead_event"
    __table_args__ = (Index("ix_lead_event_lead_id", "lead_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("lead.id"))
    kind: Mapped[str] = mapped_column(String(20), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    notes: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # local: happened here; imported: applied from a signed status file of another installation.
    origin: Mapped[str] = mapped_column(String(10), default="local")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    lead: Mapped[Lead] = relationship(back_populates="events")


class ReferralPackage(Base):
    """One signed, encrypted file for one agency (written here, or received and opened here)."""

    __tablename__ = "referral_package"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    direction: Mapped[str] = mapped_column(String(10), default="outgoing")
    operation_id: Mapped[int | None] = mapped_column(ForeignKey("operation.id"))
    sender_agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"))
    recipient_agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    path: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    lead_count: Mapped[int] = mapped_column(Integer)
    manifest: Mapped[dict[str, Any]] = mapped_column(JSONType)
    signer_fingerprint: Mapped[str] = mapped_column(String(100))
    recipients: Mapped[list[str]] = mapped_column(JSONType)
    schema_version: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AgencyKey(Base):
    """A public key of an agency: Ed25519 for signatures, age (X25519) for encryption. A private key, when this
    installation holds one, lives only in a file under THREADLINE_HOME (owner-only permissions) named here."""

    __tablename__ = "agency_key"
    __table_args__ = (UniqueConstraint("agency_id", "kind", "fingerprint", name="uq_agency_key_agency_kind_fp"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # signing | age
    public_key: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(100))
    private_key_file: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20))  # generated | imported
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StatusExchange(Base):
    """A signed status file: written here for the originator (events after `last_event_id`), or imported here
    from a receiving agency (how many of its events were new)."""

    __tablename__ = "status_exchange"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    direction: Mapped[str] = mapped_column(String(10))
    sender_agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"))
    recipient_agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"))
    path: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    last_event_id: Mapped[int | None] = mapped_column(Integer)
    events_total: Mapped[int] = mapped_column(Integer, default=0)
    events_applied: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
