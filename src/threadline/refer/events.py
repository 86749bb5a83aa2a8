"""The one way a lead's state changes: append a `LeadEvent`, checked against the lead's state machine.

Refer writes a lead's first events (created, sent); track (acknowledge, assign, outcome, recall, escalation) and the
receiving side's import go through the same function, so every state change is an append-only event with actor,
time and notes, and an illegal transition is refused before anything is written.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from threadline.core.errors import ConflictError
from threadline.model import (
    LEAD_EVENT_KINDS,
    LEAD_STATUSES,
    LEAD_TRANSITIONS,
    TERMINAL_STATUSES,
    Lead,
    LeadEvent,
    utcnow,
)

# Events that record something without moving the lead to another status.
NON_TRANSITIONS = frozenset(set(LEAD_EVENT_KINDS) - set(LEAD_STATUSES))


def can_transition(current: str, target: str) -> bool:
    return target in LEAD_TRANSITIONS.get(current, ())


def append_event(
    session: Session,
    lead: Lead,
    kind: str,
    *,
    actor: str,
    agency_id: int | None = None,
    notes: str | None = None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
    uid: str | None = None,
    origin: str = "local",
) -> LeadEvent:
    """Record `kind` on `lead` and apply it to the lead's current state.

    `kind` is a target status (sent, acknowledged, …, recalled) or an event that leaves the status alone (note,
    escalated, imported, package_written, received). Raises ConflictError for a transition the state machine
    does not allow; nothing is written then."""
    if kind not in LEAD_EVENT_KINDS:
        raise ConflictError(f"unknown lead event {kind!r}; expected one of {', '.join(LEAD_EVENT_KINDS)}")
    at = at or utcnow()
    current = lead.status
    target: str | None = None
    if kind in LEAD_STATUSES:
        if kind == "created":
            if lead.events:
                raise ConflictError(f"lead {lead.uid} already exists; it cannot be created twice")
        elif not can_transition(current, kind):
            allowed = ", ".join(LEAD_TRANSITIONS.get(current, ())) or "nothing (the lead is finished)"
            raise ConflictError(f"lead {lead.uid} is {current}; it cannot become {kind} (allowed: {allowed})")
        target = kind
    elif current in TERMINAL_STATUSES and kind not in ("note", "imported", "received"):
        raise ConflictError(f"lead {lead.uid} is {current}; only notes can be added")
    event = LeadEvent(
        uid=uid or str(uuid.uuid4()),
        lead=lead,
        kind=kind,
        from_status=current if target else None,
        to_status=target,
        actor=actor,
        agency_id=agency_id,
        at=at,
        notes=notes,
        details=dict(details or {}),
        origin=origin,
        recorded_at=utcnow(),
    )
    session.add(event)
    if target is not None:
        _apply(lead, target, at, event.details)
    lead.updated_at = at
    return event


def _apply(lead: Lead, target: str, at: datetime, details: dict[str, Any]) -> None:
    """Move the lead's current state and its running clock: acknowledge-by until acknowledged, act-by until an
    action or outcome is recorded, no clock once closed or recalled."""
    lead.status = target
    if target == "sent":
        lead.sent_at = lead.sent_at or at
        lead.due_at = lead.ack_due_at
    elif target == "acknowledged":
        lead.acknowledged_at = lead.acknowledged_at or at
        lead.due_at = lead.action_due_at
    elif target in ("action_taken", "outcome"):
        lead.due_at = None
    elif target in TERMINAL_STATUSES:
        lead.closed_at = at
        lead.due_at = None
    if target == "outcome":
        lead.outcome = details.get("outcome", lead.outcome)
        for counter in ("arrests", "charges", "children_safeguarded"):
            setattr(lead, counter, getattr(lead, counter) + int(details.get(counter, 0) or 0))
    if target != "created" and lead.escalation_level and target in ("acknowledged", "action_taken", "outcome"):
        lead.escalation_level = 0
