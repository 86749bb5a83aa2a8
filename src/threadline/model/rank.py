"""How urgent each person is: versioned rules (data, reviewable by an agency) and one assessment per subject.

`RuleSet` stores a rules file (rank weights, or routing rules for an operation) as it was given, parsed, with a
version; only one per kind and scope is active, and a refused file never replaces the active one. A
`RiskAssessment` keeps the tier, the score and every factor that contributed with the records that triggered it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from threadline.model.base import Base, JSONType, UTCDateTime, utcnow

TIERS = ("very_high", "high", "medium", "low")
TIER_LABELS = {"very_high": "Very High", "high": "High", "medium": "Medium", "low": "Low"}
RULESET_KINDS = ("rank", "routing")


class RuleSet(Base):
    """One version of a rules file. `scope` is "global" or an operation's name."""

    __tablename__ = "rule_set"
    __table_args__ = (UniqueConstraint("kind", "scope", "version", name="uq_rule_set_kind_scope_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    scope: Mapped[str] = mapped_column(String(200), default="global")
    version: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    content: Mapped[dict[str, Any]] = mapped_column(JSONType)
    source_text: Mapped[str] = mapped_column(Text)
    source_path: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RiskAssessment(Base):
    """The current ranking of one subject. `factors` is a list of
    {factor, label, points, detail, evidence: [{record_id | media_item_id | subject_id, text}]}."""

    __tablename__ = "risk_assessment"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id", ondelete="CASCADE"), unique=True)
    rule_set_id: Mapped[int] = mapped_column(ForeignKey("rule_set.id"))
    tier: Mapped[str] = mapped_column(String(20), index=True)
    score: Mapped[float] = mapped_column(Float, index=True)
    factors: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    summary: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("stage_run.id"))
    assessed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
