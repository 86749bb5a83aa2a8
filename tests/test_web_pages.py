"""The pages as the people using them see them: inbox, lead (with its actions), subject, dashboard, review,
hash sets, audit and admin; and what each view writes to the audit trail."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from threadline.core.db import Store
from threadline.directory import authenticate
from threadline.model import AuditEvent, Lead, LeadEvent, User
from threadline.web import WebSettings, auth, create_app, demo_users
from threadline.web.worldmap import bucket, choropleth, countries
from web_world import World, build_world, username


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    return build_world(store, tmp_path)


@pytest.fixture
def app_store(store: Store, world: World) -> Iterator[tuple[TestClient, Store]]:
    with TestClient(create_app(store.settings, WebSettings(count_cache_s=0), store=store), follow_redirects=False) as c:
        yield c, store


def as_user(client: TestClient, store: Store, role: str, agency: str) -> str:
    """Sign `client` in as role@agency (a session made directly, to skip argon2); returns the CSRF token."""
    with store.session() as session:
        user = session.scalars(select(User).where(User.username == username(role, agency))).one()
        token, row = auth.new_session(session, user, WebSettings())
        csrf = row.csrf_token
    client.cookies.set("threadline_session", token)
    return csrf


def audit_actions(store: Store) -> list[str]:
    with store.session() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def test_inbox_lists_what_is_addressed_to_the_agency_and_below(
    app_store: tuple[TestClient, Store], world: World
) -> None:
    client, store = app_store
    as_user(client, store, "supervisor", "FR")
    page = client.get("/inbox")
    assert page.status_code == 200
    refs = set(re.findall(r'href="/leads/(\d+)"', page.text))
    assert refs == {str(world.leads["fr"]), str(world.leads["carl"]), str(world.leads["reg"])}
    assert "Alice" not in page.text  # the inbox carries no personal data
    very_high = client.get("/inbox?tier=very_high")
    assert set(re.findall(r'href="/leads/(\d+)"', very_high.text)) == {str(world.leads["fr"])}
    overdue = client.get("/inbox?clock=overdue")
    assert "No leads match" in overdue.text
    htmx = client.get("/inbox?tier=high", headers={"HX-Request": "true", "HX-Target": "inbox-results"})
    assert htmx.text.lstrip().startswith('<div id="inbox-results">')


def test_regional_agency_sees_only_its_hop(app_store: tuple[TestClient, Store], world: World) -> None:
    client, store = app_store
    as_user(client, store, "investigator", "FRREG")
    refs = set(re.findall(r'href="/leads/(\d+)"', client.get("/inbox").text))
    assert refs == {str(world.leads["reg"])}


def test_search_by_name_is_audited_and_limited_to_the_agencys_own_leads(
    app_store: tuple[TestClient, Store], world: World
) -> None:
    client, store = app_store
    as_user(client, store, "investigator", "FR")
    page = client.get("/inbox?q=alice")
    assert set(re.findall(r'href="/leads/(\d+)"', page.text)) == {str(world.leads["fr"])}
    assert "lead.search" in audit_actions(store)
    as_user(client, store, "investigator", "DE")
    assert "No leads match" in client.get("/inbox?q=alice").text


def test_coordinator_sees_the_operations_leads(app_store: tuple[TestClient, Store], world: World) -> None:
    client, store = app_store
    as_user(client, store, "coordinator", "CA")
    assert "No leads match" in client.get("/inbox").text  # nothing addressed to Canada
    refs = set(re.findall(r'href="/leads/(\d+)"', client.get("/inbox?box=sent").text))
    assert refs == {str(v) for v in world.leads.values()}


def test_lead_page_shows_provenance_and_is_audited(app_store: tuple[TestClient, Store], world: World) -> None:
    client, store = app_store
    as_user(client, store, "investigator", "FR")
    page = client.get(f"/leads/{world.leads['fr']}")
    assert page.status_code == 200
    text = page.text
    assert "Alice Martin" in text and "alice@example.invalid" in text
    assert "customers.csv:2" in text  # identifier provenance: file and row
    assert "Works with children" in text  # ranking factor
    assert "known-exact" in text and "<img" not in text  # verdict counts, never images
    assert "+33612345678" in text  # jurisdiction evidence
    for label in ("Acknowledge", "Add a note"):
        assert label in text
    assert "Recall" not in text and "Assign to an agency below" not in text  # investigator, not supervisor
    assert audit_actions(store)[-1] == "lead.view"


def test_agency_above_an_unheld_lead_sees_it_without_the_person(
    app_store: tuple[TestClient, Store], world: World
) -> None:
    client, store = app_store
    from threadline.model import Agency

    with store.session() as session:
        template = session.get(Lead, world.leads["fr"])
        assert template is not None
        direct = Lead(
            uid="11111111-2222-3333-4444-555555555555",
            operation_id=template.operation_id,
            subject_id=template.subject_id,
            agency_id=world.agency_ids["FRREG"],
            originating_agency_id=world.agency_ids["CA"],
            hop=0,
            country="FR",
            tier="low",
            score=5.0,
            status="sent",
        )
        session.add(direct)
        session.flush()
        direct_id = direct.id
        assert session.get(Agency, world.agency_ids["FRREG"]) is not None
    as_user(client, store, "supervisor", "FR")
    before = len(audit_actions(store))
    page = client.get(f"/leads/{direct_id}")
    assert page.status_code == 200
    assert "Alice" not in page.text and "alice@example.invalid" not in page.text
    assert "shown only to the agencies that hold it" in page.text
    assert len(audit_actions(store)) == before  # nothing personal was read


def _act(client: TestClient, csrf: str, lead_id: int, verb: str, **fields: str) -> int:
    form = {"csrf_token": csrf, "confirm": "yes", **fields}
    return client.post(f"/leads/{lead_id}/{verb}", data=form).status_code


def test_actions_go_through_track_and_change_the_dashboard(app_store: tuple[TestClient, Store], world: World) -> None:
    client, store = app_store
    lead_id = world.leads["fr"]
    csrf = as_user(client, store, "investigator", "FR")
    confirm = client.get(f"/leads/{lead_id}/acknowledge")
    assert confirm.status_code == 200 and 'name="confirm"' in confirm.text
    # Without the confirmation box nothing happens.
    missing = client.post(f"/leads/{lead_id}/acknowledge", data={"csrf_token": csrf})
    assert missing.status_code == 400 and "confirmation" in missing.text
    assert _act(client, csrf, lead_id, "acknowledge") == 303
    assert _act(client, csrf, lead_id, "acknowledge") == 409  # the state machine refuses it twice
    assert _act(client, csrf, lead_id, "action", action="search executed") == 303
    assert _act(client, csrf, lead_id, "outcome", outcome="arrested", arrests="1", children_safeguarded="2") == 303
    page = client.get(f"/leads/{lead_id}?done=outcome")
    assert "Done: Record an outcome" in page.text and 'data-status="outcome"' in page.text
    with store.session() as session:
        kinds = list(session.scalars(select(LeadEvent.kind).where(LeadEvent.lead_id == lead_id).order_by(LeadEvent.id)))
        assert kinds == ["created", "sent", "acknowledged", "action_taken", "outcome"]
    actions = audit_actions(store)
    assert {"lead.acknowledge", "lead.action", "lead.outcome"} <= set(actions)

    as_user(client, store, "coordinator", "CA")
    dashboard = client.get(f"/operations/{world.operation_id}")
    assert dashboard.status_code == 200
    assert re.search(r'id="fig-arrests">1<', dashboard.text)
    assert re.search(r'id="fig-children">2<', dashboard.text)
    assert 'data-country="FR"' in dashboard.text and "<svg" in dashboard.text
    assert re.search(r'class="q5" d="[^"]+" data-country="FR"', dashboard.text)  # FR has the most leads
    assert "outcome reports: 1" in dashboard.text
    assert "/leads/" in dashboard.text  # the overdue list links the overdue DE lead


def test_supervisor_assigns_below_and_coordinator_recalls(app_store: tuple[TestClient, Store], world: World) -> None:
    client, store = app_store
    lead_id = world.leads["fr"]
    csrf = as_user(client, store, "supervisor", "FR")
    assert _act(client, csrf, lead_id, "acknowledge") == 303
    form = client.get(f"/leads/{lead_id}/assign")
    assert "FRREG" in form.text
    response = client.post(f"/leads/{lead_id}/assign", data={"csrf_token": csrf, "confirm": "yes", "agency": "DE"})
    assert response.status_code == 400  # not below FR
    response = client.post(f"/leads/{lead_id}/assign", data={"csrf_token": csrf, "confirm": "yes", "agency": "FRREG"})
    assert response.status_code == 303
    child_id = int(response.headers["location"].split("/")[2].split("?")[0])
    with store.session() as session:
        child = session.get(Lead, child_id)
        assert child is not None and child.parent_id == lead_id and child.agency_id == world.agency_ids["FRREG"]
    csrf = as_user(client, store, "coordinator", "CA")
    assert _act(client, csrf, lead_id, "recall", notes="sent in error") == 303
    with store.session() as session:
        assert session.get(Lead, lead_id).status == "recalled"  # type: ignore[union-attr]
        assert session.get(Lead, child_id).status == "recalled"  # type: ignore[union-attr]


def test_subject_page_and_link_chart(app_store: tuple[TestClient, Store], world: World) -> None:
    client, store = app_store
    as_user(client, store, "investigator", "FR")
    page = client.get(f"/subjects/{world.subjects['alice']}")
    assert page.status_code == 200 and "customers.csv:2" in page.text and 'id="link-chart"' in page.text
    assert "subject.view" in audit_actions(store)
    graph = client.get(f"/subjects/{world.subjects['alice']}/graph.json").json()
    labels = {n["data"]["label"] for n in graph["elements"]["nodes"]}
    # Carl's lead is FR's too, so FR may see his name; Bob is Germany's, shown as a number only.
    assert "Alice Martin" in labels and "Carl Dupont" in labels and "Bob Schmidt" not in labels
    assert f"Subject #{world.subjects['bob']}" in labels and "+33612345678" in labels
    kinds = {e["data"]["kind"] for e in graph["elements"]["edges"]}
    assert kinds == {"payment", "phone"}
    assert audit_actions(store)[-1] == "subject.links"


def test_review_queue_side_by_side_and_judgement(app_store: tuple[TestClient, Store], world: World) -> None:
    client, store = app_store
    csrf = as_user(client, store, "analyst", "CA")
    page = client.get("/review")
    assert "Alicia" in page.text and "Alice" in page.text and "customers.csv:5" in page.text
    response = client.post(f"/review/{world.pair_id}", data={"csrf_token": csrf, "decision": "same"})
    assert response.status_code == 303
    assert "Nothing waiting for review" in client.get("/review").text
    assert "resolve.judgement" in audit_actions(store)


def test_media_audit_and_admin_pages(app_store: tuple[TestClient, Store], world: World) -> None:
    client, store = app_store
    as_user(client, store, "analyst", "CA")
    media = client.get("/media")
    assert media.status_code == 200 and "server image" in media.text and "known-exact" in media.text
    as_user(client, store, "auditor", "CA")
    trail = client.get("/audit")
    assert trail.status_code == 200 and "lead.assign" in trail.text
    verified = client.get("/audit/verify")
    assert "Chain verified" in verified.text
    csrf = as_user(client, store, "admin", "CA")
    added = client.post(
        "/admin/agencies",
        data={"csrf_token": csrf, "name": "Brigade de Rennes", "country": "FR", "kind": "local", "parent": "FRREG"},
    )
    assert added.status_code == 303
    assert "Brigade de Rennes" in client.get("/admin/agencies?country=FR").text
    bad = client.post("/admin/agencies", data={"csrf_token": csrf, "name": "X", "country": "Atlantis"})
    assert bad.status_code == 400 and "Atlantis" in bad.text
    minted = client.post("/admin/tokens", data={"csrf_token": csrf, "username": "victim", "name": "ci"})
    assert minted.status_code == 200 and re.search(r'id="minted-token">tl_', minted.text)


def test_world_map_covers_the_countries() -> None:
    shapes = countries()
    codes = {c.alpha2 for c in shapes}
    assert {"FR", "DE", "CA", "US", "BR", "AU", "RU", "FJ"} <= codes and len(shapes) > 170
    assert bucket(0, 10) == 0 and bucket(10, 10) == 5 and bucket(1, 100) == 1
    svg = str(choropleth({"FR": 3, "DE": 1}, label="leads", link="/x?c={country}"))
    assert svg.startswith("<svg") and "France: 3 leads" in svg and 'href="/x?c=FR"' in svg and "style=" not in svg


def test_demo_users_get_fresh_working_passwords(store: Store, world: World) -> None:
    with store.session() as session:
        first = demo_users(session, receiving_country="FR")
    roles = {u.username: u.roles for u in first}
    assert roles["demo-coordinator"] == ("coordinator", "analyst") and len(first) == 6
    agencies = {u.username: u.agency for u in first}
    assert agencies["demo-coordinator"] == "CA" and agencies["demo-investigator"] == "FR"
    assert agencies["demo-regional"] == "FRREG"
    with store.session() as session:
        again = demo_users(session, receiving_country="FR")
        assert {u.password for u in again}.isdisjoint({u.password for u in first})
        assert authenticate(session, "demo-investigator", again[1].password) is not None
