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
from threadline.core.db import Store, redact
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


# The demo plays every agency on one installation: Canada's national agency leads the operation (as Toronto did
# in Project Spade) and every national agency gets keys here, so each one's package can be written and opened.
DEMO_ORIGINATOR = "CA"


def generate_demo_keys(store: Store) -> int:
    """Keys for the originator and every national agency that has none yet; the number made."""
    from threadline.refer.keys import generate_keys, verify_keys

    made = 0
    with store.session() as session:
        for agency in session.scalars(select(Agency).where(Agency.kind == "national").order_by(Agency.id)):
            if not verify_keys(session, agency):
                generate_keys(store.settings, session, agency, actor=actor())
                made += 1
    return made


def demo(
    ctx: typer.Context,
    people: Annotated[int, typer.Option("--people", "-n", help="How many invented people.")] = 500,
    seed: Annotated[int, typer.Option(help="Seed for the synthetic seizure.")] = 7,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Stop after the summary.")] = False,
    host: Annotated[str, typer.Option("--host", help="Address the web application listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port of the web application.", min=1, max=65535)] = 8000,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    from threadline.directory import national_agency, seed_national_agencies
    from threadline.web.demo import demo_users

    store = store_from(ctx, home, db)
    out, summary = _demo_seizure(store.settings.resolved_home, people, seed)
    with store.session() as session:
        seed_national_agencies(session, actor=actor())
        originator = national_agency(session, DEMO_ORIGINATOR).code
        audit.record(session, actor=actor(), action="demo.run", details={"people": people, "seed": seed})
    keys_made = generate_demo_keys(store)
    pipeline = execute(
        store,
        PipelineOptions(
            directory=out / "seizure",
            operation="Demo",
            known=(out / "known" / "vics.json", out / "known" / "pdq.txt"),
            originator=originator,
        ),
    )
    with store.session() as session:
        users = [u.to_dict() for u in demo_users(session, originating_agency=originator, actor=actor())]
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
        "keys_generated": keys_made,
        "users": users,
        "served": not no_serve,
    }
    if json:
        print_json(result)
        if not no_serve:
            _serve(store, host, port)
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
    people_table = Table("user", "password", "roles", "agency", "who", title="Demo users (new passwords each run)")
    for user in users:
        people_table.add_row(user["username"], user["password"], ", ".join(user["roles"]), user["agency"], user["what"])
    console.print(people_table)
    if no_serve:
        console.print("`threadline serve` starts the web application; sign in with a user above.")
        return
    _serve(store, host, port)


def _serve(store: Store, host: str, port: int) -> None:
    from threadline.web import serve as run_server

    console.print(f"Threadline web application on http://{host}:{port}/ (Ctrl-C to stop)")
    run_server(store.settings, host, port)
