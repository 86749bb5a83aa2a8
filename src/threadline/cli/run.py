"""`threadline run DIR`: every stage built so far, in order."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from threadline.cli.common import DbOption, HomeOption, JsonOption, actor, console, print_json, store_from
from threadline.cli.ingest import MappingOption, OperationOption, print_ingest, run_ingest
from threadline.directory import seed_national_agencies

STAGES = ("ingest",)


def run(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Folder holding the seized files.")],
    mapping: MappingOption = None,
    operation: OperationOption = "default",
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    store = store_from(ctx, home, db)
    with store.session() as session:
        seed_national_agencies(session, actor=actor())
    report = run_ingest(store, directory, mapping, operation)
    if json:
        print_json({"stages": list(STAGES), "ingest": report.to_dict()})
        return
    print_ingest(report)
    console.print(f"Stages that ran: {', '.join(STAGES)}")
