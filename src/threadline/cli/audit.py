"""`threadline audit …`."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import select

from threadline.cli.common import DbOption, HomeOption, JsonOption, ThreadlineGroup, console, print_json, store_from
from threadline.core import audit as chain
from threadline.model import AuditEvent

app = typer.Typer(cls=ThreadlineGroup, no_args_is_help=True)


@app.command("verify")
def verify(ctx: typer.Context, home: HomeOption = None, db: DbOption = None, json: JsonOption = False) -> None:
    """Check the hash chain. Exit 0 and OK when intact; exit 1 naming the first broken event otherwise."""
    store = store_from(ctx, home, db)
    with store.session() as session:
        report = chain.verify(session)
    if json:
        print_json(report.to_dict())
    elif report.ok:
        console.print(f"OK: {report.events} events, chain head {report.head_hash[:16]}…")
    else:
        console.print(f"BROKEN at event {report.broken_seq}: {report.problem}", markup=False)
    if not report.ok:
        raise typer.Exit(1)


@app.command("log")
def log(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="How many of the newest events.")] = 50,
    action: Annotated[str | None, typer.Option(help="Only this action, e.g. user.add.")] = None,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Show the newest audit events."""
    store = store_from(ctx, home, db)
    with store.session() as session:
        query = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)
        if action:
            query = query.where(AuditEvent.action == action)
        rows: list[dict[str, Any]] = [
            {
                "seq": e.seq,
                "at": e.at.isoformat(),
                "actor": e.actor,
                "agency_id": e.agency_id,
                "action": e.action,
                "object": ":".join(p for p in (e.object_type, e.object_id) if p),
                "details": e.details,
            }
            for e in session.scalars(query)
        ]
    if json:
        print_json(rows)
        return
    table = Table("seq", "at", "actor", "action", "object", "details")
    for r in rows:
        table.add_row(str(r["seq"]), r["at"][:19], r["actor"], r["action"], r["object"], str(r["details"])[:60])
    console.print(table)
