"""Signing in and staying signed in: cookies, CSRF, lockout and rate limits, TOTP, sign-out, password change,
API tokens, security headers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from threadline.core.db import Store
from threadline.model import AuditEvent, User, WebSession
from threadline.web import WebSettings, create_app
from threadline.web.auth import lockout_remaining
from web_world import PASSWORD, World, build_world, username


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    return build_world(store, tmp_path, roles=("investigator", "admin", "auditor"))


@pytest.fixture
def client(store: Store, world: World) -> Iterator[TestClient]:
    settings = WebSettings(lockout_failures=3, lockout_minutes=15, ip_failures=8, count_cache_s=0)
    with TestClient(create_app(store.settings, settings, store=store), follow_redirects=False) as c:
        yield c


def csrf_of(client: TestClient, path: str = "/signin") -> str:
    page = client.get(path)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def sign_in(client: TestClient, name: str, password: str = PASSWORD, code: str | None = None) -> int:
    data = {"username": name, "password": password, "csrf_token": csrf_of(client), "next": "/inbox"}
    if code is not None:
        data["code"] = code
    return client.post("/signin", data=data).status_code


def test_sign_in_sets_a_strict_http_only_cookie_and_opens_the_inbox(client: TestClient) -> None:
    response = client.post(
        "/signin",
        data={"username": "investigator-fr", "password": PASSWORD, "csrf_token": csrf_of(client), "next": "/inbox"},
    )
    assert response.status_code == 303 and response.headers["location"] == "/inbox"
    cookie = response.headers["set-cookie"]
    assert "threadline_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain HTTP in tests; THREADLINE_WEB_SECURE_COOKIES turns it on
    inbox = client.get("/inbox")
    assert inbox.status_code == 200 and "By tier" in inbox.text


def test_secure_cookie_behind_https(store: Store, world: World) -> None:
    app = create_app(store.settings, WebSettings(secure_cookies=True), store=store)
    with TestClient(app, follow_redirects=False) as c:
        data = {"username": "investigator-fr", "password": PASSWORD, "csrf_token": csrf_of(c)}
        response = c.post("/signin", data=data)
        assert "Secure" in response.headers["set-cookie"]
        assert "max-age" in response.headers["strict-transport-security"]


def test_sign_in_form_without_its_csrf_token_is_refused(client: TestClient) -> None:
    client.get("/signin")
    response = client.post("/signin", data={"username": "investigator-fr", "password": PASSWORD})
    assert response.status_code == 403


def test_state_changing_request_without_csrf_token_is_refused(client: TestClient, world: World) -> None:
    assert sign_in(client, "investigator-fr") == 303
    lead = world.leads["fr"]
    refused = client.post(f"/leads/{lead}/acknowledge", data={"confirm": "yes"})
    assert refused.status_code == 403
    token = csrf_of(client, f"/leads/{lead}/acknowledge")
    accepted = client.post(f"/leads/{lead}/acknowledge", data={"confirm": "yes", "csrf_token": token})
    assert accepted.status_code == 303
    # HTMX and scripts send it as a header instead.
    header = client.post(
        f"/leads/{lead}/note", data={"confirm": "yes", "notes": "seen"}, headers={"X-CSRF-Token": token}
    )
    assert header.status_code == 303


def test_wrong_password_then_lockout_even_with_the_right_password(client: TestClient, store: Store) -> None:
    for _ in range(3):
        assert sign_in(client, "investigator-fr", "wrong password!") == 401
    assert sign_in(client, "investigator-fr") == 429  # locked: the right password does not help now
    with store.session() as session:
        assert lockout_remaining(session, "investigator-fr", WebSettings(lockout_failures=3)) > 0
        failures = session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "web.signin_failed")
        )
        assert failures == 4
    # Another account from elsewhere is not affected by this one's lock.
    assert sign_in(client, "admin-fr") == 303


def test_lockout_ends_after_its_window(store: Store, world: World) -> None:
    from threadline.model import LoginAttempt, utcnow

    settings = WebSettings(lockout_failures=2, lockout_minutes=15)
    with store.session() as session:
        old = utcnow() - timedelta(minutes=16)
        for _ in range(2):
            session.add(
                LoginAttempt(username="investigator-fr", ip="1.2.3.4", at=old, success=False, result="bad_password")
            )
    with store.session() as session:
        assert lockout_remaining(session, "investigator-fr", settings) == 0


def test_many_failures_from_one_address_are_rate_limited(client: TestClient) -> None:
    for i in range(8):
        assert sign_in(client, f"nobody{i}", "whatever at all") == 401
    assert sign_in(client, "investigator-fr") == 429


def test_totp_is_required_once_turned_on(client: TestClient, store: Store) -> None:
    assert sign_in(client, "investigator-fr") == 303
    setup = client.get("/account/totp")
    secret = re.search(r'class="secret">([A-Z2-7]+)<', setup.text)
    assert secret is not None
    qr = client.get("/account/totp/qr.svg")
    assert qr.status_code == 200 and qr.headers["content-type"].startswith("image/svg+xml")
    token = csrf_of(client, "/account")
    assert client.post("/account/totp", data={"code": "000000", "csrf_token": token}).status_code == 400
    code = pyotp.TOTP(secret.group(1)).now()
    assert client.post("/account/totp", data={"code": code, "csrf_token": token}).status_code == 303
    with store.session() as session:
        user = session.scalars(select(User).where(User.username == "investigator-fr")).one()
        assert user.totp_secret == secret.group(1)
    client.cookies.clear()
    assert sign_in(client, "investigator-fr") == 401  # no code
    assert sign_in(client, "investigator-fr", code=pyotp.TOTP(secret.group(1)).now()) == 303


def test_sign_out_ends_the_session_on_the_server(client: TestClient) -> None:
    assert sign_in(client, "investigator-fr") == 303
    stolen = client.cookies.get("threadline_session")
    token = csrf_of(client, "/account")
    assert client.post("/signout", data={"csrf_token": token}).status_code == 303
    client.cookies.clear()
    replay = client.get("/inbox", headers={"cookie": f"threadline_session={stolen}"})
    assert replay.status_code == 303 and replay.headers["location"].startswith("/signin")


def test_password_change_signs_out_other_sessions(client: TestClient, store: Store, world: World) -> None:
    app = client.app
    with TestClient(app, follow_redirects=False) as other:
        assert sign_in(other, "investigator-fr") == 303
        assert sign_in(client, "investigator-fr") == 303
        token = csrf_of(client, "/account")
        bad = client.post(
            "/account/password", data={"current": "nope", "new": "n" * 12, "repeat": "n" * 12, "csrf_token": token}
        )
        assert bad.status_code == 400 and "current password is wrong" in bad.text
        new = "a brand new passphrase"
        ok = client.post(
            "/account/password", data={"current": PASSWORD, "new": new, "repeat": new, "csrf_token": token}
        )
        assert ok.status_code == 303
        assert client.get("/inbox").status_code == 200  # this session stays
        assert other.get("/inbox").status_code == 303  # the other one is gone
    client.cookies.clear()
    assert sign_in(client, "investigator-fr", "a brand new passphrase") == 303


def test_idle_sessions_expire(client: TestClient, store: Store) -> None:
    assert sign_in(client, "investigator-fr") == 303
    with store.session() as session:
        row = session.scalars(select(WebSession)).one()
        row.last_seen_at = row.last_seen_at - timedelta(hours=2)
    assert client.get("/inbox").status_code == 303


def test_disabled_user_is_signed_out(client: TestClient, store: Store) -> None:
    assert sign_in(client, "investigator-fr") == 303
    with store.session() as session:
        session.scalars(select(User).where(User.username == "investigator-fr")).one().disabled = True
    assert client.get("/inbox").status_code == 303


def test_next_parameter_never_leaves_the_site(client: TestClient) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        data = {"username": "investigator-fr", "password": PASSWORD, "csrf_token": csrf_of(client), "next": target}
        response = client.post("/signin", data=data)
        assert response.headers["location"] == "/"
        client.cookies.clear()


def test_security_headers_forbid_inline_code_and_framing(client: TestClient) -> None:
    response = client.get("/signin")
    csp = response.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "style-src 'self'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert "<script>" not in response.text and "style=" not in response.text
    static = client.get("/static/app.css")
    assert static.status_code == 200 and "cache-control" not in static.headers


def test_templates_hold_no_inline_script_or_style() -> None:
    from importlib import resources

    folder = resources.files("threadline.web") / "templates"
    for template in folder.iterdir():
        text = template.read_text(encoding="utf-8")
        assert "<style" not in text and " style=" not in text, template.name
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), f"inline script in {template.name}"
        assert "javascript:" not in text and " on" + "click=" not in text, template.name


def test_api_tokens_authenticate_and_can_be_revoked(client: TestClient, store: Store, world: World) -> None:
    headers = {"Authorization": f"Bearer {world.victim_token}"}
    me = client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200 and me.json()["username"] == "victim" and me.json()["via"] == "token"
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer tl_not-a-token"}).status_code == 401
    from threadline.web.auth import revoke_token

    with store.session() as session:
        revoke_token(session, world.victim_token_id, actor="test")
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_api_writes_from_a_browser_session_need_the_csrf_header(client: TestClient, world: World) -> None:
    assert sign_in(client, "investigator-fr") == 303
    path = f"/api/v1/leads/{world.leads['fr']}/acknowledge"
    assert client.post(path, json={}).status_code == 403
    token = csrf_of(client, "/account")
    response = client.post(path, json={}, headers={"X-CSRF-Token": token})
    assert response.status_code == 200 and response.json()["status"] == "acknowledged"


def test_users_token_command_mints_a_working_token(store: Store, world: World) -> None:
    from typer.testing import CliRunner

    from threadline.cli.app import app

    url = store.settings.url
    result = CliRunner().invoke(
        app, ["users", "token", username("investigator", "FR"), "--name", "ci", "--db", url, "--json"]
    )
    assert result.exit_code == 0, result.output
    import json

    token = json.loads(result.output)["token"]
    web = create_app(store.settings, store=store)
    with TestClient(web) as c:
        assert c.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()["username"] == "investigator-fr"
