"""The operation report: per country and agency, what was sent, acknowledged, overdue and achieved.

Every lead counts at the agency holding it, hops included (a hop is a lead sent to the agency below). Outcome counts
are taken from the lead that recorded them, never copied up the chain, so the totals count each arrest, charge and
safeguarded child once. `referrals` counts the first hops only (subjects sent by the originator).
"""

from __future__ import annotations

import html
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.core.errors import NotFoundError
from threadline.core.geo import country_name
from threadline.model import OUTCOMES, TERMINAL_STATUSES, Agency, Lead, LeadEvent, Operation, utcnow

FORMATS = ("text", "json", "html")


@dataclass
class Row:
    """Figures for one agency, one country or everything."""

    key: str
    name: str
    country: str | None = None
    referrals: int = 0
    leads: int = 0
    sent: int = 0
    acknowledged: int = 0
    open: int = 0
    overdue: int = 0
    escalated: int = 0
    recalled: int = 0
    closed: int = 0
    arrests: int = 0
    charges: int = 0
    children_safeguarded: int = 0
    ack_hours: list[float] = field(default_factory=list)

    @property
    def median_hours_to_acknowledge(self) -> float | None:
        return round(statistics.median(self.ack_hours), 1) if self.ack_hours else None

    def add(self, lead: Lead, *, now: datetime, escalated: bool) -> None:
        self.leads += 1
        self.referrals += lead.hop == 0
        self.sent += lead.sent_at is not None
        self.acknowledged += lead.acknowledged_at is not None
        finished = lead.status in TERMINAL_STATUSES
        self.open += not finished and lead.sent_at is not None
        self.overdue += not finished and lead.due_at is not None and lead.due_at < now
        self.escalated += escalated
        self.recalled += lead.status == "recalled"
        self.closed += lead.status == "closed"
        self.arrests += lead.arrests or 0
        self.charges += lead.charges or 0
        self.children_safeguarded += lead.children_safeguarded or 0
        if lead.acknowledged_at is not None and lead.sent_at is not None:
            self.ack_hours.append((lead.acknowledged_at - lead.sent_at).total_seconds() / 3600)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "country": self.country,
            "referrals": self.referrals,
            "leads": self.leads,
            "sent": self.sent,
            "acknowledged": self.acknowledged,
            "open": self.open,
            "overdue": self.overdue,
            "escalated": self.escalated,
            "recalled": self.recalled,
            "closed": self.closed,
            "arrests": self.arrests,
            "charges": self.charges,
            "children_safeguarded": self.children_safeguarded,
            "median_hours_to_acknowledge": self.median_hours_to_acknowledge,
        }


@dataclass
class OperationReport:
    operation: str | None
    generated_at: datetime
    total: Row
    countries: list[Row]
    agencies: list[Row]
    statuses: dict[str, int]
    outcomes: dict[str, int]
    # (days since sent, status) of every open lead: the chart's ages panel.
    open_ages: list[tuple[float, str]]
    # (time, outcome, arrests, charges, children safeguarded) of every outcome event: the chart's time panels.
    outcome_events: list[tuple[datetime, str, int, int, int]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "generated_at": self.generated_at.isoformat(),
            "total": self.total.to_dict(),
            "countries": [r.to_dict() for r in self.countries],
            "agencies": [r.to_dict() for r in self.agencies],
            "statuses": self.statuses,
            "outcomes": self.outcomes,
            "open_lead_ages_days": sorted(round(age, 2) for age, _ in self.open_ages),
            "outcomes_over_time": [
                {"at": at.isoformat(), "outcome": o, "arrests": a, "charges": c, "children_safeguarded": k}
                for at, o, a, c, k in self.outcome_events
            ],
        }


