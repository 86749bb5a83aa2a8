"""The coordinator's picture of one operation: leads, arrests and children safeguarded per country, the overdue
list, the clock burn-down and outcomes over time. Aggregates only (no person), computed in SQL.

Outcome counts stay on the lead whose agency recorded them (see `track.lifecycle`), so sums over every lead of the
operation count each arrest once; "leads" counts first hops (one per person and country), not forwards."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, and_, case, cast, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from threadline.model import TERMINAL_STATUSES, Agency, Lead, LeadEvent, Operation, utcnow

MAX_DAYS = 120


def _day(db: Session, column: Any) -> ColumnElement[Any]:
    if db.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def per_country(db: Session, operation_id: int) -> list[dict[str, Any]]:
    rows = db.execute(
        select(
            Lead.country,
            func.sum(case((Lead.hop == 0, 1), else_=0)),
            func.sum(Lead.arrests),
            func.sum(Lead.charges),
            func.sum(Lead.children_safeguarded),
            func.sum(case((and_(Lead.hop == 0, Lead.status.not_in(TERMINAL_STATUSES)), 1), else_=0)),
        )
        .where(Lead.operation_id == operation_id)
        .group_by(Lead.country)
        .order_by(Lead.country)
    ).all()
    return [
        {
            "country": c or "??",
            "leads": int(leads or 0),
            "arrests": int(arrests or 0),
            "charges": int(charges or 0),
            "children_safeguarded": int(children or 0),
            "open": int(open_ or 0),
        }
        for c, leads, arrests, charges, children, open_ in rows
    ]


def overdue(db: Session, operation_id: int, *, now: datetime, limit: int = 50) -> list[dict[str, Any]]:
    rows = db.execute(
        select(Lead.id, Lead.uid, Lead.tier, Lead.country, Lead.status, Lead.due_at, Lead.escalation_level, Agency.code)
        .join(Agency, Agency.id == Lead.agency_id)
        .where(
            Lead.operation_id == operation_id,
            Lead.status.not_in(TERMINAL_STATUSES),
            Lead.due_at.is_not(None),
            Lead.due_at < now,
        )
        .order_by(Lead.due_at)
        .limit(limit)
    ).all()
    return [
        {
            "id": r.id,
            "ref": r.uid[:8],
            "tier": r.tier,
            "country": r.country,
            "status": r.status,
            "due_at": r.due_at,
            "late": now - r.due_at,
            "escalation_level": r.escalation_level,
            "agency": r.code,
        }
        for r in rows
    ]


def _daily(db: Session, column: Any, operation_id: int, *, first_hops: bool = True) -> Counter[date]:
    day = _day(db, column)
    query = select(day, func.count()).where(Lead.operation_id == operation_id, column.is_not(None))
    if first_hops:
        query = query.where(Lead.hop == 0)
    return Counter({_as_date(d): n for d, n in db.execute(query.group_by(day)).all()})


def _days(first: date | None, today: date) -> list[date]:
    if first is None:
        return []
    first = max(first, today - timedelta(days=MAX_DAYS))
    return [first + timedelta(days=i) for i in range((today - first).days + 1)]


def _cumulative(days: list[date], counts: Counter[date]) -> list[int]:
    before = sum(n for d, n in counts.items() if days and d < days[0])
    out = []
    for d in days:
        before += counts.get(d, 0)
        out.append(before)
    return out


def burn_down(db: Session, operation_id: int, *, today: date) -> tuple[list[date], dict[str, list[int]]]:
    """Per day: first-hop leads sent and not yet acknowledged, and sent and not yet closed or recalled."""
    sent = _daily(db, Lead.sent_at, operation_id)
    acked = _daily(db, Lead.acknowledged_at, operation_id)
    closed = _daily(db, Lead.closed_at, operation_id)
    days = _days(min(sent) if sent else None, today)
    total_sent = _cumulative(days, sent)
    total_acked = _cumulative(days, acked)
    total_closed = _cumulative(days, closed)
    return days, {
        "awaiting acknowledgement": [s - a for s, a in zip(total_sent, total_acked, strict=True)],
        "open": [s - c for s, c in zip(total_sent, total_closed, strict=True)],
    }


def outcomes_over_time(db: Session, operation_id: int, *, today: date) -> tuple[list[date], dict[str, list[int]]]:
    """Cumulative outcome reports and leads with an arrest, per day."""
    day = _day(db, LeadEvent.at)
    rows = db.execute(
        select(day, func.count())
        .join(Lead, Lead.id == LeadEvent.lead_id)
        .where(Lead.operation_id == operation_id, LeadEvent.kind == "outcome")
        .group_by(day)
    ).all()
    reports = Counter({_as_date(d): n for d, n in rows})
    days = _days(min(reports) if reports else None, today)
    return days, {"outcome reports": _cumulative(days, reports)}


def operation_dashboard(db: Session, operation: Operation, *, now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    countries = per_country(db, operation.id)
    totals = {
        key: sum(c[key] for c in countries) for key in ("leads", "arrests", "charges", "children_safeguarded", "open")
    }
    burn_days, burn = burn_down(db, operation.id, today=now.date())
    outcome_days, outcomes = outcomes_over_time(db, operation.id, today=now.date())
    return {
        "operation": {"id": operation.id, "name": operation.name, "description": operation.description},
        "totals": totals,
        "countries": countries,
        "overdue": overdue(db, operation.id, now=now),
        "burn_down": {"days": burn_days, "series": burn},
        "outcomes": {"days": outcome_days, "series": outcomes},
    }
