"""Finding leads and walking their hops: by reference, by filter, up to the root and down to every hop below."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from threadline.core.errors import InputError, NotFoundError
from threadline.directory import find_agency
from threadline.model import LEAD_STATUSES, TERMINAL_STATUSES, Agency, Lead, LeadEvent, utcnow

MIN_PREFIX = 6


def find_lead(session: Session, ref: str | int) -> Lead:
    """A lead by its uid, a unique prefix of it (6 characters or more) or its local number."""
    text = str(ref).strip()
    if text.isdigit():
        lead = session.get(Lead, int(text))
        if lead is not None:
            return lead
    lead = session.scalars(select(Lead).where(Lead.uid == text)).first()
    if lead is not None:
        return lead
    if len(text) >= MIN_PREFIX:
        matches = list(session.scalars(select(Lead).where(Lead.uid.startswith(text, autoescape=True)).limit(2)))
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InputError(f"lead {text!r} is ambiguous: give more of its id")
    raise NotFoundError(f"unknown lead {text!r}: see `threadline track list`")


def root_of(lead: Lead) -> Lead:
    """The first lead of the chain (hop 0): the one the originator sent."""
    seen: set[int] = set()
    while lead.parent is not None and id(lead) not in seen:
        seen.add(id(lead))
        lead = lead.parent
    return lead


def descendants(session: Session, lead: Lead) -> list[Lead]:
    """Every hop below `lead`, parents before children (breadth first), loaded level by level."""
    found: list[Lead] = []
    frontier = [lead.id]
    seen = {lead.id}
    while frontier:
        children = list(session.scalars(select(Lead).where(Lead.parent_id.in_(frontier)).order_by(Lead.id)))
        children = [c for c in children if c.id not in seen]
        seen.update(c.id for c in children)
        found.extend(children)
        frontier = [c.id for c in children]
    return found


def agency_is_below(agency: Agency, ancestor_id: int) -> bool:
    """Whether `agency` hangs (directly or further down) under the agency `ancestor_id`."""
    seen: set[int] = set()
    current = agency.parent
    while current is not None and current.id not in seen:
        if current.id == ancestor_id:
            return True
        seen.add(current.id)
        current = current.parent
    return False


@dataclass(frozen=True)
class LeadFilter:
    agency: str | None = None
    status: str | None = None
    overdue: bool = False
    direction: str | None = None
    operation_id: int | None = None


def lead_query(session: Session, flt: LeadFilter, *, now: datetime | None = None) -> Select[Lead]:
    query = select(Lead).order_by(Lead.id)
    if flt.agency:
        query = query.where(Lead.agency_id == find_agency(session, flt.agency).id)
    if flt.status:
        if flt.status not in LEAD_STATUSES:
            raise InputError(f"unknown status {flt.status!r}; expected one of {', '.join(LEAD_STATUSES)}")
        query = query.where(Lead.status == flt.status)
    if flt.overdue:
        query = query.where(Lead.due_at.is_not(None), Lead.due_at < (now or utcnow()))
        query = query.where(Lead.status.not_in(TERMINAL_STATUSES))
    if flt.direction:
        query = query.where(Lead.direction == flt.direction)
    if flt.operation_id is not None:
        query = query.where(Lead.operation_id == flt.operation_id)
    return query


def list_leads(
    session: Session, flt: LeadFilter | None = None, *, now: datetime | None = None, limit: int | None = None
) -> list[Lead]:
    query = lead_query(session, flt or LeadFilter(), now=now)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def agency_codes(session: Session, ids: Sequence[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(Agency.id, Agency.code).where(Agency.id.in_(wanted)))
    return {agency_id: code for agency_id, code in rows}


def lead_summary(lead: Lead, codes: dict[int, str], *, now: datetime | None = None) -> dict[str, Any]:
    """A lead as one row: what inboxes, `track list` and the web show."""
    now = now or utcnow()
    overdue = lead.due_at is not None and lead.due_at < now and lead.status not in TERMINAL_STATUSES
    return {
        "lead_id": lead.uid,
        "number": lead.id,
        "direction": lead.direction,
        "hop": lead.hop,
        "parent": lead.parent.uid if lead.parent is not None else None,
        "agency": codes.get(lead.agency_id, str(lead.agency_id)),
        "country": lead.country,
        "region": lead.region,
        "tier": lead.tier,
        "score": lead.score,
        "handling_code": lead.handling_code,
        "status": lead.status,
        "due_at": lead.due_at.isoformat() if lead.due_at else None,
        "overdue": overdue,
        "escalation_level": lead.escalation_level,
        "outcome": lead.outcome,
        "arrests": lead.arrests,
        "charges": lead.charges,
        "children_safeguarded": lead.children_safeguarded,
    }


def event_row(event: LeadEvent, codes: dict[int, str]) -> dict[str, Any]:
    return {
        "event_id": event.uid,
        "at": event.at.isoformat(),
        "kind": event.kind,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "actor": event.actor,
        "agency": codes.get(event.agency_id) if event.agency_id is not None else None,
        "notes": event.notes,
        "details": event.details,
        "origin": event.origin,
    }


def timeline(session: Session, lead: Lead) -> dict[str, Any]:
    """A lead with its hops and every event of each, oldest first."""
    chain = [lead, *descendants(session, lead)]
    events = list(
        session.scalars(
            select(LeadEvent).where(LeadEvent.lead_id.in_([c.id for c in chain])).order_by(LeadEvent.at, LeadEvent.id)
        )
    )
    codes = agency_codes(
        session,
        [c.agency_id for c in chain] + [e.agency_id for e in events] + [lead.originating_agency_id],
    )
    by_id = {c.id: c.uid for c in chain}
    return {
        "lead": lead_summary(lead, codes),
        "originating_agency": codes.get(lead.originating_agency_id) if lead.originating_agency_id else None,
        "hops": [lead_summary(c, codes) for c in chain[1:]],
        "events": [{"lead_id": by_id[e.lead_id], **event_row(e, codes)} for e in events],
    }
