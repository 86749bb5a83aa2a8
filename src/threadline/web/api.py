"""The JSON API under /api/v1: the same data and the same policy as the pages, for machine clients with a bearer
token (`threadline users token NAME`) or a signed-in browser (which must then send X-CSRF-Token on writes)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy import select

from threadline.core import audit
from threadline.model import Agency, AuditEvent, Lead, Operation, ReviewPair, Subject
from threadline.resolve import review as resolve_review
from threadline.web import leadview, policy
from threadline.web.dashboard import operation_dashboard
from threadline.web.deps import Granted, Need, Route, web_settings
from threadline.web.inbox import BOXES, CLOCKS, SORTS, InboxQuery, inbox

PREFIX = "/api/v1"
OPENAPI_URL = f"{PREFIX}/openapi.json"


class Problem(BaseModel):
    detail: str | list[dict[str, Any]]


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "Bad input (the message says what to change)"},
    401: {"model": Problem, "description": "No valid API token or session"},
    403: {"model": Problem, "description": "Role does not allow this, or a missing CSRF token"},
    404: {"model": Problem, "description": "No such object, or not yours to see"},
    409: {"model": Problem, "description": "The lead's state does not allow this"},
    422: {"model": Problem, "description": "The request does not match the schema"},
}

router = APIRouter(prefix=PREFIX, tags=["v1"], responses=ERRORS, route_class=Route)


def _no_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("text may not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
OptionalText = Annotated[str | None, AfterValidator(_no_nul)]


# ------------------------------------------------------------------------------------------------- models


class Me(BaseModel):
    username: str
    display_name: str | None
    agency: str
    roles: list[str]
    via: str


class LeadRow(BaseModel):
    id: int
    uid: str
    tier: str
    score: float
    country: str | None
    region: str | None
    status: str
    due_at: datetime | None
    clock: str
    hop: int
    escalation_level: int
    updated_at: datetime
    agency: str
    operation: str
    direction: str


class LeadList(BaseModel):
    items: list[LeadRow]
    page: int
    has_next: bool
    counts: dict[str, Any]


class LeadDetail(BaseModel):
    id: int
    uid: str
    direction: str
    tier: str
    score: float
    status: str
    country: str | None
    region: str | None
    hop: int
    agency: dict[str, Any] | None
    operation: dict[str, Any] | None
    originating_agency: str | None
    handling_code: str
    handling_note: str | None
    due_at: datetime | None
    clock: str
    escalation_level: int
    outcome: str | None
    arrests: int
    charges: int
    children_safeguarded: int
    parent: dict[str, Any] | None
    hops: list[dict[str, Any]]
    personal: bool = Field(description="Whether the person's data is included (it is audited when it is)")
    person: dict[str, Any] | None
    events: list[dict[str, Any]]
    actions: list[str] = Field(description="What this user may do to the lead now")


class LeadState(BaseModel):
    id: int
    uid: str
    status: str
    agency: str


class Notes(BaseModel):
    notes: OptionalText = Field(default=None, max_length=4000)


class ActionBody(Notes):
    action: Text = Field(min_length=1, max_length=200, description="What was done, e.g. 'search executed'")


class OutcomeBody(Notes):
    outcome: Literal["arrested", "charged", "no_offence", "insufficient_evidence", "unable_to_locate", "transferred"]
    arrests: int = Field(default=0, ge=0, le=100_000)
    charges: int = Field(default=0, ge=0, le=100_000)
    children_safeguarded: int = Field(default=0, ge=0, le=100_000)


class AssignBody(Notes):
    agency: Text = Field(min_length=1, max_length=64, description="Code of an agency below the lead's agency")


class NoteBody(BaseModel):
    text: Text = Field(min_length=1, max_length=4000)


class SubjectDetail(BaseModel):
    subject_id: int
    status: str
    merged_into: int | None
    insufficient: bool
    attributes: dict[str, Any]
    identifiers: dict[str, Any]
    members: list[dict[str, Any]]


class OperationRow(BaseModel):
    id: int
    name: str
    description: str | None
    created_at: datetime


class Dashboard(BaseModel):
    operation: dict[str, Any]
    totals: dict[str, int]
    countries: list[dict[str, Any]]
    overdue: list[dict[str, Any]]
    burn_down: dict[str, Any]
    outcomes: dict[str, Any]


class ReviewPairOut(BaseModel):
    id: int
    match_probability: float
    match_weight: float
    record_a: dict[str, Any]
    record_b: dict[str, Any]


class Decision(BaseModel):
    decision: Literal["same", "not_same", "skip"]
    note: OptionalText = Field(default=None, max_length=2000)


class AuditEventOut(BaseModel):
    seq: int
    at: datetime
    actor: str
    agency_id: int | None
    action: str
    object_type: str | None
    object_id: str | None
    details: dict[str, Any]
    hash: str


class ChainOut(BaseModel):
    ok: bool
    events: int
    head_hash: str
    broken_seq: int | None
    problem: str | None


class AgencyOut(BaseModel):
    code: str
    name: str
    kind: str
    country: str
    region: str | None
    parent: str | None


# ------------------------------------------------------------------------------------------------- routes


@router.get("/me", response_model=Me)
def me(ctx: Annotated[Granted, Depends(Need("signed_in"))]) -> Me:
    p = ctx.principal
    return Me(username=p.username, display_name=p.display_name, agency=p.agency_code, roles=sorted(p.roles), via=p.via)


@router.get("/leads", response_model=LeadList)
def list_leads(
    request: Request,
    ctx: Annotated[Granted, Depends(Need("inbox.view"))],
    box: Annotated[Literal["received", "sent"], Query()] = "received",
    tier: Annotated[Literal["very_high", "high", "medium", "low"] | None, Query()] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    clock: Annotated[Literal["overdue", "due_soon", "running", "stopped"] | None, Query()] = None,
    country: Annotated[str | None, Query(min_length=2, max_length=2)] = None,
    q: Annotated[OptionalText, Query(max_length=100)] = None,
    sort: Annotated[Literal["priority", "due", "updated"], Query()] = "priority",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> LeadList:
    assert box in BOXES and (clock is None or clock in CLOCKS) and sort in SORTS
    query = InboxQuery.parse(
        {
            "box": box,
            "tier": tier,
            "status": status,
            "clock": clock,
            "country": country,
            "q": q,
            "sort": sort,
            "page": page,
        }
    )
    settings = web_settings(request)
    result = inbox(ctx.db, ctx.principal, query, page_size=settings.page_size, counts=request.app.state.counts)
    return LeadList(
        items=[LeadRow(**r) for r in result.rows], page=query.page, has_next=result.has_next, counts=result.counts
    )


def _detail(ctx: Granted, lead: Lead) -> LeadDetail:
    view = leadview.lead_view(ctx.db, ctx.principal, lead, record=False)
    shown = {k: v for k, v in view.items() if k not in ("ref", "tier_label", "ack_due_at", "action_due_at")}
    detail = LeadDetail(**shown, actions=leadview.offered_actions(ctx.db, ctx.principal, lead))
    # As on the page: the audit event last, committed at once, before anything is sent.
    leadview.record_view(ctx.db, ctx.principal, lead, view)
    ctx.db.commit()
    return detail


@router.get("/leads/{lead_id}", response_model=LeadDetail)
def get_lead(lead_id: int, ctx: Annotated[Granted, Depends(Need("lead.view"))]) -> LeadDetail:
    return _detail(ctx, ctx.obj)


def _state(ctx: Granted, lead: Lead) -> LeadState:
    agency = lead.agency_id
    code = ctx.db.scalar(select(Agency.code).where(Agency.id == agency)) or str(agency)
    return LeadState(id=lead.id, uid=lead.uid, status=lead.status, agency=code)


def _act(ctx: Granted, action: str, form: dict[str, Any]) -> LeadState:
    shown = leadview.perform(ctx.db, ctx.principal, ctx.obj, action, form)
    return _state(ctx, shown)


@router.post("/leads/{lead_id}/acknowledge", response_model=LeadState)
def acknowledge(lead_id: int, body: Notes, ctx: Annotated[Granted, Depends(Need("lead.act"))]) -> LeadState:
    return _act(ctx, "acknowledge", body.model_dump())


@router.post("/leads/{lead_id}/investigate", response_model=LeadState)
def investigate(lead_id: int, body: Notes, ctx: Annotated[Granted, Depends(Need("lead.act"))]) -> LeadState:
    return _act(ctx, "investigate", body.model_dump())


@router.post("/leads/{lead_id}/actions", response_model=LeadState)
def record_action(lead_id: int, body: ActionBody, ctx: Annotated[Granted, Depends(Need("lead.act"))]) -> LeadState:
    return _act(ctx, "action", body.model_dump())


@router.post("/leads/{lead_id}/outcome", response_model=LeadState)
def record_outcome(lead_id: int, body: OutcomeBody, ctx: Annotated[Granted, Depends(Need("lead.act"))]) -> LeadState:
    return _act(ctx, "outcome", body.model_dump())


@router.post("/leads/{lead_id}/assign", response_model=LeadState, description="Returns the new hop.")
def assign(lead_id: int, body: AssignBody, ctx: Annotated[Granted, Depends(Need("lead.assign"))]) -> LeadState:
    return _act(ctx, "assign", body.model_dump())


@router.post("/leads/{lead_id}/close", response_model=LeadState)
def close(lead_id: int, body: Notes, ctx: Annotated[Granted, Depends(Need("lead.close"))]) -> LeadState:
    return _act(ctx, "close", body.model_dump())


@router.post("/leads/{lead_id}/recall", response_model=LeadState)
def recall(lead_id: int, body: Notes, ctx: Annotated[Granted, Depends(Need("lead.recall"))]) -> LeadState:
    return _act(ctx, "recall", body.model_dump())


@router.post("/leads/{lead_id}/notes", response_model=LeadState)
def add_note(lead_id: int, body: NoteBody, ctx: Annotated[Granted, Depends(Need("lead.note"))]) -> LeadState:
    return _act(ctx, "note", {"notes": body.text})


@router.get("/subjects/{subject_id}", response_model=SubjectDetail)
def get_subject(subject_id: int, ctx: Annotated[Granted, Depends(Need("subject.view"))]) -> SubjectDetail:
    subject: Subject = ctx.obj
    return SubjectDetail(**resolve_review.subject_view(ctx.db, subject.id, actor=ctx.principal.actor))


@router.get("/operations", response_model=list[OperationRow])
def list_operations(ctx: Annotated[Granted, Depends(Need("operation.list"))]) -> list[OperationRow]:
    rows = ctx.db.scalars(select(Operation).where(policy.operations_clause(ctx.principal)).order_by(Operation.id))
    return [OperationRow(id=o.id, name=o.name, description=o.description, created_at=o.created_at) for o in rows]


@router.get("/operations/{operation_id}/dashboard", response_model=Dashboard)
def get_dashboard(operation_id: int, ctx: Annotated[Granted, Depends(Need("operation.view"))]) -> Dashboard:
    data = operation_dashboard(ctx.db, ctx.obj)
    for row in data["overdue"]:
        row["late_hours"] = round(row.pop("late").total_seconds() / 3600, 1)
    for key in ("burn_down", "outcomes"):
        data[key]["days"] = [d.isoformat() if isinstance(d, date) else d for d in data[key]["days"]]
    return Dashboard(**data)


@router.get("/review/pairs", response_model=list[ReviewPairOut])
def review_pairs(
    ctx: Annotated[Granted, Depends(Need("review.view"))],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[ReviewPairOut]:
    pairs = list(
        ctx.db.scalars(
            select(ReviewPair)
            .where(ReviewPair.status == "pending", policy.review_pairs_clause(ctx.principal))
            .order_by(ReviewPair.match_probability.desc(), ReviewPair.id)
            .limit(limit)
        )
    )
    out = [
        ReviewPairOut(
            id=p.id,
            match_probability=p.match_probability,
            match_weight=p.match_weight,
            record_a=resolve_review.record_view(ctx.db, p.record_a_id),
            record_b=resolve_review.record_view(ctx.db, p.record_b_id),
        )
        for p in pairs
    ]
    if out:
        audit.record(
            ctx.db,
            actor=ctx.principal.actor,
            action="review.view",
            object_type="review_pair",
            agency_id=ctx.principal.agency_id,
            details={"pairs": [p.id for p in out]},
        )
    return out


@router.post("/review/pairs/{pair_id}", response_model=ReviewPairOut)
def decide(pair_id: int, body: Decision, ctx: Annotated[Granted, Depends(Need("review.decide"))]) -> ReviewPairOut:
    pair: ReviewPair = ctx.obj
    if body.decision == "skip":
        resolve_review.skip(ctx.db, pair.id)
    else:
        resolve_review.judge(
            ctx.db,
            pair.record_a_id,
            pair.record_b_id,
            body.decision,
            actor=ctx.principal.actor,
            note=(body.note or "").strip() or None,
        )
    return ReviewPairOut(
        id=pair.id,
        match_probability=pair.match_probability,
        match_weight=pair.match_weight,
        record_a=resolve_review.record_view(ctx.db, pair.record_a_id),
        record_b=resolve_review.record_view(ctx.db, pair.record_b_id),
    )


@router.get("/audit/events", response_model=list[AuditEventOut])
def audit_events(
    ctx: Annotated[Granted, Depends(Need("audit.view"))],
    action: Annotated[OptionalText, Query(max_length=100)] = None,
    before: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEventOut]:
    query = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)
    if action:
        query = query.where(AuditEvent.action == action)
    if before:
        query = query.where(AuditEvent.seq < before)
    return [
        AuditEventOut(
            seq=e.seq,
            at=e.at,
            actor=e.actor,
            agency_id=e.agency_id,
            action=e.action,
            object_type=e.object_type,
            object_id=e.object_id,
            details=e.details,
            hash=e.hash,
        )
        for e in ctx.db.scalars(query)
    ]


@router.get("/audit/verify", response_model=ChainOut)
def audit_verify(ctx: Annotated[Granted, Depends(Need("audit.view"))]) -> ChainOut:
    return ChainOut(**audit.verify(ctx.db).to_dict())


@router.get("/agencies", response_model=list[AgencyOut])
def agencies(
    ctx: Annotated[Granted, Depends(Need("directory.read"))],
    country: Annotated[str | None, Query(min_length=2, max_length=2)] = None,
) -> list[AgencyOut]:
    from sqlalchemy.orm import aliased

    parent = aliased(Agency)
    query = (
        select(Agency, parent.code)
        .outerjoin(parent, parent.id == Agency.parent_id)
        .order_by(Agency.country, Agency.code)
    )
    if country:
        query = query.where(Agency.country == country.upper())
    return [
        AgencyOut(code=a.code, name=a.name, kind=a.kind, country=a.country, region=a.region, parent=parent_code)
        for a, parent_code in ctx.db.execute(query)
    ]


@router.get("/docs", include_in_schema=False, response_class=HTMLResponse)
def docs(request: Request, ctx: Annotated[Granted, Depends(Need("signed_in"))]) -> Response:
    """The API reference rendered on the server from the OpenAPI document (no CDN, no inline script)."""
    from threadline.web.render import render

    return render(request, "api_docs.html", ctx.principal, spec=request.app.openapi())
