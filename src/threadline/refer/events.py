"""The one way a lead's state changes: append a `LeadEvent`, checked against the lead's state machine.

Refer writes a lead's first events (created, sent); track (acknowledge, assign, outcome, recall, escalation) and the
import of status files go through the same function, so every state change is an append-only event with actor,
time and notes, and an illegal transition is refused before anything is written.

Clocks. A lead carries two response clocks, both counted from the moment it is sent: acknowledge by (`ack_due_at`)
and act by (`action_due_at`), from its tier and the receiving agency's policy (`refer.clocks`). `due_at` is the
clock running now: the acknowledge clock while the lead is sent, the act clock once it is acknowledged or under
investigation, none while it sits with a hop below (assigned; the hop runs its own clocks) or once an action, an
outcome, a close or a recall is recorded. A lead sent without clocks gets them here, so no sent lead is ever
without a running clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from threadline.core.errors import ConflictError, InputError
from threadline.model import (
    LEAD_EVENT_KINDS,
    LEAD_STATUSES,
    LEAD_TRANSITIONS,
    OUTCOMES,
    TERMINAL_STATUSES,
    Agency,
    Lead,
    LeadEvent,
    utcnow,
)
from threadline.refer.clocks import agency_clocks, default_clocks

# Events that record something without moving the lead to another status.
NON_TRANSITIONS = frozenset(set(LEAD_EVENT_KINDS) - set(LEAD_STATUSES))
EVENT_ORIGINS = ("local", "imported")
OUTCOME_COUNTS = ("arrests", "charges", "children_safeguarded")
ESCALATION_LEVELS = (1, 2, 3)


def can_transition(current: str, target: str) -> bool:
    return target in LEAD_TRANSITIONS.get(current, ())


def set_clocks(lead: Lead, agency: Agency | None, start: datetime) -> None:
    """Set the lead's acknowledge-by and act-by from `start` (the moment it is sent) under `agency`'s policy."""
    clocks = agency_clocks(agency) if agency is not None else default_clocks()
    clock = clocks.get(lead.tier) or clocks["low"]
    lead.ack_due_at, lead.action_due_at = clock.due(start)


def clock_length(lead: Lead) -> timedelta | None:
    """How long the running clock gave the agency: from sending to `due_at` (None when no clock runs)."""
    if lead.due_at is None:
        return None
    start = lead.sent_at or lead.created_at
    if start is None or lead.due_at <= start:
        return timedelta(hours=1)
    return lead.due_at - start


def clock_name(lead: Lead) -> str:
    """Which clock `due_at` is: "acknowledge" while the lead waits to be acknowledged, else "act"."""
    return "acknowledge" if lead.status == "sent" else "act"


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
    does not allow, InputError for an outcome without a known outcome or with negative counts; nothing is written
    then."""
    if kind not in LEAD_EVENT_KINDS:
        raise ConflictError(f"unknown lead event {kind!r}; expected one of {', '.join(LEAD_EVENT_KINDS)}")
    if origin not in EVENT_ORIGINS:
        raise ConflictError(f"unknown event origin {origin!r}; expected one of {', '.join(EVENT_ORIGINS)}")
    at = at or utcnow()
    details = dict(details or {})
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
    if kind == "outcome":
        _check_outcome(lead, details)
    if kind == "escalated":
        level = details.get("level")
        if level not in ESCALATION_LEVELS:
            raise ConflictError(f"escalation of lead {lead.uid} needs a level in 1-3, not {level!r}")
    if target == "sent" and (lead.ack_due_at is None or lead.action_due_at is None):
        agency = session.get(Agency, lead.agency_id) if lead.agency_id is not None else None
        ack_due, action_due = lead.ack_due_at, lead.action_due_at
        set_clocks(lead, agency, at)
        lead.ack_due_at = ack_due or lead.ack_due_at
        lead.action_due_at = action_due or lead.action_due_at
    event = LeadEvent(
        uid=uid or str(uuid.uuid4()),
        lead=lead,
        kind=kind,
        from_status=current if target and kind != "created" else None,
        to_status=target,
        actor=actor,
        agency_id=agency_id,
        at=at,
        notes=notes,
        details=details,
        origin=origin,
        recorded_at=utcnow(),
    )
    session.add(event)
    if target is not None:
        _apply(lead, target, at, event.details)
    elif kind == "escalated":
        lead.escalation_level = max(lead.escalation_level or 0, int(details["level"]))
    lead.updated_at = at if lead.updated_at is None else max(lead.updated_at, at)
    return event


def create_leads_bulk(
    session: Session,
    rows: Sequence[dict[str, Any]],
    *,
    actor: str,
    agency_id: int | None,
    at: datetime,
    details: Sequence[dict[str, Any]],
) -> list[int]:
    """Insert leads that do not exist yet with their "created" events, many at once: the bulk twin of
    `append_event(session, lead, "created", ...)` for new leads (a new lead has no history, so nothing can refuse
    it). `rows` are Lead column values; status and timestamps are set here. Returns the new leads' ids in order."""
    if len(details) != len(rows):
        raise ValueError("one details mapping per lead")
    if not rows:
        return []
    values = [{**row, "status": "created", "created_at": at, "updated_at": at} for row in rows]
    # Core executemany without RETURNING (the ORM's ordered RETURNING was most of the time), then the new ids by uid.
    session.execute(insert(cast(Table, Lead.__table__)), values)
    uids = [value["uid"] for value in values]
    by_uid: dict[str, int] = {}
    for start in range(0, len(uids), 900):
        by_uid.update(
            {
                uid: lead_id
                for lead_id, uid in session.execute(
                    select(Lead.id, Lead.uid).where(Lead.uid.in_(uids[start : start + 900]))
                )
            }
        )
    ids = [by_uid[uid] for uid in uids]
    now = utcnow()
    session.execute(
        insert(cast(Table, LeadEvent.__table__)),
        [
            {
                "uid": str(uuid.uuid4()),
                "lead_id": lead_id,
                "kind": "created",
                "from_status": None,
                "to_status": "created",
                "actor": actor,
                "agency_id": agency_id,
                "at": at,
                "notes": None,
                "details": dict(detail),
                "origin": "local",
                "recorded_at": now,
            }
            for lead_id, detail in zip(ids, details, strict=True)
        ],
    )
    return ids


