"""Leads as export rows: the `export leads` contract."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.model import Agency, Lead

LEAD_EXPORT_COLUMNS = ("lead_id", "subject_id", "country", "region", "agency", "tier", "score", "status", "sla_due")


def lead_rows(session: Session) -> Iterator[dict[str, Any]]:
    """One row per lead, outgoing and incoming: the lead's global id, the local subject (empty for an incoming
    lead), where, to which agency, tier and score, status and the clock running now (empty when none runs)."""
    query = (
        select(Lead, Agency.code)
        .join(Agency, Agency.id == Lead.agency_id)
        .order_by(Lead.id)
        .execution_options(yield_per=5000)
    )
    for lead, agency in session.execute(query):
        yield {
            "lead_id": lead.uid,
            "subject_id": lead.subject_id,
            "country": lead.country,
            "region": lead.region,
            "agency": agency,
            "tier": lead.tier,
            "score": lead.score,
            "status": lead.status,
            "sla_due": lead.due_at.isoformat() if lead.due_at else None,
        }
