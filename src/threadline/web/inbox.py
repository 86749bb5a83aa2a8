"""Inbox queries: the leads a user may see, filtered, sorted and paged, with counts per tier and clock.

Rows carry no personal data (reference, tier, score, where, status, clock), so an inbox view is not a read of
anyone's data; a search by name is, and is audited. Pages are fetched with one row more than shown, so no
COUNT over a million leads is needed to know whether a next page exists; the counts per tier and clock are
kept a few seconds per scope and refreshed in the background (`caches.Refreshing`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from threadline.core import audit
from threadline.model import LEAD_STATUSES, TERMINAL_STATUSES, TIERS, Agency, Lead, Operation, Subject, utcnow
from threadline.web import policy
from threadline.web.caches import Refreshing
from threadline.web.policy import Principal

BOXES = ("received", "sent")
CLOCKS = ("overdue", "due_soon", "running", "stopped")
SORTS = ("priority", "due", "updated")
DUE_SOON = timedelta(hours=24)


@dataclass(frozen=True)
class InboxQuery:
    box: str = "received"
    tier: str | None = None
    status: str | None = None
    clock: str | None = None
    country: str | None = None
    q: str | None = None
    sort: str = "priority"
    page: int = 1

    @classmethod
    def parse(cls, params: dict[str, Any], *, default_box: str = "received") -> InboxQuery:
        """Read filters from query parameters, dropping values that are not recognised."""

        def pick(name: str, allowed: tuple[str, ...]) -> str | None:
            value = params.get(name)
            return value if isinstance(value, str) and value in allowed else None

        country = params.get("country")
        q = params.get("q")
        try:
            page = max(1, min(10_000, int(params.get("page") or 1)))
        except (TypeError, ValueError):
            page = 1
        return cls(
            box=pick("box", BOXES) or default_box,
            tier=pick("tier", TIERS),
            status=pick("status", LEAD_STATUSES),
            clock=pick("clock", CLOCKS),
            country=country.upper() if isinstance(country, str) and len(country) == 2 and country.isalpha() else None,
            q=q.strip()[:100] if isinstance(q, str) and q.strip() else None,
            sort=pick("sort", SORTS) or "priority",
            page=page,
        )

    def params(self, **changes: Any) -> dict[str, Any]:
        values = {
            "box": self.box,
            "tier": self.tier,
            "status": self.status,
            "clock": self.clock,
            "country": self.country,
            "q": self.q,
            "sort": self.sort,
            "page": self.page,
        }
        values.update(changes)
        return {k: v for k, v in values.items() if v not in (None, "", 1) or (k == "page" and v != 1)}


def clock_clause(clock: str, now: datetime) -> ColumnElement[bool]:
    open_ = Lead.status.not_in(TERMINAL_STATUSES)
    if clock == "overdue":
        return and_(open_, Lead.due_at.is_not(None), Lead.due_at < now)
    if clock == "due_soon":
        return and_(open_, Lead.due_at >= now, Lead.due_at < now + DUE_SOON)
    if clock == "running":
        return and_(open_, Lead.due_at >= now + DUE_SOON)
    return or_(Lead.due_at.is_(None), Lead.status.in_(TERMINAL_STATUSES))


def clock_of(lead_due: datetime | None, status: str, now: datetime) -> str:
    if lead_due is None or status in TERMINAL_STATUSES:
        return "stopped"
    if lead_due < now:
        return "overdue"
    if lead_due < now + DUE_SOON:
        return "due_soon"
    return "running"


def box_clause(p: Principal, box: str) -> ColumnElement[bool]:
    return policy.sent_leads_clause(p) if box == "sent" else policy.received_leads_clause(p)


def _filters(p: Principal, q: InboxQuery, now: datetime) -> list[ColumnElement[bool]]:
    where = [box_clause(p, q.box)]
    if q.tier:
        where.append(Lead.tier == q.tier)
    if q.status:
        where.append(Lead.status == q.status)
    if q.clock:
        where.append(clock_clause(q.clock, now))
    if q.country:
        where.append(Lead.country == q.country)
    if q.q:
        text = q.q
        by_ref = Lead.uid.startswith(text.lower(), autoescape=True)
        # ASCII digits only ("²".isdigit() is true, int("²") fails) and within a database integer.
        if text.isascii() and text.isdigit() and len(text) <= 18:
            by_ref = or_(by_ref, Lead.id == int(text))
        # A name is personal data: only leads whose person the user may see are searched by name.
        by_name = and_(
            policy.personal_search_clause(p),
            Lead.subject_id.in_(select(Subject.id).where(Subject.full_name.ilike(f"%{_escape_like(text)}%", "\\"))),
        )
        where.append(or_(by_ref, by_name))
    return where


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass
class InboxPage:
    query: InboxQuery
    rows: list[dict[str, Any]]
    has_next: bool
    counts: dict[str, Any] = field(default_factory=dict)
    page_size: int = 50


def inbox(
    db: Session,
    p: Principal,
    q: InboxQuery,
    *,
    page_size: int = 50,
    now: datetime | None = None,
    counts: Refreshing[dict[str, Any]] | None = None,
) -> InboxPage:
    """One page of the inbox in one query (the page's leads, then their agency code and operation name joined
    to those rows only), and the counts per tier and clock (from `counts`, refreshed in the background, when
    given)."""
    now = now or utcnow()
    where = _filters(p, q, now)
    page = (
        select(
            Lead.id,
            Lead.uid,
            Lead.tier,
            Lead.score,
            Lead.country,
            Lead.region,
            Lead.status,
            Lead.due_at,
            Lead.hop,
            Lead.escalation_level,
            Lead.updated_at,
            Lead.agency_id,
            Lead.operation_id,
            Lead.direction,
        )
        .where(*where)
        .order_by(*_order(q.sort, Lead.__table__.c))
        .limit(page_size + 1)
        .offset((q.page - 1) * page_size)
        .subquery("page")
    )
    rows = db.execute(
        select(page, Agency.code.label("agency_code"), Operation.name.label("operation_name"))
        .outerjoin(Agency, Agency.id == page.c.agency_id)
        .outerjoin(Operation, Operation.id == page.c.operation_id)
        .order_by(*_order(q.sort, page.c))
    ).all()
    has_next = len(rows) > page_size
    rows = rows[:page_size]
    if q.q:
        audit.record(
            db,
            actor=p.actor,
            action="lead.search",
            object_type="lead",
            agency_id=p.agency_id,
            details={"box": q.box, "query": q.q, "results": [r.uid for r in rows]},
        )
    out = [
        {
            "id": r.id,
            "uid": r.uid,
            "ref": r.uid[:8],
            "tier": r.tier,
            "score": r.score,
            "country": r.country,
            "region": r.region,
            "status": r.status,
            "due_at": r.due_at,
            "clock": clock_of(r.due_at, r.status, now),
            "hop": r.hop,
            "escalation_level": r.escalation_level,
            "updated_at": r.updated_at,
            "agency": r.agency_code or "",
            "operation": r.operation_name or "",
            "direction": r.direction,
        }
        for r in rows
    ]
    if counts is not None:
        tallies = counts.get(_counts_key(p, q.box), db, lambda session: box_counts(session, p, q.box))
    else:
        tallies = box_counts(db, p, q.box, now=now)
    return InboxPage(q, out, has_next, tallies, page_size)


def _order(sort: str, c: Any) -> list[Any]:
    """The inbox's orderings over the lead columns `c` (the table's, or the page subquery's)."""
    if sort == "due":
        # NULLS LAST, as a btree on due_at stores them, so the (agency, due_at) indexes give this order.
        return [c.due_at.asc().nulls_last(), c.id]
    if sort == "updated":
        return [c.updated_at.desc(), c.id.desc()]
    return [c.score.desc(), c.id]


def _counts_key(p: Principal, box: str) -> tuple[Any, ...]:
    return (box, p.agency_id, p.scope, p.has(policy.ORIGINATOR_ROLES), p.has(policy.LEAD_ROLES))


def box_counts(db: Session, p: Principal, box: str, *, now: datetime | None = None) -> dict[str, Any]:
    """Leads per tier and per clock state in one box (open leads only for clocks), in one grouped query."""
    now = now or utcnow()
    clock = case(
        (or_(Lead.due_at.is_(None), Lead.status.in_(TERMINAL_STATUSES)), "stopped"),
        (Lead.due_at < now, "overdue"),
        (Lead.due_at < now + DUE_SOON, "due_soon"),
        else_="running",
    )
    rows = db.execute(
        select(Lead.tier, clock.label("clock"), func.count()).where(box_clause(p, box)).group_by(Lead.tier, clock)
    ).all()
    tiers = dict.fromkeys(TIERS, 0)
    clocks = dict.fromkeys(CLOCKS, 0)
    total = 0
    for tier, clock_state, n in rows:
        tiers[tier] = tiers.get(tier, 0) + n
        clocks[clock_state] = clocks.get(clock_state, 0) + n
        total += n
    return {"tiers": tiers, "clocks": clocks, "total": total}
