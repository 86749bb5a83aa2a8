"""Clocks and escalation: find leads past their clock and escalate them, level by level, each step an event.

Schedule, for a running clock of length L (from sending to `due_at`):
  level 1 once the clock has passed (now > due_at):         the receiving agency's supervisors;
  level 2 once it is overdue by half its length (due + L/2): the agency above (Agency.parent; for an agency at the
                                                              top of its country, the agency that sent the lead);
  level 3 once it is overdue by its whole length (due + L):  the coordinator (the operation's originating agency).
So no lead passes twice its clock (sent + 2L = due + L) without an escalation on record, as long as the sweep runs
more often than the shortest clock (24 hours by default; the web server runs it every few minutes).

The sweep is idempotent: the lead row keeps the highest level escalated for the running clock (reset when a new
clock starts), so a second sweep at the same moment adds nothing. A sweep that ran late catches up, recording
every level that fell due. `plan_escalations_naive` is the slow, obviously-correct twin (it reads each lead's
events instead of the row's level) that tests and the benchmark hold the batched sweep to.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threadline.core import audit
from threadline.core.db import Store
from threadline.model import TERMINAL_STATUSES, Agency, Lead, LeadEvent, Operation, User, utcnow
from threadline.refer.events import append_event, clock_length, clock_name

log = logging.getLogger(__name__)

SWEEP_ACTOR = "threadline-sweep"
# Events that start a new clock, and with it a clean escalation ladder.
CLOCK_RESETS = ("acknowledged", "action_taken", "outcome")


def level_due(due_at: datetime, length: timedelta, now: datetime) -> int:
    """The escalation level a clock of `length` ending at `due_at` has reached at `now` (0 = not overdue)."""
    overdue = now - due_at
    if overdue <= timedelta(0):
        return 0
    if overdue >= length:
        return 3
    if overdue >= length / 2:
        return 2
    return 1


def level_at(due_at: datetime, length: timedelta, level: int) -> datetime:
    """When `level` falls due (the sweep escalates at its first run after this moment)."""
    return due_at + {1: timedelta(0), 2: length / 2, 3: length}[level]


@dataclass(frozen=True, order=True)
class Planned:
    lead_id: int
    level: int


@dataclass
class SweepReport:
    now: datetime
    candidates: int = 0
    escalated_leads: int = 0
    escalations: dict[int, int] = field(default_factory=lambda: {1: 0, 2: 0, 3: 0})
    overdue_open: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "candidates": self.candidates,
            "escalated_leads": self.escalated_leads,
            "escalations": {f"level_{k}": v for k, v in sorted(self.escalations.items())},
            "overdue_open": self.overdue_open,
            "seconds": round(self.seconds, 3),
        }


def _candidates(session: Session, now: datetime) -> list[Lead]:
    return list(
        session.scalars(
            select(Lead)
            .where(Lead.due_at.is_not(None), Lead.due_at < now, Lead.escalation_level < 3)
            .where(Lead.status.not_in(TERMINAL_STATUSES))
            .order_by(Lead.due_at, Lead.id)
        )
    )


def plan_escalations(session: Session, now: datetime) -> list[tuple[Lead, int]]:
    """Every (lead, level) that falls due by `now` and is not on record yet: one indexed query."""
    plan: list[tuple[Lead, int]] = []
    for lead in _candidates(session, now):
        length = clock_length(lead)
        if lead.due_at is None or length is None:
            continue
        for level in range((lead.escalation_level or 0) + 1, level_due(lead.due_at, length, now) + 1):
            plan.append((lead, level))
    return plan


def plan_escalations_naive(session: Session, now: datetime) -> list[Planned]:
    """The reference: every open lead, one by one, with the level on record read from its own events."""
    plan: list[Planned] = []
    for lead_id in session.scalars(select(Lead.id).order_by(Lead.id)).all():
        lead = session.get(Lead, lead_id)
        if lead is None or lead.status in TERMINAL_STATUSES or lead.due_at is None:
            continue
        events = session.scalars(select(LeadEvent).where(LeadEvent.lead_id == lead_id).order_by(LeadEvent.id)).all()
        on_record = 0
        for event in events:
            if event.to_status in CLOCK_RESETS:
                on_record = 0
            elif event.kind == "escalated":
                on_record = max(on_record, int(event.details["level"]))
        length = clock_length(lead)
        assert length is not None
        plan.extend(Planned(lead_id, level) for level in range(on_record + 1, level_due(lead.due_at, length, now) + 1))
    return plan


class _Directory:
    """Agencies, operations and users looked up once per sweep."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._users: dict[int, list[User]] = {}

    def agency(self, agency_id: int | None) -> Agency | None:
        return self.session.get(Agency, agency_id) if agency_id is not None else None

    def users(self, agency_id: int, role: str) -> list[str]:
        if agency_id not in self._users:
            self._users[agency_id] = list(
                self.session.scalars(
                    select(User).where(User.agency_id == agency_id, User.disabled.is_(False)).order_by(User.username)
                )
            )
        return [u.username for u in self._users[agency_id] if role in (u.roles or [])]

    def coordinator(self, lead: Lead) -> Agency | None:
        if lead.operation_id is not None:
            operation = self.session.get(Operation, lead.operation_id)
            if operation is not None and operation.originating_agency_id is not None:
                return self.agency(operation.originating_agency_id)
        return self.agency(lead.originating_agency_id)

    def target(self, lead: Lead, level: int) -> dict[str, Any]:
        """Whom a level-`level` escalation of `lead` goes to, named."""
        holder = self.agency(lead.agency_id)
        role, why = "supervisor", "the receiving agency's supervisors"
        agency: Agency | None = holder
        if level == 2:
            why = "the agency above"
            agency = holder.parent if holder is not None else None
            if agency is None:
                why = "the agency that sent the lead (none above the receiving agency)"
                agency = self.agency(lead.parent.agency_id if lead.parent is not None else lead.originating_agency_id)
        elif level == 3:
            role, why = "coordinator", "the operation's coordinator"
            agency = self.coordinator(lead)
        users = self.users(agency.id, role) if agency is not None else []
        return {"agency": agency.code if agency is not None else None, "role": role, "users": users, "why": why}


