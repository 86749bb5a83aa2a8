"""Clocks and escalation: the schedule, whom each level reaches, idempotency, the naive twin, the periodic task."""

from __future__ import annotations

import random
import threading
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.core.db import Store
from threadline.core.errors import ConflictError
from threadline.model import Lead, LeadEvent, utcnow
from threadline.track import lifecycle
from threadline.track.sweep import (
    Planned,
    level_due,
    plan_escalations,
    plan_escalations_naive,
    run_periodic_sweep,
    sweep,
)
from track_builder import T0, agency, build_world, drive, make_lead

H = timedelta(hours=1)


def escalations(session: Session, lead: Lead) -> list[LeadEvent]:
    return list(
        session.scalars(
            select(LeadEvent).where(LeadEvent.lead_id == lead.id, LeadEvent.kind == "escalated").order_by(LeadEvent.id)
        )
    )


def test_level_due_schedule() -> None:
    due, length = T0 + 24 * H, 24 * H
    assert [level_due(due, length, T0 + h * H) for h in (0, 24, 25, 35, 36, 47, 48, 100)] == [0, 0, 1, 1, 2, 2, 3, 3]


def test_a_silent_lead_climbs_the_ladder_once_per_level(store: Store) -> None:
    with store.session() as session:
        world = build_world(session)
        lead = make_lead(session, world)  # very high: acknowledge within 24 h
        assert sweep(session, now=T0 + 23 * H).escalated_leads == 0
        assert sweep(session, now=T0 + 24 * H).escalated_leads == 0  # at the deadline, not yet past it
        report = sweep(session, now=T0 + 25 * H)
        assert report.escalations == {1: 1, 2: 0, 3: 0} and report.overdue_open == 1
        assert sweep(session, now=T0 + 25 * H).escalated_leads == 0  # idempotent
        assert sweep(session, now=T0 + 35 * H).escalated_leads == 0
        assert sweep(session, now=T0 + 36 * H).escalations == {1: 0, 2: 1, 3: 0}
        assert sweep(session, now=T0 + 48 * H).escalations == {1: 0, 2: 0, 3: 1}
        assert sweep(session, now=T0 + 400 * H).escalated_leads == 0  # the ladder has three rungs
        events = escalations(session, lead)
        assert [(e.details["level"], e.at) for e in events] == [(1, T0 + 25 * H), (2, T0 + 36 * H), (3, T0 + 48 * H)]
        first, second, third = (e.details for e in events)
        assert first["to"] == {"agency": "FR", "role": "supervisor", "users": ["sophie"],
                               "why": "the receiving agency's supervisors"}  # fmt: skip
        assert first["overdue_by"] == 3600 and first["clock"] == "acknowledge"
        assert first["due_at"] == (T0 + 24 * H).isoformat() and first["scheduled_at"] == (T0 + 24 * H).isoformat()
        # FR is at the top of its country: level 2 goes to whoever sent the lead (the coordinator CA).
        assert second["to"]["agency"] == "CA" and "sent the lead" in second["to"]["why"]
        assert second["scheduled_at"] == (T0 + 36 * H).isoformat()
        assert third["to"] == {"agency": "CA", "role": "coordinator", "users": ["chris"],
                               "why": "the operation's coordinator"}  # fmt: skip
        assert "overdue by 1 d 0 h" in (events[2].notes or "") and "chris" in (events[2].notes or "")
        assert lead.escalation_level == 3 and lead.status == "sent"


def test_a_late_sweep_catches_up_every_level(store: Store) -> None:
    with store.session() as session:
        lead = make_lead(session, build_world(session))
        report = sweep(session, now=T0 + 60 * H)
        assert report.escalations == {1: 1, 2: 1, 3: 1}
        assert [e.details["level"] for e in escalations(session, lead)] == [1, 2, 3]


def test_a_hop_escalates_to_the_agency_above_it(store: Store) -> None:
    with store.session() as session:
        world = build_world(session)
        root = drive(session, make_lead(session, world), "acknowledged", at=T0)
        hop = lifecycle.assign(session, root, agency(session, "FR-IDF"), actor="marc", at=T0)
        sweep(session, now=T0 + 37 * H)
        assert [(e.details["level"], e.details["to"]["agency"]) for e in escalations(session, hop)] == [
            (1, "FR-IDF"),
            (2, "FR"),
        ]
        assert escalations(session, hop)[1].details["to"]["users"] == ["sophie"]
        assert escalations(session, root) == []  # the parent's clock stopped when it was assigned


