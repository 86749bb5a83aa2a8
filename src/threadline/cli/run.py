"""`threadline run DIR`: every stage built so far, in order."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from threadline.cli.common import DbOption, HomeOption, JsonOption, actor, console, print_json, store_from
from threadline.cli.ingest import MappingOption, OperationOption, print_ingest, run_ingest
from threadline.cli.media import print_scan, print_triage, run_scan, run_triage
from threadline.cli.resolve import resolve_summary, run_resolve
from threadline.directory import seed_national_agencies

STAGES = ("ingest", "media", "resolve")


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
    # Media: hash the seizure's images and videos (documents are ingest's); triage against the imported sets.
    scanned = run_scan(store, directory, operation=operation, only_media=True)
    triaged = run_triage(store, seizure=scanned.seizure_id)
    resolved = run_resolve(store)
    if json:
        print_json(
            {
                "stages": list(STAGES),
                "ingest": report.to_dict(),
                "media": {"scan": scanned.to_dict(), "triage": triaged.to_dict()},
                "resolve": resolved.to_dict(),
            }
        )
        return
    print_ingest(report)
    print_scan(scanned)
    print_triage(triaged)
    console.print(resolve_summary(resolved))
    console.print(f"Stages that ran: {', '.join(STAGES)}")
