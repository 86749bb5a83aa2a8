"""What people do with a lead: acknowledge, forward a hop below, investigate, act, report outcomes, close, recall.

Plain functions over a session, called alike by the CLI, the web pages, the tests and the benchmark. Each one
appends events through `refer.events.append_event` (so the state machine in `model.lead.LEAD_TRANSITIONS` refuses
anything illegal before a row is written) and records the action in the audit chain. Who acts is given the same way
to each of them, as keyword arguments (`Acting`): `actor=`, and optionally `agency_id=`, `notes=` and `at=`.

Outcome counts (arrests, charges, children safeguarded) stay on the lead whose agency recorded them. A parent
lead never copies its hops' counts, so summing over leads counts every arrest once; `rollup` gives a lead's
total with every hop below it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Required, TypedDict, Unpack

from sqlalchemy.orm import Session

from threadline.core import audit
from threadline.core.errors import ConflictError, InputError
from threadline.model import OUTCOMES, TERMINAL_STATUSES, Agency, Lead, LeadEvent, utcnow
from threadline.refer.events import OUTCOME_COUNTS, append_event, can_transition, set_clocks
from threadline.track.leads import agency_is_below, descendants

# What a person can do, by name, and the status each action moves the lead to.
ACTIONS: dict[str, str] = {
    "acknowledge": "acknowledged",
    "assign": "assigned",
    "start_investigation": "investigating",
    "record_action": "action_taken",
    "record_outcome": "outcome",
    "close": "closed",
    "recall": "recalled",
}


class Acting(TypedDict, total=False):
    """Who does something to a lead: the person (for the audit trail), the agency they act for (by default the one
    holding the lead; for a recall, the one that sent it) and when (by default now)."""

    actor: Required[str]
    agency_id: int | None
    at: datetime | None


class ActingWithNotes(Acting, total=False):
    notes: str | None


@dataclass(frozen=True, kw_only=True)
class _By:
    """`Acting` taken apart; built with `_By(**acting)` so that an unknown keyword is still a TypeError."""

    actor: str
    agency_id: int | None = None
    notes: str | None = None
    at: datetime | None = None

    def agency_or(self, default: int | None) -> int | None:
        return self.agency_id if self.agency_id is not None else default


def _audit(session: Session, lead: Lead, verb: str, by: _By, agency_id: int | None, details: dict[str, Any]) -> None:
    audit.record(
        session,
        actor=by.actor,
        action=f"lead.{verb}",
        object_type="lead",
        object_id=lead.uid,
        agency_id=agency_id,
        details=details,
    )


def _record(
    session: Session, lead: Lead, kind: str, verb: str, by: _By, details: dict[str, Any] | None = None
) -> LeadEvent:
    """A one-event transition: append the event (the state machine refuses an illegal one), then audit it."""
    event = append_event(
        session,
        lead,
        kind,
        actor=by.actor,
        agency_id=by.agency_or(lead.agency_id),
        notes=by.notes,
        details=details,
        at=by.at or utcnow(),
    )
    details = {"event": event.uid, "from": event.from_status, "to": event.to_status, **(details or {})}
    _audit(session, lead, verb, by, event.agency_id, details)
    return event


def acknowledge(session: Session, lead: Lead, **acting: Unpack[ActingWithNotes]) -> LeadEvent:
    """The receiving agency has the lead and has read it: the acknowledge clock stops, the act clock runs."""
    return _record(session, lead, "acknowledged", "acknowledge", _By(**acting))


def assign(session: Session, lead: Lead, to_agency: Agency, **acting: Unpack[ActingWithNotes]) -> Lead:
    """Forward the lead one hop down: the lead becomes "assigned" and a new lead (its child) is created and sent
    to `to_agency`, which must hang below the agency holding the lead. The hop keeps the subject, tier, score and
    handling conditions and runs its own clocks under its agency's policy. Returns the new lead."""
    by = _By(**acting)
    holder = session.get(Agency, lead.agency_id)
    holder_code = holder.code if holder is not None else str(lead.agency_id)
    if to_agency.id == lead.agency_id or not agency_is_below(to_agency, lead.agency_id):
        raise ConflictError(
            f"agency {to_agency.code} is not below {holder_code}: a lead is forwarded only to an agency under the "
            "one holding it (see `threadline agencies list`)"
        )
    at = by.at or utcnow()
    acting_id = by.agency_or(lead.agency_id)
    child_uid = str(uuid.uuid4())
    details = {"to_agency": to_agency.code, "child": child_uid}
    parent_event = append_event(
        session, lead, "assigned", actor=by.actor, agency_id=acting_id, notes=by.notes, details=details, at=at
    )
    child = new_hop(lead, to_agency, child_uid, at)
    set_clocks(child, to_agency, at)
    session.add(child)
    created = {"parent": lead.uid, "hop": child.hop}
    append_event(session, child, "created", actor=by.actor, agency_id=acting_id, details=created, at=at)
    sent = {"to_agency": to_agency.code}
    append_event(session, child, "sent", actor=by.actor, agency_id=acting_id, details=sent, at=at)
    _audit(session, lead, "assign", by, acting_id, {"event": parent_event.uid, **details, "hop": child.hop})
    return child


