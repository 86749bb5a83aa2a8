"""People: a subject's records, identifiers and link chart; the review queue of uncertain matches."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from threadline.core import audit
from threadline.core.errors import InputError
from threadline.model import Lead, ReviewPair, Subject, SubjectLink
from threadline.resolve import review as resolve_review
from threadline.web import policy
from threadline.web.deps import Granted, Need, Route
from threadline.web.policy import Principal
from threadline.web.render import render

router = APIRouter(include_in_schema=False, route_class=Route)

IDENTIFIER_LINKS = ("email", "phone", "username", "ip", "national_id")
MAX_LINKS = 150


def subject_label(subject: Subject) -> str:
    return subject.full_name or " ".join(x for x in (subject.given_name, subject.family_name) if x) or f"#{subject.id}"


def link_graph(db: Session, p: Principal, subject: Subject) -> dict[str, Any]:
    """Cytoscape elements: the subject, the subjects linked to it, shared identifiers as their own nodes, and
    messages and payments as edges. A linked person the user may not see is shown as a number only."""
    links = list(
        db.scalars(
            select(SubjectLink)
            .where(or_(SubjectLink.subject_a_id == subject.id, SubjectLink.subject_b_id == subject.id))
            .order_by(SubjectLink.evidence_count.desc(), SubjectLink.id)
            .limit(MAX_LINKS)
        )
    )
    ids = {subject.id} | {link.subject_a_id for link in links} | {link.subject_b_id for link in links}
    subjects = {s.id: s for s in db.scalars(select(Subject).where(Subject.id.in_(sorted(ids))))}
    nodes: dict[str, dict[str, Any]] = {}
    edges: list[dict[str, Any]] = []
    for sid, s in subjects.items():
        visible = sid == subject.id or policy.can_view_subject(db, p, s)
        nodes[f"s{sid}"] = {
            "data": {
                "id": f"s{sid}",
                "label": subject_label(s) if visible else f"Subject #{sid}",
                "kind": "subject",
                "centre": sid == subject.id,
                "href": f"/subjects/{sid}" if visible else None,
            }
        }
    for link in links:
        a, b = f"s{link.subject_a_id}", f"s{link.subject_b_id}"
        if link.kind in IDENTIFIER_LINKS:
            node_id = f"i:{link.kind}:{link.value}"
            nodes.setdefault(node_id, {"data": {"id": node_id, "label": link.value, "kind": link.kind}})
            edges.append({"data": {"id": f"e{link.id}a", "source": a, "target": node_id, "kind": link.kind}})
            edges.append({"data": {"id": f"e{link.id}b", "source": b, "target": node_id, "kind": link.kind}})
        else:
            label = f"{link.kind} ×{link.evidence_count}"
            edges.append({"data": {"id": f"e{link.id}", "source": a, "target": b, "kind": link.kind, "label": label}})
    return {"elements": {"nodes": list(nodes.values()), "edges": edges}, "truncated": len(links) >= MAX_LINKS}


@router.get("/subjects/{subject_id}")
def subject_page(request: Request, subject_id: int, ctx: Annotated[Granted, Depends(Need("subject.view"))]) -> Response:
    subject: Subject = ctx.obj
    view = resolve_review.subject_view(ctx.db, subject.id, actor=ctx.principal.actor)  # audited there
    leads = list(
        ctx.db.execute(
            select(Lead.id, Lead.uid, Lead.status, Lead.tier, Lead.country, Lead.hop)
            .where(Lead.subject_id == subject.id, policy.visible_leads_clause(ctx.principal))
            .order_by(Lead.hop, Lead.id)
        ).all()
    )
    link_count = ctx.db.scalar(
        select(func.count())
        .select_from(SubjectLink)
        .where(or_(SubjectLink.subject_a_id == subject.id, SubjectLink.subject_b_id == subject.id))
    )
    return render(
        request,
        "subject.html",
        ctx.principal,
        subject=view,
        label=subject_label(subject),
        leads=leads,
        link_count=link_count or 0,
    )


@router.get("/subjects/{subject_id}/graph.json")
def subject_graph(
    request: Request, subject_id: int, ctx: Annotated[Granted, Depends(Need("subject.view"))]
) -> Response:
    subject: Subject = ctx.obj
    graph = link_graph(ctx.db, ctx.principal, subject)
    audit.record(
        ctx.db,
        actor=ctx.principal.actor,
        action="subject.links",
        object_type="subject",
        object_id=subject.id,
        agency_id=ctx.principal.agency_id,
        details={"nodes": len(graph["elements"]["nodes"])},
    )
    return JSONResponse(graph)


# -------------------------------------------------------------------------------------------------- review


def pending_pairs(db: Session, p: Principal, *, limit: int, offset: int = 0) -> list[ReviewPair]:
    return list(
        db.scalars(
            select(ReviewPair)
            .where(ReviewPair.status == "pending", policy.review_pairs_clause(p))
            .order_by(ReviewPair.match_probability.desc(), ReviewPair.id)
            .limit(limit)
            .offset(offset)
        )
    )


@router.get("/review")
def review_page(request: Request, ctx: Annotated[Granted, Depends(Need("review.view"))], skip: int = 0) -> Response:
    offset = max(0, min(skip, 100_000))
    pairs = pending_pairs(ctx.db, ctx.principal, limit=21, offset=offset)
    pending = ctx.db.scalar(
        select(func.count())
        .select_from(ReviewPair)
        .where(ReviewPair.status == "pending", policy.review_pairs_clause(ctx.principal))
    )
    current: dict[str, Any] | None = None
    if pairs:
        pair = pairs[0]
        current = {
            "pair": pair,
            "a": resolve_review.record_view(ctx.db, pair.record_a_id),
            "b": resolve_review.record_view(ctx.db, pair.record_b_id),
        }
        audit.record(
            ctx.db,
            actor=ctx.principal.actor,
            action="review.view",
            object_type="review_pair",
            object_id=pair.id,
            agency_id=ctx.principal.agency_id,
            details={"records": [pair.record_a_id, pair.record_b_id]},
        )
    fields = [f for f in resolve_review.SHOWN_FIELDS if current and (f in current["a"] or f in current["b"])]
    return render(
        request,
        "review.html",
        ctx.principal,
        current=current,
        fields=fields,
        upcoming=pairs[1:],
        pending=pending or 0,
        skip=offset,
    )


@router.post("/review/{pair_id}")
def review_decide(
    request: Request,
    pair_id: int,
    ctx: Annotated[Granted, Depends(Need("review.decide"))],
    decision: Annotated[str, Form(max_length=20)],
    note: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    pair: ReviewPair = ctx.obj
    if decision == "skip":
        resolve_review.skip(ctx.db, pair.id)
    elif decision in ("same", "not_same"):
        resolve_review.judge(
            ctx.db,
            pair.record_a_id,
            pair.record_b_id,
            decision,
            actor=ctx.principal.actor,
            note=(note or "").strip() or None,
        )
    else:
        raise InputError("decision: choose same, not same or skip")
    return RedirectResponse("/review", 303)
