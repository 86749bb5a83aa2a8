"""The access matrix, generated from the application's route table: every route × every role × the user's agency
(addressed, above, below, originator, unrelated) is allowed or denied exactly as the rules below say.

The rules are written here a second time, in plain terms, independently of `threadline.web.policy`; a route
without a policy decision, or with a permission this table does not know, fails the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from threadline.core.db import Store
from threadline.model import ROLES, User
from threadline.web import WebSettings, auth, create_app
from threadline.web.app import route_table
from web_world import World, build_world

LEAD_ROLES = {"coordinator", "analyst", "investigator", "supervisor"}
ORIGINATOR_ROLES = {"coordinator", "analyst"}


def _lead_view(role: str, rel: str) -> bool:
    return role in LEAD_ROLES and (rel in ("addressed", "above") or (rel == "originator" and role in ORIGINATOR_ROLES))


# permission -> (role, relation of the user's agency to the object) -> allowed?
EXPECTED: dict[str, Callable[[str, str], bool]] = {
    "public": lambda role, rel: True,
    "signed_in": lambda role, rel: True,
    "directory.read": lambda role, rel: True,
    "inbox.view": lambda role, rel: role in LEAD_ROLES,
    "lead.view": _lead_view,
    "lead.note": _lead_view,  # the "above" agency in this world forwarded the lead, so it held it
    "lead.act": lambda role, rel: role in ("investigator", "supervisor") and rel == "addressed",
    "lead.assign": lambda role, rel: role == "supervisor" and rel == "addressed",
    "lead.recall": lambda role, rel: role == "coordinator" and rel == "originator",
    "lead.close": lambda role, rel: (
        (role == "supervisor" and rel == "addressed") or (role == "coordinator" and rel == "originator")
    ),
    "subject.view": _lead_view,
    "operation.list": lambda role, rel: role in ORIGINATOR_ROLES,
    "operation.view": lambda role, rel: role in ORIGINATOR_ROLES and rel == "originator",
    "review.view": lambda role, rel: role in ORIGINATOR_ROLES,
    "review.decide": lambda role, rel: role in ORIGINATOR_ROLES and rel == "originator",
    "media.view": lambda role, rel: role in ORIGINATOR_ROLES,
    "audit.view": lambda role, rel: role == "auditor",
    "admin.manage": lambda role, rel: role == "admin",
}

# For each lead the matrix uses: how each agency of the world stands to it.
RELATIONS = {
    # Alice's lead: addressed to FR, sent by CA; FRREG is below FR and never held it.
    "fr": {"FR": "addressed", "FRREG": "below", "CA": "originator", "DE": "unrelated"},
    # Carl's second hop: FR assigned it down to FRREG.
    "reg": {"FR": "above", "FRREG": "addressed", "CA": "originator", "DE": "unrelated"},
}
OPERATION_RELATIONS = {"CA": "originator", "FR": "unrelated", "FRREG": "unrelated", "DE": "unrelated"}
SUBJECT_OF = {"fr": "alice", "reg": "carl"}

FORM = {
    "confirm": "yes",
    "notes": "checked",
    "action": "search executed",
    "outcome": "arrested",
    "arrests": "1",
    "charges": "0",
    "children_safeguarded": "0",
    "decision": "skip",
    "text": "a note",
    "name": "Brigade Test",
    "country": "FR",
    "kind": "local",
    "parent": "FRREG",
    "username": "victim",
    "password": "long enough pw 1",
    "roles": "investigator",
    "current": "x",
    "new": "y",
    "repeat": "z",
    "code": "000000",
    "rotate": "no",
}
JSON_BODY: dict[str, Any] = {
    "notes": "checked",
    "action": "search executed",
    "outcome": "arrested",
    "arrests": 1,
    "text": "a note",
    "decision": "skip",
}


@pytest.fixture
def world_app(store: Store, tmp_path: Path) -> Iterator[tuple[FastAPI, World, TestClient]]:
    world = build_world(store, tmp_path)
    app = create_app(store.settings, WebSettings(count_cache_s=0), store=store)
    with TestClient(app, follow_redirects=False) as client:
        yield app, world, client


def _session_for(store: Store, user_id: int) -> tuple[str, str]:
    with store.session() as session:
        user = session.get(User, user_id)
        assert user is not None
        token, row = auth.new_session(session, user, WebSettings())
        return token, row.csrf_token


def _fill(path: str, world: World, target: str) -> str:
    values = {
        "lead_id": world.leads[target],
        "subject_id": world.subjects[SUBJECT_OF[target]],
        "operation_id": world.operation_id,
        "pair_id": world.pair_id,
        "user_id": world.victim_user_id,
        "token_id": world.victim_token_id,
    }
    for name, value in values.items():
        path = path.replace("{" + name + "}", str(value))
    assert "{" not in path, f"the access matrix does not know the parameter of {path}: add it to _fill"
    return path


def _relation(path: str, target: str, agency: str) -> str:
    if "{lead_id}" in path or "{subject_id}" in path:
        return RELATIONS[target][agency]
    if "{operation_id}" in path or "{pair_id}" in path:
        return OPERATION_RELATIONS[agency]
    return "any"


def _call(client: TestClient, method: str, path: str, token: str, csrf: str) -> int:
    headers = {"cookie": f"threadline_session={token}", "x-csrf-token": csrf}
    if method == "GET":
        return client.get(path, headers=headers).status_code
    if path.startswith("/api/"):
        return client.request(method, path, headers=headers, json={**JSON_BODY, "agency": "FRREG"}).status_code
    if path.endswith("/import"):
        files = {"file": ("agencies.csv", b"name,country,kind,parent\nBrigade Import,FR,local,FRREG\n", "text/csv")}
        return client.post(path, headers=headers, files=files).status_code
    return client.request(method, path, headers=headers, data={**FORM, "agency": "FRREG"}).status_code


def test_every_route_states_a_known_permission(world_app: tuple[FastAPI, World, TestClient]) -> None:
    app, _, _ = world_app
    table = route_table(app)
    assert len(table) > 50
    missing = [f"{r.method} {r.path}" for r in table if r.permission is None]
    assert not missing, f"routes without a policy decision (add Depends(Need(...))): {missing}"
    unknown = [f"{r.method} {r.path}: {r.permission}" for r in table if r.permission not in EXPECTED]
    assert not unknown, f"permissions the access matrix does not know: {unknown}"


def test_a_route_without_a_decision_is_reported(store: Store) -> None:
    app = create_app(store.settings, store=store)

    @app.get("/forgotten")
    def forgotten() -> dict[str, str]:
        return {}

    entries = {(r.method, r.path): r.permission for r in route_table(app)}
    assert entries[("GET", "/forgotten")] is None


def test_access_matrix(world_app: tuple[FastAPI, World, TestClient], store: Store) -> None:
    app, world, client = world_app
    sessions = {key: _session_for(store, user_id) for key, user_id in world.users.items()}
    failures: list[str] = []
    checked = 0
    table = [r for r in route_table(app) if r.permission not in ("public",) and not r.path.startswith("/static")]
    # Writes that end sessions or change who is who go last, so they do not disturb the rest of the matrix.
    table.sort(key=lambda r: (r.path.startswith("/signout") or r.path.startswith("/account/"), r.method != "GET"))
    for entry in table:
        needs_object = any(p in entry.path for p in ("{lead_id}", "{subject_id}"))
        targets = ("fr", "reg") if needs_object else ("fr",)
        for target in targets:
            path = _fill(entry.path, world, target)
            for role in ROLES:
                agencies = ("CA", "FR", "FRREG", "DE") if "{" in entry.path else ("FR",)
                for agency in agencies:
                    rel = _relation(entry.path, target, agency)
                    expected = EXPECTED[entry.permission or ""](role, rel)
                    token, csrf = sessions[f"{role}@{agency}"]
                    status = _call(client, entry.method, path, token, csrf)
                    checked += 1
                    if status >= 500:
                        failures.append(f"{entry.method} {path} as {role}@{agency}: server error {status}")
                    elif expected and status in (401, 403, 404):
                        failures.append(f"{entry.method} {path} as {role}@{agency} ({rel}): denied {status}")
                    elif not expected and status not in (403, 404):
                        failures.append(f"{entry.method} {path} as {role}@{agency} ({rel}): allowed {status}")
    assert checked > 1000
    assert not failures, f"{len(failures)} of {checked} decisions differ from the policy:\n" + "\n".join(failures[:40])


def test_signed_out_visitors_are_sent_to_sign_in(world_app: tuple[FastAPI, World, TestClient]) -> None:
    app, world, client = world_app
    for entry in route_table(app):
        if entry.permission == "public" or entry.method != "GET":
            continue
        path = _fill(entry.path, world, "fr")
        response = client.get(path)
        if path.startswith("/api/"):
            assert response.status_code == 401, path
        else:
            assert response.status_code == 303 and response.headers["location"].startswith("/signin"), path
