"""How the web application holds up when it is busy: few queries per page, caches that stay correct, no deadlock
when requests outnumber threads and connections, one audit event per view, several worker processes, and a clock
sweep that never runs twice at once."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from threadline.core.db import Store, json_dumps
from threadline.model import Agency, AuditEvent, User
from threadline.web import WebSettings, auth, create_app, policy
from threadline.web.app import SERVE_ENV, _sweep_once, worker_app
from threadline.web.caches import Expiring, Refreshing
from web_world import World, build_world, username


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    return build_world(store, tmp_path)


def session_cookie(store: Store, role: str, agency: str) -> tuple[str, str]:
    """A signed-in session for role@agency (made directly, to skip argon2): the cookie token and the CSRF token."""
    with store.session() as session:
        user = session.scalars(select(User).where(User.username == username(role, agency))).one()
        token, row = auth.new_session(session, user, WebSettings())
        return token, row.csrf_token


class Statements:
    """The SQL statements an engine runs while this is active."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.seen: list[str] = []

    def _record(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.seen.append(" ".join(statement.split()))

    def __enter__(self) -> Statements:
        event.listen(self.store.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.store.engine, "before_cursor_execute", self._record)

    def matching(self, pattern: str) -> list[str]:
        return [s for s in self.seen if re.search(pattern, s, re.IGNORECASE)]


def test_inbox_is_two_queries_and_a_lead_page_one_lookup_of_who_is_asking(store: Store, world: World) -> None:
    token, _ = session_cookie(store, "investigator", "FR")
    with TestClient(create_app(store.settings, WebSettings(), store=store)) as client:
        client.cookies.set("threadline_session", token)
        assert client.get("/inbox").status_code == 200  # fills this worker's scope and count caches
        with Statements(store) as inbox:
            page = client.get("/inbox?tier=very_high")
        assert page.status_code == 200 and f'href="/leads/{world.leads["fr"]}"' in page.text
        # Who is asking (session, user and agency in one query), then the page of leads with agency and operation.
        assert len(inbox.seen) == 2, inbox.seen
        assert inbox.matching(r"FROM web_session .*JOIN app_user .*JOIN agency")
        with Statements(store) as lead:
            page = client.get(f"/leads/{world.leads['fr']}")
        assert page.status_code == 200 and "Alice Martin" in page.text
        assert len(lead.matching(r"FROM web_session")) == 1
        assert not lead.matching(r"^SELECT .* FROM app_user WHERE")  # the user came with the session
        assert not lead.matching(r"FROM agency WHERE agency.parent_id")  # the agency subtree came from the cache
        assert len(lead.matching(r"^INSERT INTO audit_event")) == 1
        # The audit event is the page's last write, right before its commit.
        writes = [s for s in lead.seen if re.match(r"(INSERT|UPDATE)", s)]
        assert writes[-2].startswith("INSERT INTO audit_event") and writes[-1].startswith("UPDATE audit_head")


def test_every_lead_page_view_writes_exactly_one_audit_event(store: Store, world: World) -> None:
    token, _ = session_cookie(store, "investigator", "FR")

    def views() -> int:
        with store.session() as session:
            return int(session.scalar(select(func.count()).where(AuditEvent.action == "lead.view")) or 0)

    with TestClient(create_app(store.settings, WebSettings(), store=store)) as client:
        client.cookies.set("threadline_session", token)
        before = views()
        for _ in range(3):
            assert client.get(f"/leads/{world.leads['fr']}").status_code == 200
        assert client.get(f"/api/v1/leads/{world.leads['fr']}", cookies={"threadline_session": token}).status_code
        assert views() == before + 4


def test_an_agency_added_by_an_admin_is_in_the_scope_at_once(store: Store, world: World) -> None:
    admin_token, csrf = session_cookie(store, "admin", "CA")
    supervisor_token, _ = session_cookie(store, "supervisor", "FR")
    app = create_app(store.settings, WebSettings(scope_cache_s=3600), store=store)
    with TestClient(app, follow_redirects=False) as client:
        client.cookies.set("threadline_session", supervisor_token)
        assert client.get("/inbox").status_code == 200  # FR's subtree is now cached
        fr = world.agency_ids["FR"]
        before = app.state.scopes.get(fr)
        assert before is not None and world.agency_ids["FRREG"] in before
        client.cookies.set("threadline_session", admin_token)
        added = client.post(
            "/admin/agencies",
            data={"name": "Brigade de Lyon", "country": "FR", "kind": "local", "parent": "FRREG", "csrf_token": csrf},
        )
        assert added.status_code == 303, added.text
        assert app.state.scopes.get(fr) is None  # forgotten at once
        client.cookies.set("threadline_session", supervisor_token)
        assert client.get("/inbox").status_code == 200
        with store.session() as session:
            lyon = session.scalars(select(Agency.id).where(Agency.name == "Brigade de Lyon")).one()
        after = app.state.scopes.get(fr)
        assert after is not None and lyon in after and before < after


def test_agency_scope_walks_every_level_below_in_one_query(store: Store, world: World) -> None:
    with store.session() as session:
        region = session.get(Agency, world.agency_ids["FRREG"])
        assert region is not None
        local = Agency(code="FR-LOCAL-1", name="Local", kind="local", country="FR", parent_id=region.id)
        session.add(local)
        session.flush()
        below = Agency(code="FR-UNIT-1", name="Unit", kind="local", country="FR", parent_id=local.id)
        session.add(below)
        session.flush()
        with Statements(store) as statements:
            scope = policy.agency_scope(session, world.agency_ids["FR"])
        assert len(statements.seen) == 1
        assert scope == {world.agency_ids["FR"], region.id, local.id, below.id}
        assert policy.agency_scope(session, below.id) == {below.id}


def test_expiring_cache_keeps_values_for_its_ttl_only() -> None:
    cache = Expiring[int](0.05)
    cache.put("a", 1)
    assert cache.get("a") == 1
    time.sleep(0.06)
    assert cache.get("a") is None
    off = Expiring[int](0)
    off.put("a", 1)
    assert off.get("a") is None


def test_refreshing_cache_serves_the_old_value_while_it_recomputes(store: Store) -> None:
    calls: list[int] = []

    def compute(session: Session) -> int:
        calls.append(1)
        return len(calls)

    cache = Refreshing[int](0.05, store)
    with store.session() as session:
        assert cache.get("k", session, compute) == 1  # the first time, in the caller's session
        assert cache.get("k", session, compute) == 1  # fresh: kept
        time.sleep(0.06)
        assert cache.get("k", session, compute) == 1  # stale: served, and recomputed in the background
        deadline = time.monotonic() + 5
        while cache.get("k", session, compute) != 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert cache.get("k", session, compute) == 2 and len(calls) == 2
    cache.close()
    uncached = Refreshing[int](0, store)
    with store.session() as session:
        assert [uncached.get("k", session, compute) for _ in range(2)] == [3, 4]


def test_refreshing_cache_keeps_the_old_value_when_a_refresh_fails(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    cache = Refreshing[int](0.01, store)

    def broken(session: Session) -> int:
        raise RuntimeError("database went away")

    with store.session() as session:
        assert cache.get("k", session, lambda s: 7) == 7
        time.sleep(0.02)
        with caplog.at_level(logging.ERROR, logger="threadline.web.caches"):
            assert cache.get("k", session, broken) == 7
            deadline = time.monotonic() + 5
            while "database went away" not in caplog.text and time.monotonic() < deadline:
                time.sleep(0.01)
        assert "database went away" in caplog.text
        assert cache.get("k", session, lambda s: 8) in (7, 8)
    cache.close()


def _narrow_store(store: Store, connections: int) -> Store:
    small = create_engine(
        store.engine.url,
        pool_size=connections,
        max_overflow=0,
        pool_timeout=5,
        json_serializer=json_dumps,
        json_deserializer=orjson.loads,
    )
    return Store(settings=store.settings, engine=small, sessions=sessionmaker(small, expire_on_commit=False))


def _burst(app: Any, token: str, paths: list[str], threads: int) -> list[int]:
    async def run() -> list[int]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", cookies={"threadline_session": token}, timeout=60
        ) as client:
            responses = await asyncio.gather(*(client.get(path) for path in paths))
        return [r.status_code for r in responses]

    return asyncio.run(run())


def test_a_burst_larger_than_threads_and_connections_does_not_deadlock(store: Store, world: World) -> None:
    """Two route threads and two pooled connections, twenty requests at once: a request that holds a connection
    must never wait for a thread that waits for a connection (a pool timeout, a 500, otherwise)."""
    narrow = _narrow_store(store, 2)
    app = create_app(store.settings, WebSettings(count_cache_s=0, threads=2), store=narrow)
    token, _ = session_cookie(store, "supervisor", "FR")
    paths = ["/inbox", "/inbox?tier=high", "/api/v1/leads", "/inbox?clock=overdue&page=2"] * 5
    try:
        assert _burst(app, token, paths, threads=2) == [200] * 20
    finally:
        narrow.dispose()


def test_concurrent_lead_views_each_add_one_link_to_the_audit_chain(store: Store, world: World) -> None:
    from threadline.core import audit

    narrow = _narrow_store(store, 3)
    app = create_app(store.settings, WebSettings(count_cache_s=0, threads=2), store=narrow)
    token, _ = session_cookie(store, "supervisor", "FR")
    lead = world.leads["fr"]
    with store.session() as session:
        before = int(session.scalar(select(func.count()).where(AuditEvent.action == "lead.view")) or 0)
    try:
        assert _burst(app, token, [f"/leads/{lead}", f"/api/v1/leads/{lead}"] * 8, threads=2) == [200] * 16
    finally:
        narrow.dispose()
    with store.session() as session:
        after = int(session.scalar(select(func.count()).where(AuditEvent.action == "lead.view")) or 0)
        assert after == before + 16
        assert audit.verify(session).ok


def test_sweep_skips_while_another_process_sweeps(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    if store.engine.dialect.name != "postgresql":
        with caplog.at_level(logging.INFO, logger="threadline.web.app"):
            _sweep_once(store)  # SQLite: one writer at a time anyway
        assert "sweep:" in caplog.text and "skipped" not in caplog.text
        return
    from threadline.web.app import _PG_SWEEP_LOCK

    with store.engine.connect() as other, other.begin():
        other.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_SWEEP_LOCK})
        with caplog.at_level(logging.INFO, logger="threadline.web.app"):
            _sweep_once(store)
        assert "another process is sweeping; skipped" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="threadline.web.app"):
        _sweep_once(store)
    assert "skipped" not in caplog.text and "sweep:" in caplog.text


