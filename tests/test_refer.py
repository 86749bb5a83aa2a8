"""Refer, lead side: one lead per placed, ranked subject and agency, clocks by tier and agency policy, routes,
idempotent reruns, the originator, and the `export leads` contract (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from typer.testing import CliRunner

from refer_builder import OPERATION, T0, Person, agency, build_operation
from threadline.cli.app import app
from threadline.core.db import Store
from threadline.core.errors import ConflictError, InputError, NotFoundError
from threadline.model import Agency, AuditEvent, Lead, LeadEvent, Operation
from threadline.refer import ReferSettings, refer
from threadline.refer import pipeline as refer_pipeline
from threadline.refer.clocks import agency_clocks, default_clocks, parse_duration
from threadline.refer.export import LEAD_EXPORT_COLUMNS

PEOPLE = [
    Person("Ada", "Brandt", "DE", tier="very_high", score=91, emails=["ada@example.invalid"]),
    Person("Bert", "Kohl", "DE", region="DE-BY", tier="medium", score=40),
    Person("Chloé", "Martin", "FR", tier="low", score=12, phones=["+33612345678"]),
    Person("Dana", "Voss", "DE", placed=False),
    Person("Emil", "Roth", "DE", placed=None),
    Person("Fritz", "Lang", "DE", tier=None),
]


def _leads_only(**kwargs: Any) -> ReferSettings:
    return ReferSettings(packages=False, actor="test", now=T0, **kwargs)


def test_one_lead_per_placed_ranked_subject_the_rest_counted(store: Store) -> None:
    with store.session() as session:
        ids = build_operation(session, PEOPLE)
    report = refer(store, _leads_only())
    assert (report.subjects, report.leads_new, report.leads_existing) == (6, 3, 0)
    assert (report.unplaced, report.unlocated, report.unranked) == (1, 1, 1)
    assert report.leads_by_tier == {"very_high": 1, "medium": 1, "low": 1}
    assert report.leads_by_agency == {"DE": 2, "FR": 1}
    assert report.packages == [] and report.out is None
    with store.session() as session:
        leads = {lead.subject_id: lead for lead in session.scalars(select(Lead))}
        assert set(leads) == {ids["Ada Brandt"], ids["Bert Kohl"], ids["Chloé Martin"]}
        ada = leads[ids["Ada Brandt"]]
        assert (ada.status, ada.direction, ada.hop, ada.tier, ada.score) == ("created", "outgoing", 0, "very_high", 91)
        assert ada.handling_code == "H0" and ada.country == "DE"
        assert ada.agency_id == agency(session, "DE").id
        assert ada.originating_agency_id == agency(session, "CA").id
        # Clocks by tier: Very High acknowledge within 24 h, act within 7 days (data/sla.yaml).
        assert ada.ack_due_at == T0 + timedelta(hours=24)
        assert ada.action_due_at == T0 + timedelta(days=7)
        assert leads[ids["Chloé Martin"]].ack_due_at == T0 + timedelta(days=14)
        events = list(session.scalars(select(LeadEvent).where(LeadEvent.lead_id == ada.id)))
        assert [(e.kind, e.to_status, e.actor) for e in events] == [("created", "created", "test")]
        assert events[0].details["route"] == ["DE"]
        actions = list(session.scalars(select(AuditEvent.action)))
        assert "refer.leads" in actions


def test_the_bulk_send_refuses_what_append_event_refuses_and_writes_nothing(store: Store) -> None:
    from threadline.refer.events import append_event, send_leads_bulk

    with store.session() as session:
        build_operation(session, PEOPLE)
    refer(store, _leads_only())
    with store.session() as session:
        leads = list(session.scalars(select(Lead).order_by(Lead.id)))
        append_event(session, leads[0], "sent", actor="test", at=T0)
    with store.session() as session:
        leads = list(session.scalars(select(Lead).order_by(Lead.id)))
        before = session.scalar(select(func.count()).select_from(LeadEvent))
        change = {"ack_due_at": T0, "action_due_at": T0}
        with pytest.raises(ConflictError, match="is sent; it cannot become sent"):
            send_leads_bulk(
                session, leads, actor="t", agency_id=None, at=T0, uids=["a", "b", "c"], details={}, changes=[change] * 3
            )
        assert session.scalar(select(func.count()).select_from(LeadEvent)) == before
        send_leads_bulk(
            session, leads[1:], actor="t", agency_id=None, at=T0, uids=["b", "c"], details={}, changes=[change] * 2
        )
    with store.session() as session:
        sent = list(session.scalars(select(Lead).order_by(Lead.id)))
        assert [lead.status for lead in sent] == ["sent", "sent", "sent"]
        assert all(lead.sent_at == T0 and lead.due_at == lead.ack_due_at == T0 for lead in sent[1:])
        kinds = [e.kind for e in session.scalars(select(LeadEvent).where(LeadEvent.lead_id == sent[1].id))]
        assert kinds == ["created", "sent"]


def test_rerun_creates_no_duplicate_and_reports_only_what_is_new(store: Store) -> None:
    with store.session() as session:
        build_operation(session, PEOPLE)
    assert refer(store, _leads_only()).leads_new == 3
    again = refer(store, _leads_only())
    assert (again.leads_new, again.leads_existing) == (0, 3)
    with store.session() as session:
        build_operation(session, [Person("Gina", "Hart", "FR", tier="high")], file_name="more.csv")
    third = refer(store, _leads_only())
    assert (third.leads_new, third.leads_existing, third.leads_by_agency) == (1, 3, {"FR": 1})
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Lead)) == 4
        assert session.scalar(select(func.count()).select_from(LeadEvent)) == 4


def test_an_agency_policy_overrides_the_default_clocks(store: Store) -> None:
    with store.session() as session:
        build_operation(session, PEOPLE[:1])
        agency(session, "DE").sla_policy = {"tiers": {"very_high": {"acknowledge": "12h"}}}
    refer(store, _leads_only())
    with store.session() as session:
        lead = session.scalars(select(Lead)).one()
        assert lead.ack_due_at == T0 + timedelta(hours=12)
        assert lead.action_due_at == T0 + timedelta(days=7)


def test_a_policy_in_hours_per_tier_means_the_same() -> None:
    policy = Agency(code="XX", name="x", kind="national", country="DE", sla_policy={"acknowledge_hours": {"low": 30}})
    clocks = agency_clocks(policy)
    assert clocks["low"].acknowledge == timedelta(hours=30)
    assert clocks["low"].act == default_clocks()["low"].act


@pytest.mark.parametrize(
    "policy, message",
    [
        ({"tiers": {"urgent": {"acknowledge": "1h"}}}, "unknown tier 'urgent'"),
        ({"tiers": {"high": {"acknowledge": "soon"}}}, "tiers.high.acknowledge"),
        ({"tiers": {"high": {"acknowledge": "40d"}}}, "act (30 days, 0:00:00) is shorter"),
        ({"tiers": {"high": {"respond": "1d"}}}, "only acknowledge and act"),
    ],
)
def test_a_bad_agency_policy_is_named_with_the_agency(policy: dict[str, Any], message: str) -> None:
    bad = Agency(code="DE-BAD", name="x", kind="national", country="DE", sla_policy=policy)
    with pytest.raises(InputError, match="agency DE-BAD sla_policy") as caught:
        agency_clocks(bad)
    assert message in caught.value.message


def test_default_clocks_come_from_the_data_file() -> None:
    clocks = default_clocks()
    assert clocks["very_high"].acknowledge == timedelta(hours=24) and clocks["very_high"].act == timedelta(days=7)
    assert clocks["high"].acknowledge == timedelta(hours=72) and clocks["high"].act == timedelta(days=30)
    assert clocks["medium"].acknowledge == timedelta(days=7) and clocks["medium"].act == timedelta(days=90)
    assert clocks["low"].acknowledge == timedelta(days=14) and clocks["low"].act == timedelta(days=180)


@given(st.integers(min_value=1, max_value=10_000), st.sampled_from(["m", "h", "d", "w", "H", "D"]))
def test_durations_read_back_what_was_written(amount: int, unit: str) -> None:
    minutes = {"m": 1, "h": 60, "d": 1440, "w": 10080}[unit.lower()]
    assert parse_duration(f"{amount}{unit}") == timedelta(minutes=amount * minutes)
    assert parse_duration(f" {amount} {unit} ") == timedelta(minutes=amount * minutes)


@given(st.text(max_size=12))
def test_any_text_is_a_duration_or_a_clear_refusal(value: str) -> None:
    try:
        result = parse_duration(value)
    except ValueError as exc:
        assert "duration" in str(exc)
    else:
        assert result > timedelta(0)


def test_the_rest_of_the_route_travels_with_the_lead(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    with store.session() as session:
        build_operation(session, PEOPLE[:2])
        de = agency(session, "DE")
        session.add(Agency(code="DE-BY", name="Bavarian LKA", kind="regional", country="DE", region="DE-BY", parent=de))
    # When locate's route() names nobody: the national agency first, the region's agency below it next.
    monkeypatch.setattr(refer_pipeline, "locate_route", lambda *_args: [])
    refer(store, _leads_only())
    with store.session() as session:
        routes = {lead.region: lead.subject_snapshot["route"] for lead in session.scalars(select(Lead))}
        assert routes[None] == []
        assert [a["code"] for a in routes["DE-BY"]] == ["DE-BY"]
        assert all(lead.agency_id == agency(session, "DE").id for lead in session.scalars(select(Lead)))


def test_locate_route_decides_the_destination_when_it_is_there(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    with store.session() as session:
        build_operation(session, PEOPLE[:1])
        de = agency(session, "DE")
        session.add(Agency(code="DE-BKA", name="BKA", kind="national", country="DE", parent=None))
        session.add(Agency(code="DE-BE", name="LKA Berlin", kind="regional", country="DE", region="DE-BE", parent=de))
    asked: list[tuple[str, str, str | None]] = []

    def route(session: Any, operation: str, country: str, region: str | None) -> list[Agency]:
        asked.append((operation, country, region))
        return [agency(session, "DE-BKA"), agency(session, "DE-BE")]

    monkeypatch.setattr(refer_pipeline, "locate_route", route)
    refer(store, _leads_only())
    with store.session() as session:
        lead = session.scalars(select(Lead)).one()
        assert lead.agency_id == agency(session, "DE-BKA").id
        assert [a["code"] for a in lead.subject_snapshot["route"]] == ["DE-BE"]
    assert asked == [(OPERATION, "DE", None)]


def test_the_operations_routing_rules_name_the_hops(store: Store, tmp_path: Path) -> None:
    from threadline.locate import load_routing

    with store.session() as session:
        build_operation(session, PEOPLE[:2])
        de = agency(session, "DE")
        session.add(Agency(code="DE-BY", name="Bavarian LKA", kind="regional", country="DE", region="DE-BY", parent=de))
    rules = tmp_path / "routing.yaml"
    rules.write_text("routes:\n  - country: DE\n    region: DE-BY\n    agency: DE-BY\n", encoding="utf-8")
    with store.session() as session:
        load_routing(session, rules, operation=OPERATION, actor="test")
    refer(store, _leads_only())
    with store.session() as session:
        routes = {lead.region: lead.subject_snapshot["route"] for lead in session.scalars(select(Lead))}
        assert [a["code"] for a in routes["DE-BY"]] == ["DE-BY"] and routes[None] == []
        assert all(lead.agency_id == agency(session, "DE").id for lead in session.scalars(select(Lead)))


def test_the_originator_comes_from_the_operation_or_is_given_once(store: Store) -> None:
    with store.session() as session:
        build_operation(session, PEOPLE[:1], originator=None)
    with pytest.raises(InputError, match="--originator"):
        refer(store, _leads_only())
    assert refer(store, _leads_only(originator="NL")).originator == "NL"
    with store.session() as session:
        operation = session.scalars(select(Operation)).one()
        assert operation.originating_agency_id == agency(session, "NL").id
    with pytest.raises(ConflictError, match="led by NL, not CA"):
        refer(store, _leads_only(originator="CA"))


def test_operations_are_named_when_there_are_several(store: Store) -> None:
    with store.session() as session:
        build_operation(session, PEOPLE[:1])
        build_operation(session, PEOPLE[2:3], name="Operation Birch", file_name="b.csv")
    with pytest.raises(InputError, match="several operations"):
        refer(store, _leads_only())
    with pytest.raises(NotFoundError, match="unknown operation 'Nope'"):
        refer(store, _leads_only(operation="Nope"))
    report = refer(store, _leads_only(operation="Operation Birch"))
    assert report.leads_by_agency == {"FR": 1}


def test_handling_code_and_note_go_on_new_leads(store: Store) -> None:
    with store.session() as session:
        build_operation(session, PEOPLE[:1])
    with pytest.raises(InputError, match="unknown handling code"):
        refer(store, _leads_only(handling="H9"))
    refer(store, _leads_only(handling="H2", handling_note="Do not pass to immigration authorities."))
    with store.session() as session:
        lead = session.scalars(select(Lead)).one()
        assert (lead.handling_code, lead.handling_note) == ("H2", "Do not pass to immigration authorities.")


def test_without_a_signing_key_refer_changes_nothing(store: Store) -> None:
    with store.session() as session:
        build_operation(session, PEOPLE[:1])
    with pytest.raises(NotFoundError, match="keys generate --agency CA"):
        refer(store, ReferSettings(actor="test"))
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Lead)) == 0


def test_export_leads_follows_the_contract_and_is_audited(store: Store, tmp_path: Path) -> None:
    with store.session() as session:
        ids = build_operation(session, PEOPLE[:3])
    refer(store, _leads_only())
    out = tmp_path / "leads.csv"
    runner = CliRunner()
    result = runner.invoke(app, ["export", "leads", "-o", str(out), "--db", store.settings.url])
    assert result.exit_code == 0, result.stderr
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == LEAD_EXPORT_COLUMNS
    by_subject = {int(r["subject_id"]): r for r in rows}
    ada = by_subject[ids["Ada Brandt"]]
    assert (ada["country"], ada["agency"], ada["tier"], ada["status"]) == ("DE", "DE", "very_high", "created")
    assert ada["sla_due"] == ""  # no clock runs until the lead is sent
    result = runner.invoke(
        app, ["export", "leads", "-f", "json", "-o", str(tmp_path / "l.json"), "--db", store.settings.url]
    )
    assert result.exit_code == 0
    assert len(json.loads((tmp_path / "l.json").read_text(encoding="utf-8"))) == 3
    with store.session() as session:
        audited = list(session.scalars(select(AuditEvent).where(AuditEvent.action == "export.leads")))
        assert [e.details["rows"] for e in audited] == [3, 3]


def test_refer_cli_prints_a_summary_and_json(store: Store) -> None:
    with store.session() as session:
        build_operation(session, PEOPLE)
    runner = CliRunner()
    result = runner.invoke(app, ["refer", "--db", store.settings.url, "--home", str(store.settings.home)])
    assert result.exit_code == 1  # CA has no signing key yet
    assert "keys generate --agency CA" in result.stderr