def test_acknowledging_starts_the_act_clock_with_a_clean_ladder(store: Store) -> None:
    with store.session() as session:
        lead = make_lead(session, build_world(session))
        sweep(session, now=T0 + 30 * H)
        assert lead.escalation_level == 1
        lifecycle.acknowledge(session, lead, actor="marc", at=T0 + 31 * H)
        assert lead.escalation_level == 0 and lead.due_at == T0 + 7 * 24 * H
        assert sweep(session, now=T0 + 7 * 24 * H).escalated_leads == 0
        sweep(session, now=T0 + 7 * 24 * H + H)
        act_escalation = escalations(session, lead)[-1].details
        assert (act_escalation["level"], act_escalation["clock"]) == (1, "act")
        lifecycle.record_action(session, lead, "search executed", actor="marc", at=T0 + 8 * 24 * H)
        assert sweep(session, now=T0 + 100 * 24 * H).escalated_leads == 0  # no clock runs after an action


def test_no_lead_passes_twice_its_clock_without_an_escalation(store: Store) -> None:
    """Sweeping hourly, any unanswered lead has an escalation on record before twice its clock has passed."""
    with store.session() as session:
        world = build_world(session)
        leads = [make_lead(session, world, tier=tier, at=T0 + i * H) for i, tier in
                 enumerate(["very_high", "high", "medium", "low"] * 2)]  # fmt: skip
        for step in range(0, 24 * 40):
            now = T0 + step * H
            sweep(session, now=now)
            for lead in leads:
                assert lead.sent_at is not None and lead.ack_due_at is not None
                twice = lead.sent_at + 2 * (lead.ack_due_at - lead.sent_at)
                if now > twice:
                    assert lead.escalation_level >= 1
                    assert escalations(session, lead)[0].at <= lead.ack_due_at + H


def test_batched_plan_matches_the_naive_twin(store: Store) -> None:
    rng = random.Random(7)
    with store.session() as session:
        world = build_world(session)
        leads = [make_lead(session, world, tier=rng.choice(["very_high", "high"]), at=T0) for _ in range(30)]
        for hour in range(0, 24 * 20, 7):
            now = T0 + hour * H
            for lead in leads:
                roll = rng.random()
                try:
                    if roll < 0.05:
                        lifecycle.acknowledge(session, lead, actor="marc", at=now)
                    elif roll < 0.08:
                        lifecycle.record_action(session, lead, "search executed", actor="marc", at=now)
                    elif roll < 0.09:
                        lifecycle.recall(session, lead, actor="chris", at=now)
                except ConflictError:  # illegal in its current state: the state machine refused it
                    pass
            session.flush()
            batched = sorted(Planned(lead.id, level) for lead, level in plan_escalations(session, now))
            naive = sorted(plan_escalations_naive(session, now))
            assert batched == naive
            sweep(session, now=now)
            assert plan_escalations(session, now) == [] and plan_escalations_naive(session, now) == []


def test_periodic_sweep_escalates_in_the_background(store: Store) -> None:
    with store.session() as session:
        lead_uid = make_lead(session, build_world(session), at=utcnow() - 30 * H).uid
    stop = threading.Event()
    worker = threading.Thread(target=run_periodic_sweep, args=(store,), kwargs={"interval_s": 0.05, "stop": stop})
    worker.start()
    try:
        for _ in range(200):
            with store.session() as session:
                lead = session.scalars(select(Lead).where(Lead.uid == lead_uid)).one()
                if lead.escalation_level:
                    break
            stop.wait(0.05)
    finally:
        stop.set()
        worker.join(timeout=10)
    assert not worker.is_alive()
    with store.session() as session:
        lead = session.scalars(select(Lead).where(Lead.uid == lead_uid)).one()
        assert lead.escalation_level == 1 and len(escalations(session, lead)) == 1