def new_hop(parent: Lead, agency: Agency, uid: str, at: datetime) -> Lead:
    """The lead one hop below `parent`, held by `agency`, created at `at`: it keeps the subject, tier, score and
    handling conditions; its clocks are the caller's to set (from the agency's policy, or as a status file says)."""
    return Lead(
        uid=uid,
        direction=parent.direction,
        operation_id=parent.operation_id,
        subject_id=parent.subject_id,
        subject_snapshot=parent.subject_snapshot,
        agency_id=agency.id,
        originating_agency_id=parent.originating_agency_id,
        parent=parent,
        hop=parent.hop + 1,
        country=agency.country,
        region=agency.region or parent.region,
        tier=parent.tier,
        score=parent.score,
        handling_code=parent.handling_code,
        handling_note=parent.handling_note,
        status="created",
        escalation_level=0,
        arrests=0,
        charges=0,
        children_safeguarded=0,
        created_at=at,
        updated_at=at,
    )


def start_investigation(session: Session, lead: Lead, **acting: Unpack[ActingWithNotes]) -> LeadEvent:
    return _record(session, lead, "investigating", "investigate", _By(**acting))


def record_action(session: Session, lead: Lead, action: str, **acting: Unpack[ActingWithNotes]) -> LeadEvent:
    """Something was done (a search executed, a device seized, an interview held): the act clock stops."""
    by = _By(**acting)
    text = action.strip()
    if not text:
        raise InputError("say what action was taken, e.g. 'search executed'")
    return _record(session, lead, "action_taken", "action", by, details={"action": text})


def record_outcome(
    session: Session,
    lead: Lead,
    outcome: str,
    *,
    arrests: int = 0,
    charges: int = 0,
    children_safeguarded: int = 0,
    **acting: Unpack[ActingWithNotes],
) -> LeadEvent:
    """An outcome with its counts. Several outcome events may follow one another (an arrest, later a charge);
    their counts add up on the lead."""
    by = _By(**acting)
    if outcome not in OUTCOMES:
        raise InputError(f"unknown outcome {outcome!r}; expected one of {', '.join(OUTCOMES)}")
    details: dict[str, Any] = {"outcome": outcome}
    for name, value in zip(OUTCOME_COUNTS, (arrests, charges, children_safeguarded), strict=True):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InputError(f"{name.replace('_', ' ')} must be a whole number of 0 or more, not {value!r}")
        details[name] = value
    return _record(session, lead, "outcome", "outcome", by, details=details)


def close(session: Session, lead: Lead, **acting: Unpack[ActingWithNotes]) -> LeadEvent:
    return _record(session, lead, "closed", "close", _By(**acting))


def recall(session: Session, lead: Lead, **acting: Unpack[ActingWithNotes]) -> list[LeadEvent]:
    """Retract a lead: it and every hop below that is still open become "recalled"; a hop already closed gets a
    note that the recall reached it. Refused when nothing in the chain is still open."""
    by = _By(**acting)
    at = by.at or utcnow()
    tree = [lead, *descendants(session, lead)]
    if all(node.status in TERMINAL_STATUSES for node in tree):
        raise ConflictError(f"lead {lead.uid} is {lead.status} and so is every hop below it: nothing to recall")
    acting_id = by.agency_or(_sender_agency_id(lead))
    events: list[LeadEvent] = []
    for node in tree:
        details = {"recall_of": lead.uid}
        if node.status == "recalled":
            continue
        kind = "note" if node.status == "closed" else "recalled"
        text = by.notes if kind == "recalled" else f"recall of {lead.uid} reached this closed lead"
        events.append(
            append_event(session, node, kind, actor=by.actor, agency_id=acting_id, notes=text, details=details, at=at)
        )
    recalled = [e.lead.uid for e in events if e.kind == "recalled"]
    noted = [e.lead.uid for e in events if e.kind == "note"]
    _audit(session, lead, "recall", by, acting_id, {"recalled": recalled, "noted": noted})
    return events


def _sender_agency_id(lead: Lead) -> int | None:
    """Who sent this lead: the agency holding the hop above, or the originator for the first hop."""
    if lead.parent is not None:
        return lead.parent.agency_id
    return lead.originating_agency_id


def add_note(session: Session, lead: Lead, text: str, **acting: Unpack[Acting]) -> LeadEvent:
    by = _By(**acting, notes=text.strip())
    if not by.notes:
        raise InputError("a note needs some text")
    return _record(session, lead, "note", "note", by)


def allowed_actions(lead: Lead) -> list[str]:
    """What may be done to the lead now, by action name (the keys of ACTIONS, and "add_note")."""
    allowed = [name for name, target in ACTIONS.items() if can_transition(lead.status, target)]
    if "recall" not in allowed and _has_open_hop(lead):
        allowed.append("recall")
    return [*allowed, "add_note"]


def _has_open_hop(lead: Lead) -> bool:
    stack = list(lead.children)
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.status not in TERMINAL_STATUSES:
            return True
        stack.extend(node.children)
    return False


@dataclass(frozen=True)
class Rollup:
    """A lead's outcome counts with every hop below it (each count taken once, from the lead that recorded it)."""

    leads: int
    arrests: int
    charges: int
    children_safeguarded: int
    outcomes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "leads": self.leads,
            "arrests": self.arrests,
            "charges": self.charges,
            "children_safeguarded": self.children_safeguarded,
            "outcomes": list(self.outcomes),
        }


def rollup(session: Session, lead: Lead) -> Rollup:
    tree = [lead, *descendants(session, lead)]
    return Rollup(
        leads=len(tree),
        arrests=sum(n.arrests or 0 for n in tree),
        charges=sum(n.charges or 0 for n in tree),
        children_safeguarded=sum(n.children_safeguarded or 0 for n in tree),
        outcomes=tuple(n.outcome for n in tree if n.outcome),
    )