def sweep(session: Session, *, now: datetime | None = None, actor: str = SWEEP_ACTOR) -> SweepReport:
    """Escalate every lead whose clock has run out as far as the schedule says, once; returns what it did."""
    started = time.perf_counter()
    now = now or utcnow()
    report = SweepReport(now=now)
    plan = plan_escalations(session, now)
    report.candidates = len({lead.id for lead, _ in plan})
    directory = _Directory(session)
    escalated: set[int] = set()
    for lead, level in plan:
        assert lead.due_at is not None
        length = clock_length(lead) or timedelta(0)
        overdue = now - lead.due_at
        target = directory.target(lead, level)
        people = ", ".join(target["users"]) or "nobody on record"
        append_event(
            session,
            lead,
            "escalated",
            actor=actor,
            at=now,
            notes=f"{clock_name(lead)} clock overdue by {format_duration(overdue)}: escalated to {target['why']} "
            f"({target['agency'] or 'unknown agency'}: {people})",
            details={
                "level": level,
                "to": target,
                "overdue_by": int(overdue.total_seconds()),
                "clock": clock_name(lead),
                "due_at": lead.due_at.isoformat(),
                "scheduled_at": level_at(lead.due_at, length, level).isoformat(),
            },
        )
        report.escalations[level] += 1
        escalated.add(lead.id)
    report.escalated_leads = len(escalated)
    session.flush()
    report.overdue_open = (
        session.scalar(
            select(func.count())
            .select_from(Lead)
            .where(Lead.due_at.is_not(None), Lead.due_at < now, Lead.status.not_in(TERMINAL_STATUSES))
        )
        or 0
    )
    if plan:
        audit.record(
            session,
            actor=actor,
            action="lead.sweep",
            object_type="lead",
            details={
                "now": now.isoformat(),
                "escalated_leads": report.escalated_leads,
                **{f"level_{k}": v for k, v in report.escalations.items()},
            },
        )
    report.seconds = time.perf_counter() - started
    return report


def run_periodic_sweep(
    store: Store,
    *,
    interval_s: float = 300.0,
    stop: threading.Event,
    actor: str = SWEEP_ACTOR,
) -> None:
    """Sweep every `interval_s` seconds until `stop` is set: what the web server runs in a background thread.
    A failed sweep is logged and retried at the next tick; nothing it did half-way is kept (one transaction)."""
    while not stop.is_set():
        try:
            with store.session() as session:
                report = sweep(session, actor=actor)
            if report.escalated_leads:
                log.info("sweep escalated %d leads", report.escalated_leads)
        except Exception:  # the loop must outlive a database hiccup
            log.exception("lead sweep failed; retrying in %s s", interval_s)
        stop.wait(interval_s)


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{sign}{days} d {hours} h"
    if hours:
        return f"{sign}{hours} h {minutes} min"
    return f"{sign}{minutes} min"
