"""`threadline track …`: follow leads — list, show, the lifecycle verbs, the clock sweep, status-file import."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from threadline.cli.common import (
    DbOption,
    HomeOption,
    JsonOption,
    ThreadlineGroup,
    actor,
    console,
    print_json,
    say,
    store_from,
)
from threadline.core.errors import InputError
from threadline.model import LEAD_STATUSES, OUTCOMES, Lead, LeadEvent
from threadline.model.lead import LEAD_DIRECTIONS

if TYPE_CHECKING:
    from threadline.track.lifecycle import Acting

app = typer.Typer(cls=ThreadlineGroup, no_args_is_help=True)

LeadArgument = Annotated[str, typer.Argument(help="The lead: its id, the first 6+ characters of it, or its number.")]
NotesOption = Annotated[str | None, typer.Option("--notes", "-n", help="A note kept with the event.")]
AsOption = Annotated[
    str | None,
    typer.Option("--as", help="The agency acting (code); by default the agency holding the lead.", show_default=False),
]


def parse_time(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 time; without a zone it is read as UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{option} {value!r} is not an ISO 8601 time such as 2026-03-02T09:00") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


Done = TypeVar("Done", LeadEvent, Lead, list[LeadEvent])


def _acting(session: Session, as_agency: str | None) -> Acting:
    """This user, acting for the agency given with --as (by default lifecycle's choice)."""
    from threadline.directory import find_agency

    return {"actor": actor(), "agency_id": find_agency(session, as_agency).id if as_agency else None}


def _on_lead(
    ctx: typer.Context,
    lead: str,
    home: Path | None,
    db: str | None,
    json: bool,
    act: Callable[[Session, Lead], Done],
    message: Callable[[Lead, Done], str],
) -> None:
    """What every lifecycle verb does: find the lead, act on it, then print the lead's status with the new event,
    the new hop or the leads a recall reached."""
    from threadline.track.leads import find_lead

    store = store_from(ctx, home, db)
    with store.session() as session:
        found = find_lead(session, lead)
        done = act(session, found)
        result: dict[str, Any] = {"lead": found.uid, "status": found.status}
        if isinstance(done, LeadEvent):
            result["event"] = done.uid
        elif isinstance(done, Lead):
            result["hop"] = done.uid
        else:
            result["reached"] = [e.lead.uid for e in done]
        text = message(found, done)
    if json:
        print_json(result)
    else:
        say(text)


def _lead_verb(name: str, help: str, transition: str, message: Callable[[Lead, Any], str]) -> None:
    """A lifecycle verb that takes nothing but the lead, --notes and --as: `transition` names one of lifecycle's
    functions (imported when the verb runs)."""

    def verb(
        ctx: typer.Context,
        lead: LeadArgument,
        notes: NotesOption = None,
        as_agency: AsOption = None,
        home: HomeOption = None,
        db: DbOption = None,
        json: JsonOption = False,
    ) -> None:
        from threadline.track import lifecycle

        def act(session: Session, found: Lead) -> Any:
            return getattr(lifecycle, transition)(session, found, notes=notes, **_acting(session, as_agency))

        _on_lead(ctx, lead, home, db, json, act, message)

    app.command(name, help=help)(verb)


@app.command("list")
def list_command(
    ctx: typer.Context,
    agency: Annotated[str | None, typer.Option("--agency", "-a", help="Only leads held by this agency.")] = None,
    status: Annotated[
        str | None, typer.Option("--status", "-s", help=f"Only leads in this status: {', '.join(LEAD_STATUSES)}.")
    ] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only open leads past their clock.")] = False,
    direction: Annotated[
        str | None, typer.Option("--direction", help=f"Only {' or '.join(LEAD_DIRECTIONS)} leads.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many leads.")] = 200,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Leads with their status, clock and outcome."""
    from threadline.track.leads import LeadFilter, agency_codes, lead_summary, list_leads

    if direction is not None and direction not in LEAD_DIRECTIONS:
        raise InputError(f"--direction {direction!r}: expected {' or '.join(LEAD_DIRECTIONS)}")
    store = store_from(ctx, home, db)
    with store.session() as session:
        leads = list_leads(
            session, LeadFilter(agency=agency, status=status, overdue=overdue, direction=direction), limit=limit
        )
        codes = agency_codes(session, [lead.agency_id for lead in leads])
        rows = [lead_summary(lead, codes) for lead in leads]
    if json:
        print_json(rows)
        return
    table = Table()
    for column in ("lead", "hop", "agency", "tier", "status", "due (UTC)", "esc", "outcome", "arrests", "children"):
        table.add_column(column, no_wrap=column in ("lead", "hop", "esc", "arrests", "children"))
    for r in rows:
        due = (r["due_at"] or "")[:16].replace("T", " ") + (" overdue" if r["overdue"] else "")
        table.add_row(
            r["lead_id"][:8],
            str(r["hop"]),
            r["agency"],
            r["tier"],
            r["status"],
            due,
            str(r["escalation_level"] or ""),
            r["outcome"] or "",
            str(r["arrests"]),
            str(r["children_safeguarded"]),
        )
    # A pipe or a file gets every column whole; a terminal gets its own width.
    (console if console.is_terminal else Console(highlight=False, width=140)).print(table)
    if len(rows) == limit:
        say(f"(first {limit} leads; use --limit or a filter for more)")


@app.command("show")
def show(
    ctx: typer.Context, lead: LeadArgument, home: HomeOption = None, db: DbOption = None, json: JsonOption = False
) -> None:
    """A lead, its hops, and every event on it, oldest first."""
    from threadline.track import lifecycle
    from threadline.track.leads import find_lead, timeline

    store = store_from(ctx, home, db)
    with store.session() as session:
        found = find_lead(session, lead)
        view = timeline(session, found)
        view["allowed_actions"] = lifecycle.allowed_actions(found)
        view["rollup"] = lifecycle.rollup(session, found).to_dict()
    if json:
        print_json(view)
        return
    head = view["lead"]
    say(
        f"Lead {head['lead_id']} — {head['direction']}, hop {head['hop']}, to {head['agency']} ({head['country']}), "
        f"tier {head['tier']}, {head['handling_code']}; status {head['status']}"
        + (f", due {head['due_at'][:16].replace('T', ' ')} UTC" if head["due_at"] else "")
        + (" (overdue)" if head["overdue"] else "")
    )
    for hop in view["hops"]:
        say(f"  hop {hop['hop']}: {hop['lead_id']} at {hop['agency']} — {hop['status']}")
    roll = view["rollup"]
    say(f"Outcomes with hops: {roll['arrests']} arrests, {roll['charges']} charges, "
        f"{roll['children_safeguarded']} children safeguarded")  # fmt: skip
    for e in view["events"]:
        change = f"{e['from_status']} → {e['to_status']}" if e["from_status"] else e["kind"]
        where = f" [{e['lead_id'][:8]}]" if e["lead_id"] != head["lead_id"] else ""
        extra = f" — {e['notes']}" if e["notes"] else ""
        origin = " (imported)" if e["origin"] == "imported" else ""
        say(f"{e['at'][:19]}{where} {change} by {e['actor']}{origin}{extra}")
    say("Can now: " + ", ".join(view["allowed_actions"]))


_lead_verb(
    "ack",
    "Acknowledge a lead: it has arrived and been read.",
    "acknowledge",
    lambda found, _: (
        f"Lead {found.uid} acknowledged" + (f"; act by {found.due_at:%Y-%m-%d %H:%M} UTC" if found.due_at else "")
    ),
)


@app.command("assign")
def assign(
    ctx: typer.Context,
    lead: LeadArgument,
    agency: Annotated[str, typer.Argument(help="The agency below to forward it to (code).")],
    notes: NotesOption = None,
    as_agency: AsOption = None,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Forward a lead one hop down to an agency below: a new lead is created and sent to it."""
    from threadline.directory import find_agency
    from threadline.track import lifecycle

    _on_lead(
        ctx, lead, home, db, json,
        lambda session, found: lifecycle.assign(
            session, found, find_agency(session, agency), notes=notes, **_acting(session, as_agency)
        ),
        lambda found, child: f"Lead {found.uid} assigned to {agency}: new lead {child.uid} (hop {child.hop})",
    )  # fmt: skip


_lead_verb(
    "investigate",
    "Record that an investigation has started.",
    "start_investigation",
    lambda found, _: f"Lead {found.uid} under investigation",
)


@app.command("action")
def action(
    ctx: typer.Context,
    lead: LeadArgument,
    what: Annotated[str, typer.Argument(help="What was done, e.g. 'search executed'.")],
    notes: NotesOption = None,
    as_agency: AsOption = None,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Record an action taken (a search executed, a device seized, an interview)."""
    from threadline.track import lifecycle

    _on_lead(
        ctx, lead, home, db, json,
        lambda session, found: lifecycle.record_action(
            session, found, what, notes=notes, **_acting(session, as_agency)
        ),
        lambda found, _: f"Lead {found.uid}: action recorded ({what})",
    )  # fmt: skip


@app.command("outcome")
def outcome(
    ctx: typer.Context,
    lead: LeadArgument,
    result: Annotated[str, typer.Argument(help=f"The outcome: {', '.join(OUTCOMES)}.")],
    arrests: Annotated[int, typer.Option("--arrests", min=0, help="People arrested.")] = 0,
    charges: Annotated[int, typer.Option("--charges", min=0, help="Charges brought.")] = 0,
    children: Annotated[int, typer.Option("--children", min=0, help="Children safeguarded.")] = 0,
    notes: NotesOption = None,
    as_agency: AsOption = None,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Record an outcome with its counts (several outcomes add up)."""
    from threadline.track import lifecycle

    _on_lead(
        ctx, lead, home, db, json,
        lambda session, found: lifecycle.record_outcome(
            session, found, result, arrests=arrests, charges=charges, children_safeguarded=children, notes=notes,
            **_acting(session, as_agency),
        ),
        lambda found, _: f"Lead {found.uid}: {result} ({arrests} arrests, {charges} charges, "
        f"{children} children safeguarded)",
    )  # fmt: skip


_lead_verb(
    "close",
    "Close a lead (after an outcome, or once it has been assigned below).",
    "close",
    lambda found, _: f"Lead {found.uid} closed",
)
_lead_verb(
    "recall",
    "Retract a lead: it and every open hop below it are recalled.",
    "recall",
    lambda found, reached: f"Lead {found.uid} recalled; the recall reached {len(reached)} lead(s) with hops",
)


@app.command("note")
def note(
    ctx: typer.Context,
    lead: LeadArgument,
    text: Annotated[str, typer.Argument(help="The note.")],
    as_agency: AsOption = None,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Add a note to a lead (allowed in any state)."""
    from threadline.track import lifecycle

    _on_lead(
        ctx, lead, home, db, json,
        lambda session, found: lifecycle.add_note(session, found, text, **_acting(session, as_agency)),
        lambda found, _: f"Note added to lead {found.uid}",
    )  # fmt: skip


@app.command("sweep")
def sweep_command(
    ctx: typer.Context,
    now: Annotated[
        str | None, typer.Option("--now", help="Sweep as of this ISO time (UTC if no zone); by default now.")
    ] = None,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Escalate every lead past its clock: supervisor, then the agency above, then the coordinator."""
    from threadline.track.sweep import sweep

    when = parse_time(now, "--now")
    store = store_from(ctx, home, db)
    with store.session() as session:
        report = sweep(session, now=when, actor=actor())
    if json:
        print_json(report.to_dict())
        return
    e = report.escalations
    say(
        f"Sweep as of {report.now:%Y-%m-%d %H:%M} UTC: {report.escalated_leads} leads escalated "
        f"(level 1: {e[1]}, level 2: {e[2]}, level 3: {e[3]}); {report.overdue_open} open leads past their clock"
    )


@app.command("import")
def import_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A signed status file from an agency the leads were sent to.")],
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Verify a status file and apply its events (a file applied twice changes nothing)."""
    from threadline.track.status import import_status

    store = store_from(ctx, home, db)
    report = import_status(store, file, actor=actor())
    if json:
        print_json(report.to_dict())
        return
    if report.replay:
        say(f"{file}: imported before; nothing new")
        return
    say(
        f"{file}: from {report.sender}: {report.applied} of {report.events} events applied, "
        f"{report.duplicates} already here, {len(report.not_applied)} kept without effect; "
        f"{report.hop_leads_created} new hops"
        + (f"; recall reached {report.recall_reached} more" if report.recall_reached else "")
    )
    for item in report.not_applied:
        say(f"  not applied on {item['lead']}: {item['reason']}")
