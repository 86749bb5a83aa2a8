"""A small world for track tests: agencies in a hierarchy, users, an operation, and leads built directly (the
way refer builds them), so lifecycle, sweep, status files and reports can be tested without the earlier stages."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.directory import seed_national_agencies
from threadline.model import LEAD_TRANSITIONS, Agency, Lead, Operation, User
from threadline.refer.events import append_event
from threadline.track import lifecycle

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OPERATION = "Operation Lantern"


@dataclass
class World:
    operation_id: int
    coordinator_id: int  # CA: the originating agency


def agency(session: Session, code: str) -> Agency:
    return session.scalars(select(Agency).where(Agency.code == code)).one()


def build_world(session: Session, *, regions: bool = True) -> World:
    """CA coordinates; France has FR (national) > FR-IDF (regional) > FR-PARIS (local); Germany DE > DE-BY.
    Without `regions`, only the national agencies (what an originator's directory may hold)."""
    seed_national_agencies(session, actor="test")
    if not regions:
        operation = Operation(name=OPERATION, originating_agency_id=agency(session, "CA").id)
        session.add(operation)
        session.flush()
        return World(operation_id=operation.id, coordinator_id=agency(session, "CA").id)
    fr, de = agency(session, "FR"), agency(session, "DE")
    idf = Agency(code="FR-IDF", name="Île-de-France regional police", kind="regional", country="FR", region="FR-IDF",
                 parent=fr)  # fmt: skip
    paris = Agency(code="FR-PARIS", name="Paris child protection unit", kind="local", country="FR", region="FR-75C",
                   parent=idf)  # fmt: skip
    bavaria = Agency(code="DE-BY", name="Bavarian LKA", kind="regional", country="DE", region="DE-BY", parent=de)
    session.add_all([idf, paris, bavaria])
    session.flush()
    for name, code, roles in (
        ("sophie", "FR", ["supervisor"]),
        ("marc", "FR", ["investigator"]),
        ("lea", "FR-IDF", ["supervisor"]),
        ("chris", "CA", ["coordinator"]),
        ("old.boss", "FR", ["supervisor"]),
    ):
        session.add(User(username=name, agency=agency(session, code), roles=roles, password_hash="-",
                         disabled=name == "old.boss"))  # fmt: skip
    operation = Operation(name=OPERATION, originating_agency_id=agency(session, "CA").id)
    session.add(operation)
    session.flush()
    return World(operation_id=operation.id, coordinator_id=agency(session, "CA").id)


def make_lead(
    session: Session,
    world: World,
    code: str = "FR",
    *,
    tier: str = "very_high",
    at: datetime = T0,
    send: bool = True,
    direction: str = "outgoing",
) -> Lead:
    target = agency(session, code)
    lead = Lead(
        uid=str(uuid.uuid4()),
        direction=direction,
        operation_id=world.operation_id,
        agency_id=target.id,
        originating_agency_id=world.coordinator_id,
        hop=0,
        country=target.country,
        tier=tier,
        score=0.9,
        status="created",
        escalation_level=0,
        arrests=0,
        charges=0,
        children_safeguarded=0,
        created_at=at,
        updated_at=at,
    )
    session.add(lead)
    append_event(session, lead, "created", actor="refer", agency_id=world.coordinator_id, at=at)
    if send:
        append_event(session, lead, "sent", actor="refer", agency_id=world.coordinator_id, at=at)
    session.flush()
    return lead


def path_to(status: str) -> list[str]:
    """The shortest list of statuses from "sent" that reaches `status` (breadth first over LEAD_TRANSITIONS)."""
    if status in ("created", "sent"):
        return []
    queue: list[list[str]] = [["sent"]]
    while queue:
        path = queue.pop(0)
        for nxt in LEAD_TRANSITIONS[path[-1]]:
            if nxt == status:
                return [*path[1:], nxt]
            if nxt not in path:
                queue.append([*path, nxt])
    raise ValueError(status)


def drive(session: Session, lead: Lead, target: str, *, at: datetime | None = None) -> Lead:
    """Take a sent lead to `target` through legal steps (assign forwards to the agency below)."""
    when = at or T0 + timedelta(hours=1)
    for step in path_to(target):
        act(session, lead, step, at=when)
    return lead


def act(session: Session, lead: Lead, target: str, *, at: datetime) -> object:
    """The lifecycle call that moves a lead to `target`."""
    who = "tester"
    if target == "acknowledged":
        return lifecycle.acknowledge(session, lead, actor=who, at=at)
    if target == "assigned":
        below = session.scalars(select(Agency).where(Agency.parent_id == lead.agency_id).order_by(Agency.id)).first()
        assert below is not None, "no agency below"
        return lifecycle.assign(session, lead, below, actor=who, at=at)
    if target == "investigating":
        return lifecycle.start_investigation(session, lead, actor=who, at=at)
    if target == "action_taken":
        return lifecycle.record_action(session, lead, "search executed", actor=who, at=at)
    if target == "outcome":
        return lifecycle.record_outcome(
            session, lead, "arrested", arrests=1, charges=2, children_safeguarded=1, actor=who, at=at
        )
    if target == "closed":
        return lifecycle.close(session, lead, actor=who, at=at)
    if target == "recalled":
        return lifecycle.recall(session, lead, actor=who, at=at)
    raise ValueError(target)


def receive_copy(session: Session, world: World, sent: Lead, code: str = "FR") -> Lead:
    """The incoming copy of an outgoing lead (another store's row), as opening its package makes it at `code`."""
    target = agency(session, code)
    copy = Lead(
        uid=sent.uid,
        direction="incoming",
        operation_id=world.operation_id,
        agency_id=target.id,
        originating_agency_id=world.coordinator_id,
        hop=0,
        country=sent.country,
        tier=sent.tier,
        score=sent.score,
        handling_code=sent.handling_code,
        status="created",
        escalation_level=0,
        arrests=0,
        charges=0,
        children_safeguarded=0,
        ack_due_at=sent.ack_due_at,
        action_due_at=sent.action_due_at,
        created_at=sent.created_at,
        updated_at=sent.created_at,
    )
    session.add(copy)
    for event in sent.events:
        append_event(session, copy, event.kind, actor=event.actor, agency_id=world.coordinator_id, at=event.at,
                     uid=event.uid, origin="imported")  # fmt: skip
    append_event(session, copy, "received", actor="opener", agency_id=target.id, at=sent.created_at)
    session.flush()
    return copy
