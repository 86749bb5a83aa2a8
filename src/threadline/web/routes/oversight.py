"""Pages that look across many leads: operations and their dashboards, hash sets and triage, the audit trail."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import func, literal_column, select

from threadline.core import audit
from threadline.model import AuditEvent, HashSet, Lead, MediaItem, MediaVerdict, Operation, Seizure
from threadline.web import charts, policy, worldmap
from threadline.web.dashboard import operation_dashboard
from threadline.web.deps import Granted, Need, Route
from threadline.web.render import render

router = APIRouter(include_in_schema=False, route_class=Route)

METRICS = {"leads": "leads", "arrests": "arrests", "children_safeguarded": "children safeguarded"}


@router.get("/operations")
def operations_page(request: Request, ctx: Annotated[Granted, Depends(Need("operation.list"))]) -> Response:
    rows = ctx.db.execute(
        select(Operation.id, Operation.name, Operation.created_at, func.count(Lead.id))
        .outerjoin(Lead, Lead.operation_id == Operation.id)
        .where(policy.operations_clause(ctx.principal))
        .group_by(Operation.id, Operation.name, Operation.created_at)
        .order_by(Operation.created_at.desc())
    ).all()
    return render(request, "operations.html", ctx.principal, operations=rows)


@router.get("/operations/{operation_id}")
def operation_page(
    request: Request,
    operation_id: int,
    ctx: Annotated[Granted, Depends(Need("operation.view"))],
    metric: str = "leads",
) -> Response:
    operation: Operation = ctx.obj
    metric = metric if metric in METRICS else "leads"
    data = operation_dashboard(ctx.db, operation)
    values = {c["country"]: c[metric] for c in data["countries"]}
    world = worldmap.choropleth(values, label=METRICS[metric], link="/inbox?box=sent&country={country}")
    burn = charts.line_chart(data["burn_down"]["days"], data["burn_down"]["series"], title="Clock burn-down")
    outcomes = charts.line_chart(data["outcomes"]["days"], data["outcomes"]["series"], title="Outcomes over time")
    return render(
        request,
        "operation.html",
        ctx.principal,
        data=data,
        world=world,
        burn=burn,
        outcomes=outcomes,
        metric=metric,
        metrics=METRICS,
    )


@router.get("/media")
def media_page(request: Request, ctx: Annotated[Granted, Depends(Need("media.view"))]) -> Response:
    sets = list(ctx.db.scalars(select(HashSet).order_by(HashSet.name, HashSet.version.desc())))
    verdict = func.coalesce(MediaVerdict.verdict, literal_column("'not triaged'"))
    rows = ctx.db.execute(
        select(Seizure.id, Seizure.label, Operation.name, verdict, func.count(MediaItem.id))
        .join(Operation, Operation.id == Seizure.operation_id)
        .join(MediaItem, MediaItem.seizure_id == Seizure.id)
        .outerjoin(MediaVerdict, MediaVerdict.media_item_id == MediaItem.id)
        .where(policy.seizures_clause(ctx.principal))
        .group_by(Seizure.id, Seizure.label, Operation.name, verdict)
        .order_by(Seizure.id)
    ).all()
    triage: dict[int, dict[str, object]] = {}
    for seizure_id, label, operation, name, count in rows:
        entry = triage.setdefault(seizure_id, {"label": label, "operation": operation, "verdicts": {}, "total": 0})
        entry["verdicts"][name] = count  # type: ignore[index]
        entry["total"] = int(entry["total"]) + count  # type: ignore[call-overload]
    return render(request, "media.html", ctx.principal, sets=sets, triage=triage)


@router.get("/audit")
def audit_page(
    request: Request,
    ctx: Annotated[Granted, Depends(Need("audit.view"))],
    action: str | None = None,
    actor: str | None = None,
    before: int | None = None,
) -> Response:
    query = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(101)
    if action:
        query = query.where(AuditEvent.action == action[:100])
    if actor:
        query = query.where(AuditEvent.actor == actor[:200])
    if before:
        query = query.where(AuditEvent.seq < before)
    events = list(ctx.db.scalars(query))
    actions = list(ctx.db.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))
    return render(
        request,
        "audit.html",
        ctx.principal,
        events=events[:100],
        more=len(events) > 100,
        action=action,
        actor=actor,
        actions=actions,
    )


@router.get("/audit/verify")
def audit_verify(request: Request, ctx: Annotated[Granted, Depends(Need("audit.view"))]) -> Response:
    report = audit.verify(ctx.db)
    audit.record(
        ctx.db,
        actor=ctx.principal.actor,
        action="audit.verify",
        agency_id=ctx.principal.agency_id,
        details={"ok": report.ok, "events": report.events},
    )
    return render(request, "audit_verify.html", ctx.principal, report=report)
