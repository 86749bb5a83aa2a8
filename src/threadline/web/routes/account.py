"""Signing in and out, the home page, and a user's own account: password change and two-step sign-in (TOTP)."""

from __future__ import annotations

from typing import Annotated

import segno
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from threadline.core.errors import InputError
from threadline.model import User, WebSession
from threadline.web import auth
from threadline.web.deps import SESSION_COOKIE, Anonymous, Granted, Need, Public, Route, client_ip, web_settings
from threadline.web.render import menu_for, render

router = APIRouter(route_class=Route)


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no host, no '//'), so the sign-in page cannot send anyone away."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/healthz", include_in_schema=False)
def healthz(ctx: Annotated[Anonymous, Depends(Public())]) -> dict[str, str]:
    return {"status": "ok"}


@router.get("/", include_in_schema=False)
def home(request: Request, ctx: Annotated[Granted, Depends(Need("signed_in"))]) -> Response:
    menu = menu_for(ctx.principal)
    if menu:
        return RedirectResponse(menu[0][1], 303)
    return RedirectResponse("/account", 303)


@router.get("/signin", include_in_schema=False)
def signin_page(request: Request, ctx: Annotated[Anonymous, Depends(Public())], next: str | None = None) -> Response:
    if ctx.principal is not None:
        return RedirectResponse(_safe_next(next), 303)
    return render(request, "signin.html", None, next=_safe_next(next), error=None)


@router.post("/signin", include_in_schema=False)
def signin(
    request: Request,
    ctx: Annotated[Anonymous, Depends(Public())],
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1000)],
    code: Annotated[str | None, Form(max_length=20)] = None,
    next: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    settings = web_settings(request)
    result = auth.sign_in(ctx.db, username, password, code, settings, ip=client_ip(request))
    if result.user is None:
        ctx.db.commit()  # the failed attempt must count even though the page answers with an error
        status = 429 if result.result in ("locked", "rate_limited") else 401
        response = render(
            request,
            "signin.html",
            None,
            status_code=status,
            next=_safe_next(next),
            error=result.message,
            username=username[:100],
        )
        if result.retry_after_s:
            response.headers["Retry-After"] = str(result.retry_after_s)
        return response
    token, _ = auth.new_session(
        ctx.db, result.user, settings, ip=client_ip(request), user_agent=request.headers.get("user-agent")
    )
    response = RedirectResponse(_safe_next(next), 303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=settings.secure_cookies or request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/signout", include_in_schema=False)
def signout(request: Request, ctx: Annotated[Granted, Depends(Need("signed_in"))]) -> Response:
    row: WebSession | None = getattr(request.state, "web_session", None)
    if row is not None:
        auth.revoke_session(ctx.db, row)
    response = RedirectResponse("/signin", 303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/account", include_in_schema=False)
def account(request: Request, ctx: Annotated[Granted, Depends(Need("signed_in"))], done: str | None = None) -> Response:
    return render(
        request, "account.html", ctx.principal, done=done if done in ("password", "totp", "totp_off") else None
    )


@router.post("/account/password", include_in_schema=False)
def change_password(
    request: Request,
    ctx: Annotated[Granted, Depends(Need("signed_in"))],
    current: Annotated[str, Form(max_length=1000)],
    new: Annotated[str, Form(max_length=1000)],
    repeat: Annotated[str, Form(max_length=1000)],
) -> Response:
    if ctx.principal.via != "session":
        raise InputError("passwords are changed in the browser, not with an API token")
    user = ctx.db.get(User, ctx.principal.user_id)
    assert user is not None
    try:
        auth.change_password(ctx.db, user, current, new, repeat, keep_session=ctx.principal.session_id)
    except InputError as exc:
        ctx.db.rollback()
        return render(request, "account.html", ctx.principal, status_code=400, password_error=exc.message)
    return RedirectResponse("/account?done=password", 303)


@router.get("/account/totp", include_in_schema=False)
def totp_setup(request: Request, ctx: Annotated[Granted, Depends(Need("signed_in"))]) -> Response:
    row: WebSession | None = getattr(request.state, "web_session", None)
    if row is None:
        raise InputError("two-step sign-in is set up in the browser")
    row.totp_pending = auth.new_totp_secret()
    return render(request, "totp.html", ctx.principal, secret=row.totp_pending, error=None)


@router.get("/account/totp/qr.svg", include_in_schema=False)
def totp_qr(request: Request, ctx: Annotated[Granted, Depends(Need("signed_in"))]) -> Response:
    row: WebSession | None = getattr(request.state, "web_session", None)
    if row is None or not row.totp_pending:
        return Response(status_code=404)
    uri = auth.provisioning_uri(row.totp_pending, ctx.principal.username)
    svg = segno.make(uri, error="m").svg_inline(scale=4, dark="#000", light="#fff")
    return Response(svg, media_type="image/svg+xml")


@router.post("/account/totp", include_in_schema=False)
def totp_confirm(
    request: Request, ctx: Annotated[Granted, Depends(Need("signed_in"))], code: Annotated[str, Form(max_length=20)]
) -> Response:
    row: WebSession | None = getattr(request.state, "web_session", None)
    user = ctx.db.get(User, ctx.principal.user_id)
    if row is None or user is None or not row.totp_pending:
        return RedirectResponse("/account/totp", 303)
    if not auth.verify_code(row.totp_pending, code):
        return render(
            request,
            "totp.html",
            ctx.principal,
            status_code=400,
            secret=row.totp_pending,
            error="That code does not match: check the clock of your device and enter the current code.",
        )
    user.totp_secret = row.totp_pending
    row.totp_pending = None
    from threadline.core import audit

    audit.record(
        ctx.db,
        actor=ctx.principal.actor,
        action="user.totp_on",
        object_type="user",
        object_id=user.username,
        agency_id=user.agency_id,
    )
    return RedirectResponse("/account?done=totp", 303)


@router.post("/account/totp/off", include_in_schema=False)
def totp_off(
    request: Request, ctx: Annotated[Granted, Depends(Need("signed_in"))], code: Annotated[str, Form(max_length=20)]
) -> Response:
    user = ctx.db.get(User, ctx.principal.user_id)
    if user is None or not user.totp_secret:
        return RedirectResponse("/account", 303)
    if not auth.verify_code(user.totp_secret, code):
        return render(
            request,
            "account.html",
            ctx.principal,
            status_code=400,
            totp_error="That code does not match: two-step sign-in stays on.",
        )
    user.totp_secret = None
    from threadline.core import audit

    audit.record(
        ctx.db,
        actor=ctx.principal.actor,
        action="user.totp_off",
        object_type="user",
        object_id=user.username,
        agency_id=user.agency_id,
    )
    return RedirectResponse("/account?done=totp_off", 303)