def test_worker_app_reads_its_settings_from_the_environment(
    store: Store, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    web = WebSettings(page_size=7, sweep_interval_s=0)
    config = {"settings": store.settings.model_dump(mode="json"), "web": web.model_dump(mode="json")}
    monkeypatch.setenv(SERVE_ENV, orjson.dumps(config).decode())
    app = worker_app()
    assert app.state.web_settings.page_size == 7
    assert str(app.state.store.engine.url) == str(store.engine.url)
    app.state.store.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = _free_port()
    env = {**os.environ, "THREADLINE_HOME": str(tmp_path / "served")}
    env.pop("THREADLINE_DATABASE_URL", None)
    cmd = [sys.executable, "-m", "threadline", "serve", "--port", str(port), "--workers", "2", "--sweep", "3600"]
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@pytest.mark.slow
def test_serve_with_two_workers_answers_and_stops(served: tuple[str, subprocess.Popen[bytes]]) -> None:
    base, process = served
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        process.kill()
        output = process.stdout.read().decode() if process.stdout else ""
        pytest.fail(f"the server did not answer: {output[-2000:]}")
    assert all(httpx.get(f"{base}/healthz", timeout=5).status_code == 200 for _ in range(10))
    assert httpx.get(f"{base}/inbox", timeout=5).status_code == 303  # sign-in first
    process.send_signal(signal.SIGINT)
    process.wait(30)
    output = process.stdout.read().decode() if process.stdout else ""
    assert "2 workers" in output and "Traceback" not in output, output[-3000:]