def send_leads_bulk(
    session: Session,
    leads: Sequence[Lead],
    *,
    actor: str,
    agency_id: int | None,
    at: datetime,
    uids: Sequence[str],
    details: dict[str, Any],
    changes: Sequence[dict[str, Any]],
) -> None:
    """Record "sent" on many leads at once: the bulk twin of `append_event(session, lead, "sent", ...)`, with the
    same transition check (nothing is written if any lead may not be sent) and the same effect on each lead's
    state (`_apply`), written as one UPDATE and one INSERT executed for many rows. `changes` holds other columns
    to set on each lead with it (its package, the snapshot sent, its clocks: a lead without clocks is refused). The
    leads are expired from the session afterwards, so they are read back as written."""
    if not (len(leads) == len(uids) == len(changes)):
        raise ValueError("one event uid and one change mapping per lead")
    for lead, change in zip(leads, changes, strict=True):
        if not can_transition(lead.status, "sent"):
            allowed = ", ".join(LEAD_TRANSITIONS.get(lead.status, ())) or "nothing (the lead is finished)"
            raise ConflictError(f"lead {lead.uid} is {lead.status}; it cannot become sent (allowed: {allowed})")
        if change.get("ack_due_at", lead.ack_due_at) is None or change.get("action_due_at", lead.action_due_at) is None:
            raise ConflictError(f"lead {lead.uid} has no response clocks; give them with the change to send it")
    if not leads:
        return
    session.flush()
    now = utcnow()
    updates: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for lead, uid, change in zip(leads, uids, changes, strict=True):
        state = _LeadState(lead, change)
        _apply(state, "sent", at, details)  # type: ignore[arg-type]
        updates.append(
            {
                **change,
                "id": lead.id,
                "status": state.status,
                "sent_at": state.sent_at,
                "due_at": state.due_at,
                "updated_at": at if lead.updated_at is None else max(lead.updated_at, at),
            }
        )
        events.append(
            {
                "uid": uid,
                "lead_id": lead.id,
                "kind": "sent",
                "from_status": lead.status,
                "to_status": "sent",
                "actor": actor,
                "agency_id": agency_id,
                "at": at,
                "notes": None,
                "details": dict(details),
                "origin": "local",
                "recorded_at": now,
            }
        )
    # Core executemany: one statement, the lead's id bound as "lead_id" (a bind may not share a column's name).
    table = cast(Table, Lead.__table__)
    columns = [name for name in updates[0] if name != "id"]
    statement = (
        update(table).where(table.c.id == bindparam("lead_id")).values({name: bindparam(name) for name in columns})
    )
    session.execute(statement, [{**{k: v for k, v in u.items() if k != "id"}, "lead_id": u["id"]} for u in updates])
    session.execute(insert(cast(Table, LeadEvent.__table__)), events)
    for lead in leads:
        session.expire(lead)


class _LeadState:
    """The columns `_apply` reads and writes for one lead, outside the ORM (see `send_leads_bulk`)."""

    _NAMES = (
        "status",
        "sent_at",
        "acknowledged_at",
        "closed_at",
        "due_at",
        "ack_due_at",
        "action_due_at",
        "escalation_level",
        "outcome",
        "arrests",
        "charges",
        "children_safeguarded",
    )
    status: str
    sent_at: datetime | None
    due_at: datetime | None

    def __init__(self, lead: Lead, change: dict[str, Any]) -> None:
        for name in self._NAMES:
            setattr(self, name, change.get(name, getattr(lead, name)))


def _check_outcome(lead: Lead, details: dict[str, Any]) -> None:
    outcome = details.get("outcome")
    if outcome not in OUTCOMES:
        raise InputError(f"lead {lead.uid}: unknown outcome {outcome!r}; expected one of {', '.join(OUTCOMES)}")
    for counter in OUTCOME_COUNTS:
        value = details.get(counter, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InputError(f"lead {lead.uid}: {counter} must be a whole number of 0 or more, not {value!r}")


def _apply(lead: Lead, target: str, at: datetime, details: dict[str, Any]) -> None:
    """Move the lead's current state and its running clock (see the module's docstring)."""
    lead.status = target
    if target == "sent":
        lead.sent_at = lead.sent_at or at
        lead.due_at = lead.ack_due_at
    elif target == "acknowledged":
        lead.acknowledged_at = lead.acknowledged_at or at
        lead.due_at = lead.action_due_at
    elif target == "assigned":
        lead.due_at = None
    elif target == "investigating":
        lead.due_at = lead.action_due_at
    elif target in ("action_taken", "outcome"):
        lead.due_at = None
    elif target in TERMINAL_STATUSES:
        lead.closed_at = at
        lead.due_at = None
    if target == "outcome":
        lead.outcome = details.get("outcome", lead.outcome)
        for counter in OUTCOME_COUNTS:
            setattr(lead, counter, (getattr(lead, counter) or 0) + int(details.get(counter, 0) or 0))
    # A new clock starts with a clean escalation ladder.
    if lead.escalation_level and target in ("acknowledged", "action_taken", "outcome"):
        lead.escalation_level = 0
