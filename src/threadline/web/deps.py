"""Request plumbing every route shares: a database session per request, who is asking, the CSRF check, and
`Need(permission)`, the dependency through which every route states (and gets) its policy decision."""

from __future__ import annotations

import functools
import hmac
import inspect
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
from fastapi import Depends, HTTPException, Request
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from threadline.core.db import Store
from threadline.model import Lead, Operation, ReviewPair, Subject
from threadline.web import auth, policy
from threadline.web.caches import Expiring
from threadline.web.config import WebSettings
from threadline.web.policy import Principal

SESSION_COOKIE = "threadline_session"
PRESESSION_COOKIE = "threadline_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL

# Which model a permission's object is and which path parameter names it.
OBJECT_KINDS: dict[str, tuple[type[Any], str]] = {
    "lead": (Lead, "lead_id"),
    "subject": (Subject, "subject_id"),
    "operation": (Operation, "operation_id"),
    "review_pair": (ReviewPair, "pair_id"),
}


class Route(APIRoute):
    """The routes of every router here: a synchronous endpoint commits the request's session (found in its
    `Granted`/`Anonymous` argument) in its own thread as soon as it returns, so the connection is back in the
    pool before FastAPI serialises the result on another thread (see `get_db`). An endpoint that raises leaves
    the rollback to `get_db`."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(inspect.unwrap(endpoint)):
            endpoint = _committing(endpoint)
        super().__init__(path, endpoint, **kwargs)


def _committing(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(endpoint)
    def run(*args: Any, **kwargs: Any) -> Any:
        result = endpoint(*args, **kwargs)
        for value in kwargs.values():
            if isinstance(value, Granted | Anonymous) and value.db.in_transaction():
                value.db.commit()
        return result

    return run


class SignInRequired(Exception):
    """No valid session or token: pages send the browser to the sign-in page, the API answers 401."""


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def web_settings(request: Request) -> WebSettings:
    settings: WebSettings = request.app.state.web_settings
    return settings


def _finish(session: Session, *, failed: bool) -> None:
    try:
        if failed:
            session.rollback()
        else:
            session.commit()
    finally:
        session.close()


# Threads for the last commit (or rollback) of requests, apart from the shared pool that runs routes.
COMMIT_THREADS = 8


def _commit_limiter(request: Request) -> anyio.CapacityLimiter:
    limiter: anyio.CapacityLimiter | None = getattr(request.app.state, "commit_limiter", None)
    if limiter is None:  # made on the event loop's thread, so never twice
        limiter = request.app.state.commit_limiter = anyio.CapacityLimiter(COMMIT_THREADS)
    return limiter


async def get_db(request: Request) -> AsyncIterator[Session]:
    """One unit of work per request, committed before the response is sent (so a redirect never races it).

    A request holds a pooled connection only inside a thread, or while it waits for its final commit, which runs
    on threads of its own (`COMMIT_THREADS`): were the commit to queue behind route threads that wait for a
    connection, a burst of requests could hold every connection and every thread and wait on each other.
    `Need` releases the connection once it has decided (see `Need.grant`). Making a session does no I/O, so it
    happens on the event loop; the final commit is skipped when the route already committed."""
    session = store_of(request).sessions()
    try:
        yield session
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(lambda: _finish(session, failed=True), limiter=_commit_limiter(request))
        raise
    if session.in_transaction():
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(lambda: _finish(session, failed=False), limiter=_commit_limiter(request))
    else:
        session.close()


DbSession = Depends(get_db, scope="function")


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def agency_scope(request: Request, db: Session, agency_id: int) -> frozenset[int]:
    """The agency's subtree, from this worker's cache (`THREADLINE_WEB_SCOPE_CACHE_S`) or one query."""
    cache: Expiring[frozenset[int]] = request.app.state.scopes
    scope = cache.get(agency_id)
    if scope is None:
        scope = policy.agency_scope(db, agency_id)
        cache.put(agency_id, scope)
    return scope


def current_principal(request: Request, db: Session) -> Principal | None:
    """The user behind a bearer token (machine clients) or the session cookie (browsers), or None. One query
    (session, user and agency together) when the agency's subtree is cached."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        user = auth.token_user(db, header[7:].strip())
        if user is None:
            raise HTTPException(401, "invalid, expired or revoked API token", headers={"WWW-Authenticate": "Bearer"})
        scope = agency_scope(request, db, user.agency_id)
        request.state.principal = policy.principal_for(db, user, via="token", scope=scope)
        return request.state.principal  # type: ignore[no-any-return]
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    row = auth.load_session(db, token, web_settings(request))
    if row is None:
        return None
    scope = agency_scope(request, db, row.user.agency_id)
    principal = policy.principal_for(db, row.user, csrf_token=row.csrf_token, session_id=row.id, scope=scope)
    request.state.web_session = row
    request.state.principal = principal
    return principal


