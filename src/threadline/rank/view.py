"""A subject's ranking as investigators read it: tier, score, rules version, and every factor with its evidence."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.model import TIER_LABELS, RiskAssessment, RuleSet


def assessment_view(session: Session, subject_id: int) -> dict[str, Any] | None:
    """The subject's current assessment, or None when rank has not assessed it (not run yet, or retired).
    Evidence entries carry their provenance: record id, file, row and locator, or media item id and path."""
    found = session.execute(
        select(RiskAssessment, RuleSet)
        .join(RuleSet, RuleSet.id == RiskAssessment.rule_set_id)
        .where(RiskAssessment.subject_id == subject_id)
    ).first()
    if found is None:
        return None
    assessment, rule_set = found
    return {
        "tier": assessment.tier,
        "tier_label": TIER_LABELS.get(assessment.tier, assessment.tier),
        "score": assessment.score,
        "summary": assessment.summary,
        "assessed_at": assessment.assessed_at.isoformat(),
        "run_id": assessment.run_id,
        "rules": {"scope": rule_set.scope, "version": rule_set.version, "sha256": rule_set.sha256},
        "factors": assessment.factors,
    }
