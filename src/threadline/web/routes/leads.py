"""The inbox and the lead page with its actions (each confirmed on its own page, then done through track)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from threadline.core.errors import ConflictError, InputError, ThreadlineError
from threadline.model import LEAD_STATUSES, TIERS, Lead
from threadline.web import leadview, policy
from threadline.web.deps import Granted, Need, Route, web_settings
from threadline.web.inbox import BOXES, CLOCKS, SORTS, InboxQuery, inbox
from threadline.web.render import render

router = APIRouter(include_in_schema=False, route_class=Route)


@router.get("/inbox")
def inbox_page(request: Request, ctx: Annotated[Granted, Depends(Need("inbox.view"))]) -> Response:
    p = ctx.principal
    boxes = [b for b in BOXES if b == "received" or p.has(policy.ORIGINATOR_ROLES)]
    default_box = "received"
    params: dict[str, Any] = dict(request.query_params)
    query = InboxQuery.parse(params, default_box=default_box)
    settings = web_settings(request)
    page = inbox(ctx.db, p, query, page_size=settings.page_size, counts=request.app.state.counts)
    template = (
        "inbox_rows.html"
        if request.headers.get("hx-request") and request.headers.get("hx-target") == ("inbox-results")
        else "inbox.html"
    )
    return render(
        request,
        template,
        p,
        page=page,
        boxes=boxes,
        tiers=TIERS,
        statuses=LEAD_STATUSES,
        clocks=CLOCKS,
        sorts=SORTS,
    )


@router.get("/leads/{lead_id}")
def lead_page(
    request: Request, lead_id: int, ctx: Annotated[Granted, Depends(Need("lead.view"))], done: str | None = None
) -> Response:
    lead: Lead = ctx.obj
    view = leadview.lead_view(ctx.db, ctx.principal, lead, record=False)
    actions = leadview.offered_actions(ctx.db, ctx.principal, lead)
    response = render(
        request,
        "lead.html",
        ctx.principal,
        lead=view,
        actions=actions,
        specs=leadview.ACTIONS,
        done=leadview.ACTIONS[done]["label"] if done in leadview.ACTIONS else None,
    )
    # The audit event last and committed at once: the chain's head row stays locked only for the write itself,
    # and the page is sent only once its view is on record.
    leadview.record_view(ctx.db, ctx.principal, lead, view)
    ctx.db.commit()
    return response


def _confirm_route(action: str, permission: str) -> None:
    # A default value, not an annotation: annotations are strings here and cannot see `permission`.
    need = Depends(Need(permission))

    def confirm(request: Request, lead_id: int, ctx: Granted = need) -> Response:
        lead: Lead = ctx.obj
        below = leadview.agencies_below(ctx.db, lead.agency_id) if action == "assign" else []
        return render(
            request,
            "lead_action.html",
            ctx.principal,
            lead=lead,
            action=action,
            spec=leadview.ACTIONS[action],
            agencies=below,
            error=None,
            form={},
        )

    async def perform(request: Request, lead_id: int, ctx: Granted = need) -> Response:
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        return await _perform(request, ctx, action, form)

    confirm.__name__ = f"confirm_{action}"
    perform.__name__ = f"do_{action}"
    router.add_api_route(f"/leads/{{lead_id}}/{action}", confirm, methods=["GET"], name=f"lead_{action}_form")
    router.add_api_route(f"/leads/{{lead_id}}/{action}", perform, methods=["POST"], name=f"lead_{action}")


async def _perform(request: Request, ctx: Granted, action: str, form: dict[str, str]) -> Response:
    lead: Lead = ctx.obj

    def work() -> Lead:
        if form.get("confirm") != "yes":
            raise InputError("tick the confirmation box to go ahead")
        return leadview.perform(ctx.db, ctx.principal, lead, action, form)

    try:
        shown = await run_in_threadpool(work)
    except ThreadlineError as exc:
        ctx.db.rollback()
        status = 409 if isinstance(exc, ConflictError) else 400
        message = exc.one_line()

        def page() -> Response:
            below = leadview.agencies_below(ctx.db, lead.agency_id) if action == "assign" else []
            return render(
                request,
                "lead_action.html",
                ctx.principal,
                status_code=status,
                lead=lead,
                action=action,
                spec=leadview.ACTIONS[action],
                agencies=below,
                error=message,
                form=form,
            )

        return await run_in_threadpool(page)
    return RedirectResponse(f"/leads/{shown.id}?done={action}", 303)


for _name, _spec in leadview.ACTIONS.items():
    _confirm_route(_name, _spec["permission"])