async def submitted_csrf(request: Request) -> str | None:
    """The CSRF token sent with a state-changing request: the X-CSRF-Token header (HTMX, scripts) or the
    csrf_token field of a form."""
    if request.method in SAFE_METHODS:
        return None
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def _same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


@dataclass
class Granted:
    """What a route receives once its permission is granted: who, the database session, and the object."""

    principal: Principal
    db: Session
    obj: Any = None


@dataclass
class Anonymous:
    """What a public route receives."""

    principal: Principal | None
    db: Session


class Need:
    """`Depends(Need("lead.view"))`: sign-in, CSRF and the policy decision for one route, in one place.

    For a permission about one object it loads the object from the path parameter and answers 404 when the user
    may not see it (or it does not exist), so routes never load guarded objects themselves. The access-matrix test
    reads `permission` from every route's dependencies; a route without one fails it."""

    def __init__(self, permission: str) -> None:
        if permission not in policy.PERMISSIONS:
            raise ValueError(f"unknown permission {permission!r}")
        self.permission = permission

    async def __call__(
        self, request: Request, db: Session = DbSession, csrf: str | None = Depends(submitted_csrf)
    ) -> Granted:
        # One trip to the thread pool for who is asking and the decision (database work blocks).
        return await run_in_threadpool(self.grant, request, db, csrf)

    def grant(self, request: Request, db: Session, csrf: str | None) -> Granted:
        principal = current_principal(request, db)
        perm = policy.PERMISSIONS[self.permission]
        if principal is None:
            raise SignInRequired()
        if request.method not in SAFE_METHODS and principal.via == "session" and not _same(csrf, principal.csrf_token):
            raise HTTPException(403, "the form has expired or did not come from this site: reload the page and retry")
        if not perm.allows_role(principal):
            raise HTTPException(403, f"your role does not allow this ({perm.description})")
        obj = None
        if perm.kind is not None:
            model, param = OBJECT_KINDS[perm.kind]
            raw = request.path_params.get(param)
            try:
                key = int(raw) if raw is not None else None
            except ValueError:
                key = None
            if key is not None and not 1 <= key <= MAX_ID:
                key = None
            obj = db.get(model, key) if key is not None else None
            if obj is None or not policy.allowed(db, principal, self.permission, obj):
                raise HTTPException(404, f"no such {perm.kind.replace('_', ' ')}, or it is not yours to see")
        # Give the connection back before the route waits for a thread (see `get_db`). A route that changes the
        # object reads it afresh in its own transaction (and the lead actions check the policy again there).
        db.commit()
        if obj is not None and request.method not in SAFE_METHODS:
            db.expire(obj)
        return Granted(principal, db, obj)


class Public:
    """`Depends(Public())`: a route anyone may call. Forms on it are protected by a pre-session CSRF cookie."""

    permission = "public"

    async def __call__(
        self, request: Request, db: Session = DbSession, csrf: str | None = Depends(submitted_csrf)
    ) -> Anonymous:
        return await run_in_threadpool(self.grant, request, db, csrf)

    def grant(self, request: Request, db: Session, csrf: str | None) -> Anonymous:
        principal = current_principal(request, db)
        if request.method not in SAFE_METHODS:
            expected = principal.csrf_token if principal else request.cookies.get(PRESESSION_COOKIE)
            if not _same(csrf, expected):
                raise HTTPException(403, "the form has expired: reload the page and retry")
        db.commit()  # the connection goes back to the pool before the route waits for a thread (see `get_db`)
        return Anonymous(principal, db)


def presession_token(request: Request) -> str:
    """The double-submit token for forms shown before sign-in (kept in a cookie set by the page)."""
    existing = request.cookies.get(PRESESSION_COOKIE)
    if existing and len(existing) >= 20:
        return existing
    token: str = getattr(request.state, "new_presession", None) or secrets.token_urlsafe(24)
    request.state.new_presession = token
    return token
