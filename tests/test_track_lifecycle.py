"""A lead's life: every legal and illegal transition, hops, outcomes, recalls, append-only events, audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from threadline.core import audit
from threadline.core.db import Store
from threadline.core.errors import ConflictError, InputError
from threadline.model import (
    LEAD_STATUSES,
    LEAD_TRANSITIONS,
    TERMINAL_STATUSES,
    AuditEvent,
    Lead,
    LeadEvent,
    Operation,
)
from threadline.refer.clocks import default_clocks
from threadline.refer.events import append_event
from threadline.track import lifecycle
from threadline.track.leads import descendants, find_lead, timeline
from track_builder import T0, act, agency, build_world, drive, make_lead

LATER = T0 + timedelta(hours=2)


def event_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(LeadEvent)) or 0


@pytest.mark.parametrize("status", [s for s in LEAD_STATUSES if s != "created"])
def test_every_transition_from_a_status_is_allowed_or_refused_as_the_table_says(store: Store, status: str) -> None:
    with store.session() as session:
        world = build_world(session)
        for target in LEAD_STATUSES:
            if target == "created":
                continue
            lead = drive(session, make_lead(session, world), status)
            before, tree_before = event_count(session), len(descendants(session, lead))
            legal = target in LEAD_TRANSITIONS[status]
            if target == "sent":
                call = lambda lead=lead: append_event(session, lead, "sent", actor="t", at=LATER)  # noqa: E731
            else:
                call = lambda lead=lead, target=target: act(session, lead, target, at=LATER)  # type: ignore[misc]  # noqa: E731
            open_hops = [n for n in descendants(session, lead) if n.status not in TERMINAL_STATUSES]
            if target == "recalled" and not legal and open_hops:
                call()  # a finished lead with a hop still open: the recall goes on to the hop
                assert lead.status == status and all(n.status == "recalled" for n in open_hops)
                continue
            if legal:
                call()
                assert lead.status == target, (status, target)
                assert lead.events[-1].from_status == status and lead.events[-1].to_status == target
            else:
                with pytest.raises(ConflictError, match=f"is {status}"):
                    call()
                session.flush()
                assert lead.status == status
                assert event_count(session) == before
                assert len(descendants(session, lead)) == tree_before


def test_a_created_lead_can_be_sent_or_recalled_and_nothing_else(store: Store) -> None:
    with store.session() as session:
        world = build_world(session)
        for target in ("acknowledged", "assigned", "investigating", "action_taken", "outcome", "closed"):
            lead = make_lead(session, world, send=False)
            with pytest.raises(ConflictError, match="is created; it cannot become"):
                act(session, lead, target, at=LATER)
        lead = make_lead(session, world, send=False)
        lifecycle.recall(session, lead, actor="t", at=LATER)
        assert lead.status == "recalled"
        with pytest.raises(ConflictError, match="cannot be created twice"):
            append_event(session, lead, "created", actor="t")


def test_lead_events_are_append_only_in_the_database(store: Store) -> None:
    with store.session() as session:
        drive(session, make_lead(session, build_world(session)), "acknowledged")
    for statement in ("UPDATE lead_event SET notes = 'edited'", "DELETE FROM lead_event"):
        with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
            conn.execute(text(statement))
    with store.session() as session:
        assert event_count(session) == 3
        assert {e.notes for e in session.scalars(select(LeadEvent))} == {None}


def test_clocks_follow_the_state(store: Store) -> None:
    with store.session() as session:
        lead = make_lead(session, build_world(session), tier="high")
        clock = default_clocks()["high"]
        assert lead.ack_due_at == T0 + clock.acknowledge and lead.action_due_at == T0 + clock.act
        assert lead.due_at == lead.ack_due_at and lead.sent_at == T0
        lifecycle.acknowledge(session, lead, actor="marc", at=LATER)
        assert lead.due_at == lead.action_due_at and lead.acknowledged_at == LATER
        lifecycle.start_investigation(session, lead, actor="marc", at=LATER)
        assert lead.due_at == lead.action_due_at
        lifecycle.record_action(session, lead, "search executed", actor="marc", at=LATER)
        assert lead.due_at is None
        lifecycle.record_outcome(session, lead, "no_offence", actor="marc", at=LATER)
        lifecycle.close(session, lead, actor="marc", at=LATER)
        assert lead.due_at is None and lead.closed_at == LATER


def test_assign_creates_a_hop_below_with_the_agency_s_own_clocks(store: Store) -> None:
    with store.session() as session:
        world = build_world(session)
        idf = agency(session, "FR-IDF")
        idf.sla_policy = {"acknowledge_hours": {"very_high": 12}, "act_hours": {"very_high": 72}}
        lead = drive(session, make_lead(session, world), "acknowledged")
        lead.handling_code, lead.handling_note = "H2", "do not pass on"
        child = lifecycle.assign(session, lead, idf, actor="marc", notes="for Paris region", at=LATER)
        assert lead.status == "assigned" and lead.due_at is None
        assert child.parent is lead and child.hop == 1 and child.direction == "outgoing"
        assert (child.tier, child.score, child.handling_code, child.handling_note) == ("very_high", 0.9, "H2",
                                                                                     "do not pass on")  # fmt: skip
        assert child.agency_id == idf.id and child.originating_agency_id == world.coordinator_id
        assert child.status == "sent" and child.ack_due_at == LATER + timedelta(hours=12)
        assert child.action_due_at == LATER + timedelta(hours=72) and child.due_at == child.ack_due_at
        assert [e.kind for e in child.events] == ["created", "sent"]
        assert lead.events[-1].details == {"to_agency": "FR-IDF", "child": child.uid}
        # Two levels down is also below; the agency itself, a sibling country or upwards is not.
        lifecycle.acknowledge(session, child, actor="lea", at=LATER)
        grandchild = lifecycle.assign(session, child, agency(session, "FR-PARIS"), actor="lea", at=LATER)
        assert grandchild.hop == 2 and [n.uid for n in descendants(session, lead)] == [child.uid, grandchild.uid]
        other = drive(session, make_lead(session, world), "acknowledged")
        for code in ("FR", "DE", "DE-BY", "CA"):
            before = event_count(session)
            with pytest.raises(ConflictError, match=f"agency {code} is not below FR"):
                lifecycle.assign(session, other, agency(session, code), actor="marc", at=LATER)
            assert other.status == "acknowledged" and event_count(session) == before
        direct = lifecycle.assign(session, other, agency(session, "FR-PARIS"), actor="marc", at=LATER)
        assert direct.hop == 1


def test_outcomes_carry_counts_that_add_up_and_roll_up_once(store: Store) -> None:
    with store.session() as session:
        world = build_world(session)
        lead = drive(session, make_lead(session, world), "acknowledged")
        with pytest.raises(InputError, match="unknown outcome 'jailed'"):
            lifecycle.record_outcome(session, lead, "jailed", actor="marc")
        with pytest.raises(InputError, match="arrests must be a whole number"):
            lifecycle.record_outcome(session, lead, "arrested", arrests=-1, actor="marc")
        with pytest.raises(InputError, match="children_safeguarded must be a whole number"):
            append_event(
                session, lead, "outcome", actor="x", details={"outcome": "charged", "children_safeguarded": 1.5}
            )
        assert lead.status == "acknowledged"
        child = lifecycle.assign(session, lead, agency(session, "FR-IDF"), actor="marc", at=LATER)
        lifecycle.acknowledge(session, child, actor="lea", at=LATER)
        lifecycle.record_outcome(
            session, child, "arrested", arrests=2, children_safeguarded=3, actor="lea", notes="two at home", at=LATER
        )
        event = lifecycle.record_outcome(session, child, "charged", charges=5, actor="lea", at=LATER)
        assert event.details == {"outcome": "charged", "arrests": 0, "charges": 5, "children_safeguarded": 0}
        assert (child.arrests, child.charges, child.children_safeguarded, child.outcome) == (2, 5, 3, "charged")
        assert (lead.arrests, lead.charges, lead.children_safeguarded) == (0, 0, 0)
        lifecycle.close(session, child, actor="lea", at=LATER)
        lifecycle.close(session, lead, actor="marc", at=LATER)
        total = lifecycle.rollup(session, lead)
        assert total.to_dict() == {
            "leads": 2,
            "arrests": 2,
            "charges": 5,
            "children_safeguarded": 3,
            "outcomes": ["charged"],
        }


def test_recall_reaches_every_hop_below(store: Store) -> None:
    with store.session() as session:
        world = build_world(session)
        root = drive(session, make_lead(session, world), "acknowledged")
        idf = lifecycle.assign(session, root, agency(session, "FR-IDF"), actor="marc", at=LATER)
        lifecycle.acknowledge(session, idf, actor="lea", at=LATER)
        paris = lifecycle.assign(session, idf, agency(session, "FR-PARIS"), actor="lea", at=LATER)
        lifecycle.close(session, idf, actor="lea", at=LATER)
        events = lifecycle.recall(session, root, actor="chris", notes="duplicate subject", at=LATER)
        assert [(e.lead.uid, e.kind) for e in events] == [
            (root.uid, "recalled"),
            (idf.uid, "note"),
            (paris.uid, "recalled"),
        ]
        assert all(e.details == {"recall_of": root.uid} for e in events)
        assert events[0].agency_id == world.coordinator_id  # the sender recalls
        assert (root.status, idf.status, paris.status) == ("recalled", "closed", "recalled")
        assert lifecycle.allowed_actions(root) == ["add_note"]
        with pytest.raises(ConflictError, match="nothing to recall"):
            lifecycle.recall(session, root, actor="chris")
        with pytest.raises(ConflictError, match="only notes can be added"):
            append_event(session, paris, "escalated", actor="x", details={"level": 1})
        lifecycle.add_note(session, paris, "archived", actor="lea")


def test_allowed_actions_follow_the_state_machine(store: Store) -> None:
    with store.session() as session:
        world = build_world(session)
        lead = make_lead(session, world)
        assert lifecycle.allowed_actions(lead) == ["acknowledge", "recall", "add_note"]
        lifecycle.acknowledge(session, lead, actor="marc")
        assert lifecycle.allowed_actions(lead) == [
            "assign",
            "start_investigation",
            "record_action",
            "record_outcome",
            "recall",
            "add_note",
        ]
        lifecycle.assign(session, lead, agency(session, "FR-IDF"), actor="marc")
        lifecycle.close(session, lead, actor="marc")
        # Closed, but the hop below is still open: it can still be recalled.
        assert lifecycle.allowed_actions(lead) == ["recall", "add_note"]


def test_every_action_is_audited_and_the_chain_holds(store: Store) -> None:
    with store.session() as session:
        world = build_world(session)
        lead = make_lead(session, world)
        start = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
        lifecycle.acknowledge(session, lead, actor="marc")
        child = lifecycle.assign(session, lead, agency(session, "FR-IDF"), actor="marc")
        lifecycle.add_note(session, child, "called the region", actor="marc")
        lifecycle.recall(session, lead, actor="chris")
        actions = list(
            session.scalars(select(AuditEvent.action).where(AuditEvent.seq > start).order_by(AuditEvent.seq))
        )
        assert actions == ["lead.acknowledge", "lead.assign", "lead.note", "lead.recall"]
        assert audit.verify(session).ok


def test_find_lead_and_timeline(store: Store) -> None:
    with store.session() as session:
        world = build_world(session)
        lead = drive(session, make_lead(session, world), "acknowledged")
        child = lifecycle.assign(session, lead, agency(session, "FR-IDF"), actor="marc", at=LATER)
        assert find_lead(session, lead.uid) is lead
        assert find_lead(session, lead.uid[:8]) is lead
        assert find_lead(session, str(child.id)) is child
        view = timeline(session, lead)
        assert view["lead"]["status"] == "assigned" and view["originating_agency"] == "CA"
        assert [h["lead_id"] for h in view["hops"]] == [child.uid]
        assert [(e["lead_id"] == child.uid, e["kind"]) for e in view["events"]] == [
            (False, "created"),
            (False, "sent"),
            (False, "acknowledged"),
            (False, "assigned"),
            (True, "created"),
            (True, "sent"),
        ]


# ---- random sequences of actions ---------------------------------------------------------------------------------

STEP_ACTIONS = ("acknowledged", "assigned", "investigating", "action_taken", "outcome", "closed", "recalled", "note")


def _world(session: Session) -> int:
    existing = session.scalars(select(Operation)).first()
    if existing is None:
        build_world(session)
        existing = session.scalars(select(Operation)).one()
    return existing.id


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.sampled_from(STEP_ACTIONS), st.integers(0, 7)), max_size=20))
def test_random_action_sequences_keep_the_invariants(store: Store, steps: list[tuple[str, int]]) -> None:
    with store.session() as session:
        _world(session)
        from track_builder import World

        ca = agency(session, "CA")
        world = World(operation_id=_world(session), coordinator_id=ca.id)
        root = make_lead(session, world)
        start_events = event_count(session)
        expected_events = 0
        recalled_roots: list[Lead] = []
        when = T0
        for name, pick in steps:
            when += timedelta(hours=1)
            tree = [root, *descendants(session, root)]
            node = tree[pick % len(tree)]
            subtree = [node, *descendants(session, node)]
            before = event_count(session)
            if name == "note":
                lifecycle.add_note(session, node, "progress", actor="t", at=when)
            else:
                has_below = agency(session, "FR-IDF" if node.hop == 0 else "FR-PARIS").parent_id == node.agency_id
                legal = name in LEAD_TRANSITIONS[node.status] and (name != "assigned" or has_below)
                if name == "recalled":
                    legal = any(n.status not in TERMINAL_STATUSES for n in subtree)
                if legal:
                    act(session, node, name, at=when)
                    if name == "recalled":
                        recalled_roots.append(node)
                else:
                    with pytest.raises(ConflictError):
                        act(session, node, name, at=when)
            session.flush()
            after = event_count(session)
            assert after >= before  # nothing is ever taken away
            expected_events += after - before
        session.flush()
        tree = [root, *descendants(session, root)]
        assert event_count(session) == start_events + expected_events
        for node in tree:
            assert node.status in LEAD_STATUSES
            changes = [e for e in node.events if e.to_status is not None]
            assert changes[-1].to_status == node.status  # the row is the replay of its events
            for e in changes[1:]:
                assert e.to_status in LEAD_TRANSITIONS[e.from_status], (e.from_status, e.to_status)
            outcomes = [e for e in node.events if e.kind == "outcome"]
            assert node.arrests == sum(e.details["arrests"] for e in outcomes)
            assert node.children_safeguarded == sum(e.details["children_safeguarded"] for e in outcomes)
            if node.hop:
                assert node.parent is not None and node.hop == node.parent.hop + 1
        for recalled in recalled_roots:
            assert all(n.status in TERMINAL_STATUSES for n in [recalled, *descendants(session, recalled)])
        total = lifecycle.rollup(session, root)
        assert total.arrests == sum(n.arrests for n in tree) and total.leads == len(tree)
