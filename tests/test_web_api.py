"""The JSON API: the same policy as the pages, token authentication, and schemathesis against its OpenAPI
document (bounded examples): no server error, and answers that match the document."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from threadline.core.db import Store
from threadline.model import AuditEvent
from threadline.web import WebSettings, auth, create_app
from web_world import World, build_world


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    return build_world(store, tmp_path)


@pytest.fixture
def app(store: Store, world: World) -> FastAPI:
    return create_app(store.settings, WebSettings(count_cache_s=0), store=store)


def token_for(store: Store, name: str) -> str:
    with store.session() as session:
        secret, _ = auth.mint_token(session, name, "test", actor="test")
    return secret


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def test_openapi_document_describes_the_api(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/leads/{lead_id}/outcome" in spec["paths"]
    assert not [p for p in spec["paths"] if not p.startswith("/api/v1/")]  # pages stay out of the API document


def test_leads_follow_the_same_policy_as_the_pages(client: TestClient, store: Store, world: World) -> None:
    fr = {"Authorization": f"Bearer {token_for(store, 'investigator-fr')}"}
    de = {"Authorization": f"Bearer {token_for(store, 'investigator-de')}"}
    ids = {row["id"] for row in client.get("/api/v1/leads", headers=fr).json()["items"]}
    assert ids == {world.leads["fr"], world.leads["carl"], world.leads["reg"]}
    assert client.get(f"/api/v1/leads/{world.leads['fr']}", headers=de).status_code == 404
    detail = client.get(f"/api/v1/leads/{world.leads['fr']}", headers=fr).json()
    assert detail["personal"] is True and detail["person"]["full_name"] == "Alice Martin"
    assert detail["actions"] == ["acknowledge", "note"]
    with store.session() as session:
        last = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).one()
        assert last.action == "lead.view" and last.actor == "web:investigator-fr" and last.details["via"] == "token"


def test_searching_by_lead_number_takes_only_ascii_digits(client: TestClient, store: Store, world: World) -> None:
    """Found by the fuzzer: "²" is a digit to str.isdigit() but not to int(); a huge number is no database id."""
    fr = {"Authorization": f"Bearer {token_for(store, 'investigator-fr')}"}
    for text in ("²", "٣", "9" * 40):
        response = client.get("/api/v1/leads", headers=fr, params={"q": text})
        assert response.status_code == 200 and response.json()["items"] == []
    found = client.get("/api/v1/leads", headers=fr, params={"q": str(world.leads["fr"])}).json()["items"]
    assert world.leads["fr"] in {row["id"] for row in found}


def test_actions_through_the_api(client: TestClient, store: Store, world: World) -> None:
    fr = {"Authorization": f"Bearer {token_for(store, 'investigator-fr')}"}
    lead = world.leads["fr"]
    assert client.post(f"/api/v1/leads/{lead}/outcome", headers=fr, json={"outcome": "arrested"}).status_code == 409
    assert client.post(f"/api/v1/leads/{lead}/acknowledge", headers=fr, json={}).json()["status"] == "acknowledged"
    body = {"outcome": "arrested", "arrests": 2, "children_safeguarded": 1}
    assert client.post(f"/api/v1/leads/{lead}/outcome", headers=fr, json=body).json()["status"] == "outcome"
    assert client.post(f"/api/v1/leads/{lead}/recall", headers=fr, json={}).status_code == 403
    assert client.post(f"/api/v1/leads/{lead}/outcome", headers=fr, json={"outcome": "maybe"}).status_code == 422
    ca = {"Authorization": f"Bearer {token_for(store, 'coordinator-ca')}"}
    dashboard = client.get(f"/api/v1/operations/{world.operation_id}/dashboard", headers=ca).json()
    assert dashboard["totals"]["arrests"] == 2 and dashboard["totals"]["children_safeguarded"] == 1
    assert {c["country"] for c in dashboard["countries"]} == {"FR", "DE"}


def test_auditor_verifies_the_chain(client: TestClient, store: Store) -> None:
    auditor = {"Authorization": f"Bearer {token_for(store, 'auditor-ca')}"}
    assert client.get("/api/v1/audit/verify", headers=auditor).json()["ok"] is True
    assert len(client.get("/api/v1/audit/events?limit=5", headers=auditor).json()) == 5
    investigator = {"Authorization": f"Bearer {token_for(store, 'investigator-fr')}"}
    assert client.get("/api/v1/audit/verify", headers=investigator).status_code == 403


def test_api_fuzz_no_server_errors(app: FastAPI, store: Store) -> None:
    """Requests generated from the OpenAPI document, as a supervisor at the national agency (who may see and act on
    leads), a bounded number per operation: no server error, and status, content type and body as documented."""
    with store.session() as session:
        secret, _ = auth.mint_token(session, "supervisor-fr", "fuzz", actor="test")
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(headers={"Authorization": f"Bearer {secret}"}, checks=checks)

        run()
    assert operations >= 19
