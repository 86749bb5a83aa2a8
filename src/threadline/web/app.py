"""The application factory: `create_app(settings)` returns the FastAPI app, `serve(settings, host, port)` runs it."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from threadline import __version__
from threadline.core.db import Store, open_store
from threadline.core.errors import ConflictError, NotFoundError, ThreadlineError
from threadline.core.settings import Settings
from threadline.web import api
from threadline.web.caches import Expiring, Refreshing
from threadline.web.config import WebSettings
from threadline.web.deps import Need, Public, SignInRequired, is_api
from threadline.web.render import render_error
from threadline.web.routes import account, admin, leads, oversight, people

log = logging.getLogger(__name__)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class SecurityHeaders:
    """Headers on every response: a content security policy with no inline script or style and no framing,
    no MIME sniffing, no referrer, and pages that hold personal data kept out of caches."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                extra = {
                    b"content-security-policy": CSP.encode(),
                    b"x-content-type-options": b"nosniff",
                    b"referrer-policy": b"no-referrer",
                    b"x-frame-options": b"DENY",
                    b"cross-origin-opener-policy": b"same-origin",
                    b"permissions-policy": b"camera=(), microphone=(), geolocation=(), payment=()",
                }
                if not static:
                    extra[b"cache-control"] = b"no-store"
                if self.hsts:
                    extra[b"strict-transport-security"] = b"max-age=31536000; includeSubDomains"
                headers = [(k, v) for k, v in headers if k.lower() not in extra]
                headers.extend(extra.items())
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


# Any constant will do: it only has to be the same for every Threadline process sharing a PostgreSQL server.
_PG_SWEEP_LOCK = 0x7468_7377


def _sweep_once(store: Store) -> None:
    """One sweep (track's, idempotent when runs follow each other). On PostgreSQL a transaction-level advisory
    lock keeps two servers on one database from sweeping at the same moment (two concurrent sweeps could both
    record the same escalation); the one that does not get it skips this tick."""
    from threadline.track.sweep import sweep

    with store.session() as session:
        postgres = session.get_bind().dialect.name == "postgresql"
        if postgres and not session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _PG_SWEEP_LOCK}):
            log.info("sweep: another process is sweeping; skipped")
            return
        report = sweep(session)
    log.info("sweep: %s", report.to_dict())


