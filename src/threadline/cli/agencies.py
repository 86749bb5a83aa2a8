"""`threadline agencies …`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from threadline.cli.common import (
    DbOption,
    HomeOption,
    JsonOption,
    ThreadlineGroup,
    actor,
    console,
    print_json,
    store_from,
)
from threadline.core.geo import require_country
from threadline.model import Agency

app = typer.Typer(cls=ThreadlineGroup, no_args_is_help=True)


@app.command("list")
def list_agencies(
    ctx: typer.Context,
    country: Annotated[str | None, typer.Option(help="Only this country (ISO code or name).")] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind: national, regional, local, international.")] = None,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """List agencies, national first within each country."""
    from threadline.directory import seed_national_agencies

    store = store_from(ctx, home, db)
    with store.session() as session:
        seed_national_agencies(session, actor=actor())
        query = select(Agency).order_by(Agency.country, Agency.kind != "national", Agency.name)
        if country:
            query = query.where(Agency.country == require_country(country))
        if kind:
            query = query.where(Agency.kind == kind.lower())
        agencies = list(session.scalars(query))
        codes = {agency_id: code for agency_id, code in session.execute(select(Agency.id, Agency.code))}
        rows = [
            {
                "code": a.code,
                "name": a.name,
                "kind": a.kind,
                "country": a.country,
                "region": a.region,
                "parent": codes.get(a.parent_id) if a.parent_id else None,
                "contact": a.contact,
            }
            for a in agencies
        ]
    if json:
        print_json(rows)
        return
    table = Table("code", "name", "kind", "country", "region", "parent", "contact")
    for row in rows:
        table.add_row(*[str(row[k] or "") for k in ("code", "name", "kind", "country", "region", "parent", "contact")])
    console.print(table)
    console.print(f"{len(rows)} agencies")


@app.command("import")
def import_file(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV or YAML with name, country, region, parent, contact, kind, code.")],
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Add or update regional and local agencies below the national ones. All rows or none."""
    from threadline.directory import import_agencies, seed_national_agencies

    store = store_from(ctx, home, db)
    with store.session() as session:
        seed_national_agencies(session, actor=actor())
        report = import_agencies(session, file, actor=actor())
    if json:
        print_json(report.to_dict())
        return
    console.print(
        f"{file}: {len(report.created)} created, {len(report.updated)} updated, {len(report.unchanged)} unchanged"
    )
