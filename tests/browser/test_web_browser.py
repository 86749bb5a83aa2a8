"""A real browser (Debian's Chromium, driven by Playwright) through the whole story: an investigator signs in,
opens a lead, acknowledges it and records an outcome; the coordinator's dashboard shows the new figures. Any
content-security-policy violation or script error fails the test. Screenshots are kept in the test's folder and
the dashboard's is copied to docs/screenshots/dashboard.png for the README."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from threadline.core.db import open_store
from threadline.core.settings import Settings
from threadline.web import WebSettings, create_app
from web_world import PASSWORD, World, build_world

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
DOCS_SHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "dashboard.png"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's Chromium is not installed: apt-get install -y chromium"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, World]]:
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'browser.db'}")
    store = open_store(settings)
    world = build_world(store, tmp_path)
    app = create_app(settings, WebSettings(count_cache_s=0), store=store)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}", world
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.dispose()


def test_investigator_acts_and_the_dashboard_changes(server: tuple[str, World], tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    base, world = server
    shots = tmp_path / "screenshots"
    shots.mkdir()
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1360, "height": 1000})
        page.on("console", lambda m: problems.append(f"{page.url}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))

        def sign_in(name: str) -> None:
            page.goto(f"{base}/signin")
            page.fill("input[name=username]", name)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")

        sign_in("investigator-fr")
        page.wait_for_url(f"{base}/inbox")
        assert page.locator("table.leads tbody tr").count() == 3
        page.screenshot(path=str(shots / "inbox.png"), full_page=True)
        # Keyboard: j selects the first (highest score) lead, Enter opens it.
        page.keyboard.press("j")
        page.keyboard.press("Enter")
        page.wait_for_url(f"{base}/leads/{world.leads['fr']}")
        assert page.locator("#lead-status").get_attribute("data-status") == "sent"
        assert "customers.csv:2" in page.content()
        page.screenshot(path=str(shots / "lead.png"), full_page=True)

        page.click("a[data-action=acknowledge]")
        page.check("input[name=confirm]")
        page.click("form.stack button[type=submit]")
        page.wait_for_selector("#done")
        assert page.locator("#lead-status").get_attribute("data-status") == "acknowledged"

        page.click("a[data-action=outcome]")
        page.select_option("select[name=outcome]", "arrested")
        page.fill("input[name=arrests]", "2")
        page.fill("input[name=children_safeguarded]", "3")
        page.check("input[name=confirm]")
        page.click("form.stack button[type=submit]")
        page.wait_for_selector("#done")
        assert page.locator("#lead-status").get_attribute("data-status") == "outcome"
        page.screenshot(path=str(shots / "lead-after.png"), full_page=True)

        page.click("header .who button")  # sign out
        page.wait_for_url(f"{base}/signin")
        sign_in("coordinator-ca")
        page.wait_for_url(f"{base}/inbox")
        page.goto(f"{base}/operations/{world.operation_id}")
        assert page.locator("#fig-arrests").inner_text() == "2"
        assert page.locator("#fig-children").inner_text() == "3"
        assert page.locator("svg.worldmap path[data-country=FR]").get_attribute("class") == "q5"
        page.screenshot(path=str(shots / "dashboard.png"), full_page=True)

        # The link chart draws with the vendored cytoscape, under the same policy.
        page.goto(f"{base}/subjects/{world.subjects['alice']}")
        try:
            page.wait_for_selector("#link-chart[data-ready=true]", state="attached", timeout=15000)
        except Exception as exc:
            raise AssertionError(f"link chart not drawn: {page.inner_text('#link-chart')!r} {problems}") from exc
        page.screenshot(path=str(shots / "subject.png"), full_page=True)
        browser.close()
    assert not problems, f"browser errors (CSP violations or script errors): {problems}"
    for name in ("inbox", "lead", "lead-after", "dashboard", "subject"):
        assert (shots / f"{name}.png").stat().st_size > 10_000
    DOCS_SHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shots / "dashboard.png", DOCS_SHOT)
