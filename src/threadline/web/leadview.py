"""What the lead page and the lead API show, and the actions done from them (through `track.lifecycle` only).

The person's side comes from `refer.snapshot` (the same snapshot a package carries): identifiers with the file
and row they were read from, the jurisdiction decision with its claims, ranking factors with their evidence and
media verdict counts (never a path, a hash or an image). An outgoing lead shows the subject as it is now; an
incoming one shows what was received. Every view that includes the person writes an audit event."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.core import audit
from threadline.core.errors import InputError, NotFoundError
from threadline.model import OUTCOMES, TERMINAL_STATUSES, TIER_LABELS, Agency, Lead, Operation, utcnow
from threadline.refer.snapshot import build_snapshots
from threadline.track import lifecycle
from threadline.track.leads import timeline
from threadline.web import policy
from threadline.web.inbox import clock_of
from threadline.web.policy import Principal

# The actions a page offers, the permission each needs and the lifecycle action it calls.
ACTIONS: dict[str, dict[str, str]] = {
    "acknowledge": {"permission": "lead.act", "label": "Acknowledge", "lifecycle": "acknowledge"},
    "investigate": {"permission": "lead.act", "label": "Start investigation", "lifecycle": "start_investigation"},
    "action": {"permission": "lead.act", "label": "Record an action", "lifecycle": "record_action"},
    "outcome": {"permission": "lead.act", "label": "Record an outcome", "lifecycle": "record_outcome"},
    "assign": {"permission": "lead.assign", "label": "Assign to an agency below", "lifecycle": "assign"},
    "close": {"permission": "lead.close", "label": "Close", "lifecycle": "close"},
    "recall": {"permission": "lead.recall", "label": "Recall", "lifecycle": "recall"},
    "note": {"permission": "lead.note", "label": "Add a note", "lifecycle": "add_note"},
}


def person_of(db: Session, lead: Lead) -> dict[str, Any] | None:
    if lead.subject_id is not None:
        return build_snapshots(db, [lead.subject_id]).get(lead.subject_id) or lead.subject_snapshot
    return lead.subject_snapshot


def agencies_below(db: Session, agency_id: int, *, scope: frozenset[int] | None = None) -> list[Agency]:
    """The agencies under `agency_id` (`scope`: its subtree when the caller has it, e.g. the principal's)."""
    scope = (scope if scope is not None else policy.agency_scope(db, agency_id)) - {agency_id}
    if not scope:
        return []
    return list(db.scalars(select(Agency).where(Agency.id.in_(sorted(scope))).order_by(Agency.country, Agency.name)))


def offered_actions(db: Session, p: Principal, lead: Lead) -> list[str]:
    possible = set(lifecycle.allowed_actions(lead))
    offered = []
    for name, spec in ACTIONS.items():
        if spec["lifecycle"] not in possible or not policy.allowed(db, p, spec["permission"], lead):
            continue
        # Assigning is the lead's own agency's (the policy checked it), so its subtree is the principal's.
        if name == "assign" and not (p.scope - {p.agency_id}):
            continue
        offered.append(name)
    return offered


def lead_view(db: Session, p: Principal, lead: Lead, *, record: bool = True) -> dict[str, Any]:
    """Everything the lead page shows; personal data only where the policy allows it, and audited then.

    `record=False` leaves the audit event to the caller, who must call `record_view(db, p, lead, view)` before
    showing anything (the pages do it last, right before committing, so the audit chain's head row is locked for
    a few milliseconds rather than while the page renders)."""
    now = utcnow()
    personal = policy.can_see_personal_data(db, p, lead)
    story = timeline(db, lead)
    agency = db.get(Agency, lead.agency_id)
    operation = db.get(Operation, lead.operation_id) if lead.operation_id else None
    view: dict[str, Any] = {
        "id": lead.id,
        "uid": lead.uid,
        "ref": lead.uid[:8],
        "direction": lead.direction,
        "tier": lead.tier,
        "tier_label": TIER_LABELS.get(lead.tier, lead.tier),
        "score": lead.score,
        "status": lead.status,
        "country": lead.country,
        "region": lead.region,
        "hop": lead.hop,
        "agency": {"id": agency.id, "code": agency.code, "name": agency.name} if agency else None,
        "operation": {"id": operation.id, "name": operation.name} if operation else None,
        "originating_agency": story.get("originating_agency"),
        "handling_code": lead.handling_code,
        "handling_note": lead.handling_note,
        "due_at": lead.due_at,
        "ack_due_at": lead.ack_due_at,
        "action_due_at": lead.action_due_at,
        "clock": clock_of(lead.due_at, lead.status, now),
        "escalation_level": lead.escalation_level,
        "outcome": lead.outcome,
        "arrests": lead.arrests,
        "charges": lead.charges,
        "children_safeguarded": lead.children_safeguarded,
        "parent": {"id": lead.parent.id, "uid": lead.parent.uid} if lead.parent is not None else None,
        "hops": story["hops"],
        "personal": personal,
        "person": None,
        "events": [],
    }
    if personal:
        view["person"] = person_of(db, lead)
        view["events"] = story["events"]
        if record:
            record_view(db, p, lead, view)
    else:
        # The history without notes or details, which may name the person.
        view["events"] = [
            {k: e[k] for k in ("lead_id", "at", "kind", "from_status", "to_status", "agency", "origin")}
            for e in story["events"]
        ]
    return view


def record_view(db: Session, p: Principal, lead: Lead, view: dict[str, Any]) -> None:
    """The audit event of a view that includes the person (nothing is written for one that does not)."""
    if not view["personal"]:
        return
    audit.record(
        db,
        actor=p.actor,
        action="lead.view",
        object_type="lead",
        object_id=lead.uid,
        agency_id=p.agency_id,
        details={"subject_id": lead.subject_id, "via": p.via},
    )


def _int(value: Any, name: str) -> int:
    if value in (None, ""):
        return 0
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InputError(f"{name.replace('_', ' ')}: give a whole number") from None
    if number < 0 or number > 100_000:
        raise InputError(f"{name.replace('_', ' ')}: give a number between 0 and 100000")
    return number


def perform(db: Session, p: Principal, lead: Lead, action: str, form: dict[str, Any]) -> Lead:
    """Do `action` on the lead as `p` through track's lifecycle (which checks the state machine and audits).
    Returns the lead to show next (the new hop for an assignment)."""
    spec = ACTIONS.get(action)
    if spec is None:
        raise NotFoundError(f"no lead action {action!r}")
    if not policy.allowed(db, p, spec["permission"], lead):
        raise PermissionError(action)
    notes = (str(form.get("notes") or "").strip() or None) if form.get("notes") is not None else None
    if notes is not None and len(notes) > 4000:
        raise InputError("notes: keep them under 4000 characters")
    kwargs: dict[str, Any] = {"actor": p.actor, "agency_id": p.agency_id}
    if action == "acknowledge":
        lifecycle.acknowledge(db, lead, notes=notes, **kwargs)
    elif action == "investigate":
        lifecycle.start_investigation(db, lead, notes=notes, **kwargs)
    elif action == "action":
        lifecycle.record_action(db, lead, str(form.get("action") or ""), notes=notes, **kwargs)
    elif action == "outcome":
        outcome = str(form.get("outcome") or "")
        if outcome not in OUTCOMES:
            raise InputError(f"choose an outcome: one of {', '.join(OUTCOMES)}")
        lifecycle.record_outcome(
            db,
            lead,
            outcome,
            arrests=_int(form.get("arrests"), "arrests"),
            charges=_int(form.get("charges"), "charges"),
            children_safeguarded=_int(form.get("children_safeguarded"), "children_safeguarded"),
            notes=notes,
            **kwargs,
        )
    elif action == "assign":
        code = str(form.get("agency") or "")
        target = next((a for a in agencies_below(db, lead.agency_id) if a.code == code), None)
        if target is None:
            raise InputError("choose an agency below yours to assign the lead to")
        child = lifecycle.assign(db, lead, target, notes=notes, **kwargs)
        db.flush()
        return child
    elif action == "close":
        lifecycle.close(db, lead, notes=notes, **kwargs)
    elif action == "recall":
        lifecycle.recall(db, lead, notes=notes, **kwargs)
    elif action == "note":
        lifecycle.add_note(db, lead, str(form.get("notes") or ""), **kwargs)
    db.flush()
    return lead


def is_open(lead: Lead) -> bool:
    return lead.status not in TERMINAL_STATUSES
