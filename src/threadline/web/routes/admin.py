"""Administration: agencies (one row or a file, through the same validated import as the CLI), users, agency
keys (refer's key functions) and API tokens. Admins manage; they see no lead or person from here."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import yaml
from fastapi import APIRouter, Depends, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, or_, select

from threadline.core import audit
from threadline.core.errors import InputError, NotFoundError, ThreadlineError
from threadline.directory import add_user, disable_user, find_agency, import_agencies
from threadline.model import AGENCY_KINDS, ROLES, Agency, ApiToken, User
from threadline.refer import keys as agency_keys
from threadline.web import auth
from threadline.web.deps import Granted, Need, Route, store_of
from threadline.web.render import render

router = APIRouter(include_in_schema=False, route_class=Route)
ADMIN = Need("admin.manage")
MAX_UPLOAD = 5 * 1024 * 1024


@router.get("/admin")
def admin_page(request: Request, ctx: Annotated[Granted, Depends(ADMIN)], done: str | None = None) -> Response:
    counts = {
        "agencies": ctx.db.scalar(select(func.count()).select_from(Agency)) or 0,
        "users": ctx.db.scalar(select(func.count()).select_from(User)) or 0,
        "tokens": ctx.db.scalar(select(func.count()).select_from(ApiToken).where(ApiToken.revoked_at.is_(None))) or 0,
    }
    return render(request, "admin.html", ctx.principal, counts=counts, done=done)


@router.get("/admin/agencies")
def agencies_page(
    request: Request,
    ctx: Annotated[Granted, Depends(ADMIN)],
    country: str | None = None,
    q: str | None = None,
    error: str | None = None,
) -> Response:
    query = select(Agency).order_by(Agency.country, Agency.kind, Agency.name).limit(300)
    if country:
        query = query.where(Agency.country == country.upper()[:2])
    if q:
        like = f"%{q[:100]}%"
        query = query.where(or_(Agency.name.ilike(like), Agency.code.ilike(like)))
    agencies = list(ctx.db.scalars(query))
    return render(
        request,
        "admin_agencies.html",
        ctx.principal,
        agencies=agencies,
        kinds=AGENCY_KINDS,
        country=country,
        q=q,
        error=None,
    )


def _import_text(request: Request, ctx: Granted, text: str, suffix: str) -> Response:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"agencies{suffix}"
        path.write_text(text, encoding="utf-8")
        try:
            report = import_agencies(ctx.db, path, actor=ctx.principal.actor)
        except ThreadlineError as exc:
            ctx.db.rollback()
            agencies = list(ctx.db.scalars(select(Agency).order_by(Agency.country, Agency.name).limit(300)))
            return render(
                request,
                "admin_agencies.html",
                ctx.principal,
                status_code=400,
                agencies=agencies,
                kinds=AGENCY_KINDS,
                country=None,
                q=None,
                error=exc.message,
            )
    # An agency added or moved changes who sees what: commit, then forget this worker's subtrees at once.
    ctx.db.commit()
    request.app.state.scopes.clear()
    done = f"agencies: {len(report.created)} added, {len(report.updated)} updated"
    return RedirectResponse(f"/admin?done={done}", 303)


@router.post("/admin/agencies")
def add_agency(
    request: Request,
    ctx: Annotated[Granted, Depends(ADMIN)],
    name: Annotated[str, Form(max_length=300)],
    country: Annotated[str, Form(max_length=60)],
    kind: Annotated[str, Form(max_length=20)] = "regional",
    parent: Annotated[str | None, Form(max_length=300)] = None,
    region: Annotated[str | None, Form(max_length=10)] = None,
    code: Annotated[str | None, Form(max_length=64)] = None,
    contact: Annotated[str | None, Form(max_length=300)] = None,
) -> Response:
    row = {
        "name": name,
        "country": country,
        "kind": kind,
        "parent": parent,
        "region": region,
        "code": code,
        "contact": contact,
    }
    text = yaml.safe_dump({"agencies": [{k: v for k, v in row.items() if v}]}, allow_unicode=True)
    return _import_text(request, ctx, text, ".yaml")


@router.post("/admin/agencies/import")
async def import_agency_file(request: Request, ctx: Annotated[Granted, Depends(ADMIN)], file: UploadFile) -> Response:
    from starlette.concurrency import run_in_threadpool

    data = await file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise InputError("the agency file is over 5 MB: split it")
    suffix = Path(file.filename or "agencies.csv").suffix.lower()
    if suffix not in (".csv", ".yaml", ".yml"):
        raise InputError(f"{file.filename}: give a .csv, .yaml or .yml agency file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{file.filename}: save the file as UTF-8") from None
    return await run_in_threadpool(_import_text, request, ctx, text, suffix)


@router.get("/admin/users")
def users_page(request: Request, ctx: Annotated[Granted, Depends(ADMIN)], agency: str | None = None) -> Response:
    query = select(User).order_by(User.username).limit(500)
    if agency:
        query = query.where(User.agency_id == find_agency(ctx.db, agency).id)
    users = list(ctx.db.scalars(query))
    return render(request, "admin_users.html", ctx.principal, users=users, roles=ROLES, agency=agency, error=None)


@router.post("/admin/users")
def create_user(
    request: Request,
    ctx: Annotated[Granted, Depends(ADMIN)],
    username: Annotated[str, Form(max_length=100)],
    agency: Annotated[str, Form(max_length=300)],
    password: Annotated[str, Form(max_length=1000)],
    roles: Annotated[list[str], Form()],
    display_name: Annotated[str | None, Form(max_length=200)] = None,
) -> Response:
    try:
        add_user(
            ctx.db,
            username=username,
            agency=agency,
            roles=roles,
            password=password,
            display_name=display_name or None,
            actor=ctx.principal.actor,
        )
    except ThreadlineError as exc:
        ctx.db.rollback()
        users = list(ctx.db.scalars(select(User).order_by(User.username).limit(500)))
        return render(
            request,
            "admin_users.html",
            ctx.principal,
            status_code=400,
            users=users,
            roles=ROLES,
            agency=None,
            error=exc.message,
        )
    return RedirectResponse(f"/admin?done=user {username.strip().lower()} added", 303)


def _user(ctx: Granted, user_id: int) -> User:
    user = ctx.db.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user {user_id}")
    return user


@router.post("/admin/users/{user_id}/disable")
def disable(request: Request, user_id: int, ctx: Annotated[Granted, Depends(ADMIN)]) -> Response:
    user = _user(ctx, user_id)
    if user.id == ctx.principal.user_id:
        raise InputError("you cannot disable yourself: ask another admin")
    disable_user(ctx.db, user.username, actor=ctx.principal.actor)
    auth.revoke_user_sessions(ctx.db, user.id)
    return RedirectResponse(f"/admin?done=user {user.username} disabled", 303)


@router.post("/admin/users/{user_id}/reset-totp")
def reset_totp(request: Request, user_id: int, ctx: Annotated[Granted, Depends(ADMIN)]) -> Response:
    user = _user(ctx, user_id)
    user.totp_secret = None
    audit.record(
        ctx.db,
        actor=ctx.principal.actor,
        action="user.totp_reset",
        object_type="user",
        object_id=user.username,
        agency_id=user.agency_id,
    )
    return RedirectResponse(f"/admin?done=two-step sign-in reset for {user.username}", 303)


@router.get("/admin/keys")
def keys_page(request: Request, ctx: Annotated[Granted, Depends(ADMIN)]) -> Response:
    keys = agency_keys.list_keys(ctx.db)
    return render(request, "admin_keys.html", ctx.principal, keys=keys, error=None)


@router.post("/admin/keys")
def generate(
    request: Request,
    ctx: Annotated[Granted, Depends(ADMIN)],
    agency: Annotated[str, Form(max_length=300)],
    rotate: Annotated[str | None, Form(max_length=5)] = None,
) -> Response:
    target = find_agency(ctx.db, agency)
    agency_keys.generate_keys(
        store_of(request).settings, ctx.db, target, actor=ctx.principal.actor, rotate=rotate == "yes"
    )
    return RedirectResponse(f"/admin?done=keys made for {target.code}", 303)


@router.get("/admin/tokens")
def tokens_page(request: Request, ctx: Annotated[Granted, Depends(ADMIN)]) -> Response:
    tokens = ctx.db.execute(
        select(ApiToken, User.username).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id.desc()).limit(500)
    ).all()
    return render(request, "admin_tokens.html", ctx.principal, tokens=tokens, minted=None)


@router.post("/admin/tokens")
def mint(
    request: Request,
    ctx: Annotated[Granted, Depends(ADMIN)],
    username: Annotated[str, Form(max_length=100)],
    name: Annotated[str, Form(max_length=100)],
    days: Annotated[int | None, Form(ge=1, le=3650)] = None,
) -> Response:
    token, row = auth.mint_token(ctx.db, username, name, actor=ctx.principal.actor, days=days)
    tokens = ctx.db.execute(
        select(ApiToken, User.username).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id.desc()).limit(500)
    ).all()
    # The token is shown once, on this response only.
    return render(request, "admin_tokens.html", ctx.principal, tokens=tokens, minted={"token": token, "row": row})


@router.post("/admin/tokens/{token_id}/revoke")
def revoke(request: Request, token_id: int, ctx: Annotated[Granted, Depends(ADMIN)]) -> Response:
    row = auth.revoke_token(ctx.db, token_id, actor=ctx.principal.actor)
    return RedirectResponse(f"/admin?done=token {row.prefix}… revoked", 303)