def operation_report(
    session: Session, operation_name: str | None = None, *, now: datetime | None = None
) -> OperationReport:
    """Figures for the leads of one operation (all leads when no name is given), as of `now`."""
    now = now or utcnow()
    query = select(Lead).order_by(Lead.id)
    if operation_name is not None:
        operation = session.scalars(select(Operation).where(Operation.name == operation_name)).first()
        if operation is None:
            names = ", ".join(session.scalars(select(Operation.name).order_by(Operation.name)).all()[:10]) or "none"
            raise NotFoundError(f"unknown operation {operation_name!r} (operations here: {names})")
        query = query.where(Lead.operation_id == operation.id)
    leads = list(session.scalars(query))
    ids = [lead.id for lead in leads]
    escalated: set[int] = set()
    outcome_events: list[tuple[datetime, str, int, int, int]] = []
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        escalated.update(
            session.scalars(
                select(LeadEvent.lead_id).where(LeadEvent.lead_id.in_(chunk), LeadEvent.kind == "escalated").distinct()
            )
        )
        for event in session.scalars(
            select(LeadEvent).where(LeadEvent.lead_id.in_(chunk), LeadEvent.to_status == "outcome")
        ):
            d = event.details
            outcome_events.append(
                (event.at, str(d.get("outcome")), int(d.get("arrests", 0)), int(d.get("charges", 0)),
                 int(d.get("children_safeguarded", 0)))
            )  # fmt: skip
    outcome_events.sort(key=lambda item: item[0])
    agencies = {
        a.id: a for a in session.scalars(select(Agency).where(Agency.id.in_({lead.agency_id for lead in leads})))
    }
    total = Row(key="total", name="All agencies")
    by_agency: dict[int, Row] = {}
    by_country: dict[str, Row] = {}
    statuses: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    open_ages: list[tuple[float, str]] = []
    for lead in leads:
        agency = agencies.get(lead.agency_id)
        country = lead.country or (agency.country if agency is not None else "??")
        if lead.agency_id not in by_agency:
            by_agency[lead.agency_id] = Row(
                key=agency.code if agency else str(lead.agency_id),
                name=agency.name if agency else "unknown agency",
                country=country,
            )
        if country not in by_country:
            by_country[country] = Row(key=country, name=country_name(country), country=country)
        flagged = lead.id in escalated
        for row in (total, by_agency[lead.agency_id], by_country[country]):
            row.add(lead, now=now, escalated=flagged)
        statuses[lead.status] += 1
        if lead.outcome:
            outcomes[lead.outcome] += 1
        if lead.status not in TERMINAL_STATUSES and lead.sent_at is not None:
            open_ages.append(((now - lead.sent_at).total_seconds() / 86400, lead.status))
    return OperationReport(
        operation=operation_name,
        generated_at=now,
        total=total,
        countries=sorted(by_country.values(), key=lambda r: (-r.leads, r.key)),
        agencies=sorted(by_agency.values(), key=lambda r: (r.country or "", -r.leads, r.key)),
        statuses={s: n for s, n in sorted(statuses.items())},
        outcomes={o: outcomes[o] for o in OUTCOMES if outcomes[o]},
        open_ages=open_ages,
        outcome_events=outcome_events,
    )


COLUMNS = (
    ("leads", "leads"),
    ("sent", "sent"),
    ("acknowledged", "ack'd"),
    ("overdue", "overdue"),
    ("escalated", "escalated"),
    ("arrests", "arrests"),
    ("charges", "charges"),
    ("children_safeguarded", "children"),
    ("median_hours_to_acknowledge", "median h to ack"),
)


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def _table(title: str, rows: list[Row], first: str) -> list[str]:
    header = [first, *(label for _, label in COLUMNS)]
    body = [[f"{r.key} {r.name}", *(_cell(r.to_dict()[k]) for k, _ in COLUMNS)] for r in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    out = [title, "  ".join(h.ljust(widths[i]) if i == 0 else h.rjust(widths[i]) for i, h in enumerate(header))]
    for line in body:
        out.append("  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(line)))
    return out


def render_text(report: OperationReport) -> str:
    t = report.total
    lines = [
        f"Operation report: {report.operation or 'all operations'} (as of {report.generated_at:%Y-%m-%d %H:%M} UTC)",
        f"{t.referrals} referrals, {t.leads} leads with hops; {t.acknowledged} acknowledged, {t.open} open, "
        f"{t.overdue} overdue, {t.escalated} escalated, {t.recalled} recalled, {t.closed} closed",
        f"{t.arrests} arrests, {t.charges} charges, {t.children_safeguarded} children safeguarded; median time to "
        f"acknowledge {_cell(t.median_hours_to_acknowledge)} h",
        "",
        *_table("By country", report.countries, "country"),
        "",
        *_table("By agency", report.agencies, "agency"),
    ]
    if report.outcomes:
        lines += ["", "Outcomes: " + ", ".join(f"{k} {v}" for k, v in report.outcomes.items())]
    return "\n".join(lines) + "\n"


def render_html(report: OperationReport, chart_svg: str | None = None) -> str:
    """A self-contained page: no external assets; the chart is inline SVG."""
    t = report.total

    def table(title: str, rows: list[Row]) -> str:
        head = "".join(f"<th>{html.escape(label)}</th>" for _, label in COLUMNS)
        body = "".join(
            f"<tr><td>{html.escape(r.key)}</td><td>{html.escape(r.name)}</td>"
            + "".join(f"<td class=n>{html.escape(_cell(r.to_dict()[k]))}</td>" for k, _ in COLUMNS)
            + "</tr>"
            for r in rows
        )
        return f"<h2>{html.escape(title)}</h2><table><tr><th>code</th><th>name</th>{head}</tr>{body}</table>"

    title = f"Operation report: {report.operation or 'all operations'}"
    summary = (
        f"{t.referrals} referrals, {t.leads} leads with hops; {t.acknowledged} acknowledged, {t.overdue} overdue, "
        f"{t.escalated} escalated. {t.arrests} arrests, {t.charges} charges, {t.children_safeguarded} children "
        f"safeguarded. Median time to acknowledge: {_cell(t.median_hours_to_acknowledge)} h."
    )
    chart = f"<figure>{chart_svg}</figure>" if chart_svg else ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:.25em .5em}td.n{text-align:right}th{background:#f3f3f3}"
        "figure svg{max-width:100%;height:auto}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>As of {report.generated_at:%Y-%m-%d %H:%M} UTC. {html.escape(summary)}</p>"
        f"{chart}{table('By country', report.countries)}{table('By agency', report.agencies)}"
        "</body></html>\n"
    )
