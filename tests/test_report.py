"""The operation report: figures per country and agency, the chart, the self-contained HTML page."""

from __future__ import annotations

from datetime import timedelta

import pytest

from threadline.core.db import Store
from threadline.core.errors import NotFoundError
from threadline.model import Operation
from threadline.track import lifecycle
from threadline.track.chart import chart_bytes, inline_svg
from threadline.track.report import operation_report, render_html, render_text
from threadline.track.sweep import sweep
from track_builder import T0, World, agency, build_world, make_lead

H = timedelta(hours=1)
NOW = T0 + 48 * H


def _operation(store: Store) -> None:
    with store.session() as session:
        world = build_world(session)
        quick, forwarded, silent = (make_lead(session, world) for _ in range(3))
        lifecycle.acknowledge(session, quick, actor="marc", at=T0 + 2 * H)
        lifecycle.acknowledge(session, forwarded, actor="marc", at=T0 + 4 * H)
        hop = lifecycle.assign(session, forwarded, agency(session, "FR-IDF"), actor="marc", at=T0 + 4 * H)
        lifecycle.acknowledge(session, hop, actor="lea", at=T0 + 10 * H)
        lifecycle.record_outcome(session, hop, "arrested", arrests=2, children_safeguarded=1, actor="lea",
                                 at=T0 + 20 * H)  # fmt: skip
        lifecycle.record_outcome(session, hop, "charged", charges=3, actor="lea", at=T0 + 30 * H)
        german = make_lead(session, world, "DE")
        lifecycle.recall(session, german, actor="chris", at=T0 + H)
        other = Operation(name="Another operation", originating_agency_id=world.coordinator_id)
        session.add(other)
        session.flush()
        make_lead(session, World(operation_id=other.id, coordinator_id=world.coordinator_id), "FR")
        sweep(session, now=NOW)
        assert silent.escalation_level == 3


def test_figures_per_country_and_agency(store: Store) -> None:
    _operation(store)
    with store.session() as session:
        report = operation_report(session, "Operation Lantern", now=NOW)
        data = report.to_dict()
    fr = next(r for r in data["countries"] if r["key"] == "FR")
    assert {k: fr[k] for k in ("referrals", "leads", "sent", "acknowledged", "open", "overdue", "escalated")} == {
        "referrals": 3, "leads": 4, "sent": 4, "acknowledged": 3, "open": 4, "overdue": 1, "escalated": 1,
    }  # fmt: skip
    assert (fr["arrests"], fr["charges"], fr["children_safeguarded"]) == (2, 3, 1)
    assert fr["median_hours_to_acknowledge"] == 4.0  # 2 h, 4 h and 6 h for the hop
    assert fr["name"] == "France"
    de = next(r for r in data["countries"] if r["key"] == "DE")
    assert (de["leads"], de["recalled"], de["acknowledged"], de["overdue"], de["open"]) == (1, 1, 0, 0, 0)
    assert de["median_hours_to_acknowledge"] is None
    assert [(r["key"], r["leads"]) for r in data["agencies"]] == [("DE", 1), ("FR", 3), ("FR-IDF", 1)]
    idf = data["agencies"][2]
    assert (idf["referrals"], idf["arrests"], idf["children_safeguarded"]) == (0, 2, 1)
    total = data["total"]
    assert (total["referrals"], total["leads"], total["arrests"], total["charges"]) == (4, 5, 2, 3)
    assert data["statuses"] == {"acknowledged": 1, "assigned": 1, "outcome": 1, "recalled": 1, "sent": 1}
    assert data["outcomes"] == {"charged": 1}  # the lead's latest outcome
    assert [(o["outcome"], o["arrests"]) for o in data["outcomes_over_time"]] == [("arrested", 2), ("charged", 0)]
    assert data["open_lead_ages_days"] == [1.83, 2.0, 2.0, 2.0]
    with store.session() as session:
        everything = operation_report(session, None, now=NOW)
        assert everything.total.leads == 6 and everything.total.referrals == 5
        with pytest.raises(NotFoundError, match="unknown operation 'Nope'"):
            operation_report(session, "Nope")


def test_text_html_and_chart(store: Store) -> None:
    _operation(store)
    with store.session() as session:
        report = operation_report(session, "Operation Lantern", now=NOW)
    text = render_text(report)
    assert "4 referrals, 5 leads with hops" in text and "2 arrests, 3 charges, 1 children safeguarded" in text
    assert "FR-IDF Île-de-France regional police" in text
    svg = chart_bytes(report, "svg")
    assert svg.lstrip().startswith(b"<?xml") and b"<svg" in svg
    assert chart_bytes(report, "svg") == svg  # deterministic
    assert b"Open leads by age (4)" in svg and b"arrests" in svg
    assert chart_bytes(report, "png").startswith(b"\x89PNG\r\n\x1a\n")
    page = render_html(report, inline_svg(report))
    assert page.startswith("<!doctype html>") and "<svg" in page and "<?xml" not in page
    assert " src=" not in page and "<link" not in page and "<script" not in page  # no external assets
    assert "Île-de-France regional police" in page


def test_an_empty_operation_still_reports_and_draws(store: Store) -> None:
    with store.session() as session:
        build_world(session)
        report = operation_report(session, "Operation Lantern", now=NOW)
    assert report.total.leads == 0 and report.countries == []
    assert b"no outcome yet" in chart_bytes(report, "svg")
