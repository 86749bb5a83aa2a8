"""`threadline demo`: the main job on a fresh synthetic seizure, on the embedded default store."""

from __future__ import annotations

import json as jsonlib
import shutil
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import func, select

from threadline.cli.common import DbOption, HomeOption, JsonOption, actor, console, print_json, store_from
from threadline.cli.run import execute, print_pipeline
from threadline.cli.synth import run_synth
from threadline.core import audit
from threadline.core.db import redact
from threadline.directory import seed_national_agencies
from threadline.model import Agency, AuditEvent
from threadline.pipeline import PipelineOptions


def _demo_seizure(home: Path, people: int, seed: int) -> tuple[Path, dict[str, Any]]:
    """Generate the demo seizure, or reuse one already generated with the same size and seed."""
    out = home / "demo" / f"seizure-{people}-seed-{seed}"
    summary_file = out / "truth" / "summary.json"
    if summary_file.exists():
        return out, dict(jsonlib.loads(summary_file.read_text(encoding="utf-8")))
    if out.exists():
        shutil.rmtree(out)  # an interrupted earlier run: start again
    report = run_synth(out, people, seed, countries=50, media=None)
    return out, report.to_dict()


def demo(
    ctx: typer.Context,
    people: Annotated[int, typer.Option("--people", "-n", help="How many invented people.")] = 500,
    seed: Annotated[int, typer.Option(help="Seed for the synthetic seizure.")] = 7,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Stop after the summary.")] = False,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    store = store_from(ctx, home, db)
    out, summary = _demo_seizure(store.settings.resolved_home, people, seed)
    with store.session() as session:
        seed_national_agencies(session, actor=actor())
        audit.record(session, actor=actor(), action="demo.run", details={"people": people, "seed": seed})
    pipeline = execute(
        store,
        PipelineOptions(
            directory=out / "seizure",
            operation="Demo",
            known=(out / "known" / "vics.json", out / "known" / "pdq.txt"),
        ),
    )
    with store.session() as session:
        agencies = session.scalar(select(func.count()).select_from(Agency)) or 0
        countries = session.scalar(select(func.count(func.distinct(Agency.country)))) or 0
        events = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
        chain = audit.verify(session)
    result: dict[str, Any] = {
        "seizure": str(out),
        "synth": summary,
        "database": redact(store.settings.url),
        "agencies": agencies,
        "countries_covered": countries,
        "audit_events": events,
        "audit_chain_ok": chain.ok,
        "pipeline": pipeline.to_dict(),
        "served": False,
    }
    if json:
        print_json(result)
        return
    table = Table("", "", title="Threadline demo", show_header=False)
    table.add_row("Synthetic seizure", str(out))
    table.add_row("People (invented)", str(summary.get("people")))
    for name, count in sorted(dict(summary.get("records", {})).items()):
        table.add_row(f"  {name}", f"{count} records")
    table.add_row("Media files (benign)", str(summary.get("media_files")))
    table.add_row("Known-hash set", f"{summary.get('known_hashes')} hashes")
    table.add_row("Store", result["database"])
    table.add_row("Agency directory", f"{agencies} agencies covering {countries} countries")
    table.add_row("Audit chain", f"{'OK' if chain.ok else 'BROKEN'} ({events} events)")
    console.print(table)
    print_pipeline(pipeline)
    if not no_serve:
        console.print("The web application is not built yet, so there is nothing to serve; stopping here.")
