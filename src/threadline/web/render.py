"""Jinja2 rendering: the template environment, filters, and what every page knows (who, the CSRF token, the menu)."""

from __future__ import annotations

from datetime import datetime, timedelta
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from threadline.model import HANDLING_CODES, OUTCOMES, TIER_LABELS, utcnow
from threadline.web import policy
from threadline.web.deps import PRESESSION_COOKIE, presession_token, web_settings
from threadline.web.policy import Principal

templates = Jinja2Templates(directory=str(resources.files("threadline.web") / "templates"))
env = templates.env
env.autoescape = True
# Templates are compiled once per worker and never checked for changes on disk (a stat per page otherwise).
env.auto_reload = False

# The menu: label, path, the permission that shows it.
MENU = (
    ("Inbox", "/inbox", "inbox.view"),
    ("Operations", "/operations", "operation.list"),
    ("Review", "/review", "review.view"),
    ("Hash sets", "/media", "media.view"),
    ("Audit", "/audit", "audit.view"),
    ("Admin", "/admin", "admin.manage"),
)


def _when(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _ago(value: datetime | None) -> str:
    """'in 3 h' or '2 d ago' relative to now."""
    if value is None:
        return ""
    delta = value - utcnow()
    future = delta >= timedelta(0)
    text = _span(abs(delta))
    return f"in {text}" if future else f"{text} ago"


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 3600:
        return f"{max(1, seconds // 60)} min"
    if seconds < 86400 * 2:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def _label(value: str | None) -> str:
    return (value or "").replace("_", " ")


env.filters["when"] = _when
env.filters["ago"] = _ago
env.filters["span"] = _span
env.filters["label"] = _label
env.filters["tier"] = lambda t: TIER_LABELS.get(t, t)
env.globals["OUTCOMES"] = OUTCOMES
env.globals["HANDLING_CODES"] = HANDLING_CODES
env.globals["urlencode"] = urlencode


def menu_for(p: Principal | None) -> list[tuple[str, str]]:
    if p is None:
        return []
    return [(label, path) for label, path, perm in MENU if policy.role_allowed(perm, p)]


def render(
    request: Request, template: str, principal: Principal | None, status_code: int = 200, **context: Any
) -> Response:
    csrf = principal.csrf_token if principal and principal.csrf_token else presession_token(request)
    response = templates.TemplateResponse(
        request,
        template,
        {"me": principal, "csrf": csrf, "menu": menu_for(principal), "path": request.url.path, **context},
        status_code=status_code,
    )
    new_token = getattr(request.state, "new_presession", None)
    if new_token:
        secure = web_settings(request).secure_cookies or request.url.scheme == "https"
        response.set_cookie(PRESESSION_COOKIE, new_token, httponly=True, samesite="strict", secure=secure, path="/")
    return response


def render_error(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    principal = getattr(request.state, "principal", None)
    try:
        response = render(request, "error.html", principal, status_code=status, status=status, message=message)
    except Exception:  # the error page must never fail
        response = HTMLResponse(f"<p>{status}</p>", status_code=status)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response