def _sweep_loop(store: Store, interval_s: float, stop: threading.Event) -> None:
    """Sweep every `interval_s` until `stop` is set (the supervisor's thread when several workers serve)."""
    while not stop.is_set():
        try:
            _sweep_once(store)
        except Exception:  # a failed sweep must not stop the server; the next one retries
            log.exception("sweep failed")
        stop.wait(interval_s)


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Threads that run routes (anyio's default is 40): a worker is one core, and dozens of threads taking turns
    # on it cost more in switching than they gain in overlap (measured in benchmarks/web_load.py).
    anyio.to_thread.current_default_thread_limiter().total_tokens = app.state.web_settings.threads
    interval = app.state.web_settings.sweep_interval_s
    task: asyncio.Task[None] | None = None
    if interval > 0:

        async def loop() -> None:
            while True:
                try:
                    await asyncio.to_thread(_sweep_once, app.state.store)
                except Exception:  # a failed sweep must not stop the server; the next one retries
                    log.exception("sweep failed")
                await asyncio.sleep(interval)

        task = asyncio.create_task(loop())
    try:
        yield
    finally:
        app.state.counts.close()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def create_app(settings: Settings, web_settings: WebSettings | None = None, *, store: Store | None = None) -> FastAPI:
    """The web application over the store named by `settings` (opened, and migrated, here unless given)."""
    web = web_settings or WebSettings()
    app = FastAPI(
        title="Threadline",
        version=__version__,
        description="Leads, their people and their outcomes, under the same permissions as the web pages.",
        openapi_url=api.OPENAPI_URL,
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.store = store or open_store(settings)
    app.state.web_settings = web
    app.state.scopes = Expiring[frozenset[int]](web.scope_cache_s)
    app.state.counts = Refreshing[dict[str, Any]](web.count_cache_s, app.state.store)
    app.add_middleware(SecurityHeaders, hsts=web.secure_cookies)
    static_dir = resources.files("threadline.web") / "static"
    app.mount("/static", StaticFiles(directory=str(static_dir)), name="static")
    for module in (account, leads, people, oversight, admin):
        app.include_router(module.router)
    app.include_router(api.router)

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        if is_api(request):
            return JSONResponse({"detail": "sign in with an API token"}, 401, {"WWW-Authenticate": "Bearer"})
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={_quote(target)}", 303)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        return _error(request, exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(ThreadlineError)
    async def _threadline(request: Request, exc: ThreadlineError) -> Response:
        status = 404 if isinstance(exc, NotFoundError) else 409 if isinstance(exc, ConflictError) else 400
        return _error(request, status, exc.one_line())

    @app.exception_handler(PermissionError)
    async def _forbidden(request: Request, exc: PermissionError) -> Response:
        return _error(request, 403, "your role does not allow this")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if is_api(request):
            return JSONResponse({"detail": _plain_errors(exc.errors())}, 422)
        return _error(request, 400, "the form is incomplete or has a wrong value: go back and check it")

    return app


def _plain_errors(errors: Any) -> list[dict[str, Any]]:
    return [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")} for e in errors]


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")


def _error(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    if is_api(request):
        return JSONResponse({"detail": message}, status, headers)
    return render_error(request, status, message, headers)


# The worker processes' settings, passed down by `serve` through the environment (uvicorn spawns its workers).
SERVE_ENV = "THREADLINE_WEB_SERVE_CONFIG"
# Collect young objects less often than Python's default (700 allocations): a page allocates tens of thousands,
# and with dozens of requests in flight the default promotes most of them to the older generations, whose
# collections then walk the whole heap.
GC_THRESHOLD = (20_000, 20, 50)


def prepare_worker() -> None:
    """Before serving: compile every template, then move everything loaded so far (modules, the app, templates,
    the ORM's mappers) out of the garbage collector's sight, so its full collections walk only what requests make.
    Measured: without this a third of a busy worker's CPU went to the collector (see benchmarks/web_load.py)."""
    from threadline.web.render import env

    for name in env.list_templates():
        env.get_template(name)
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


def worker_app() -> FastAPI:
    """The app of one uvicorn worker process (`uvicorn.run(..., factory=True)`), from the settings `serve` put in
    the environment."""
    config = json.loads(os.environ[SERVE_ENV])
    app = create_app(Settings(**config["settings"]), WebSettings(**config["web"]))
    prepare_worker()
    return app


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 8000,
    web_settings: WebSettings | None = None,
    *,
    workers: int | None = None,
    log_level: str = "info",
) -> None:
    """Run the web application with uvicorn until interrupted, in `workers` processes (default: the web
    settings' `workers`, 0 there meaning one per CPU core). With several, the clock sweep runs once, in this
    supervising process, not in every worker."""
    import uvicorn

    web = web_settings or WebSettings()
    count = workers or web.workers or default_workers()
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": log_level == "debug",
        "proxy_headers": False,
        "server_header": False,
    }
    if count == 1:
        app = create_app(settings, web)
        prepare_worker()
        uvicorn.run(app, **options)
        return
    store = open_store(settings)
    stop = threading.Event()
    sweeper = None
    if web.sweep_interval_s > 0:
        sweeper = threading.Thread(
            target=_sweep_loop, args=(store, web.sweep_interval_s, stop), name="threadline-sweep", daemon=True
        )
        sweeper.start()
    worker_web = web.model_copy(update={"sweep_interval_s": 0})
    os.environ[SERVE_ENV] = json.dumps(
        {"settings": settings.model_dump(mode="json"), "web": worker_web.model_dump(mode="json")}
    )
    try:
        uvicorn.run("threadline.web.app:worker_app", factory=True, workers=count, **options)
    finally:
        stop.set()
        if sweeper is not None:
            sweeper.join(timeout=30)
        store.dispose()


@dataclass(frozen=True)
class RouteEntry:
    """One method of one path the app serves, and the permission its `Need`/`Public` dependency states
    (None when it states none: the access-matrix test fails on such a route)."""

    method: str
    path: str
    permission: str | None
    name: str


def _permission_of(route: Any) -> str | None:
    dependant = getattr(route, "dependant", None)
    stack = list(dependant.dependencies) if dependant is not None else []
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, Need | Public):
            return dep.call.permission
        stack.extend(dep.dependencies)
    return None


def _walk(routes: Any) -> Any:
    for route in routes:
        if hasattr(route, "effective_candidates"):  # an included router (FastAPI resolves these lazily)
            yield from _walk(route.effective_candidates())
        else:
            yield route


def route_table(app: FastAPI) -> list[RouteEntry]:
    """Every route of the app with its policy decision. The OpenAPI document and static files are public."""
    entries = []
    for route in _walk(app.router.routes):
        original = getattr(route, "original_route", route)
        path = str(getattr(route, "path", None) or getattr(original, "path", ""))
        if isinstance(original, Mount):
            entries.append(RouteEntry("GET", path, "public", original.name or path))
            continue
        permission = _permission_of(original) if isinstance(original, APIRoute) else None
        if path == app.openapi_url:
            permission = "public"
        for method in sorted(getattr(original, "methods", None) or {"GET"}):
            if method == "HEAD":
                continue
            entries.append(RouteEntry(method, path, permission, str(getattr(original, "name", path))))
    return entries
