"""`threadline init`."""

from __future__ import annotations

import typer
from sqlalchemy import func, select

from threadline.cli.common import DbOption, HomeOption, JsonOption, actor, console, print_json, store_from
from threadline.core.db import current_revision, redact
from threadline.model import Agency


def init(ctx: typer.Context, home: HomeOption = None, db: DbOption = None, json: JsonOption = False) -> None:
    from threadline.directory import seed_national_agencies

    store = store_from(ctx, home, db)
    with store.session() as session:
        created = seed_national_agencies(session, actor=actor())
        agencies = session.scalar(select(func.count()).select_from(Agency)) or 0
    result = {
        "database": redact(store.settings.url),
        "home": str(store.settings.resolved_home),
        "schema_revision": current_revision(store.engine),
        "agencies": agencies,
        "agencies_created": created,
    }
    if json:
        print_json(result)
        return
    console.print(f"Store ready at [bold]{result['database']}[/] (schema {result['schema_revision']})")
    console.print(f"Agency directory: {agencies} agencies ({created} created now)")
