"""`threadline keys generate|import|export|list`: agency signing (Ed25519) and encryption (age) keys."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

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

app = typer.Typer(cls=ThreadlineGroup, no_args_is_help=True)

AgencyOption = Annotated[str, typer.Option("--agency", "-a", help="Agency code (see `threadline agencies list`).")]


@app.command("generate")
def generate(
    ctx: typer.Context,
    agency: AgencyOption,
    rotate: Annotated[
        bool, typer.Option("--rotate", help="Retire the agency's current keys and make new ones.")
    ] = False,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Make a signing key and an age key for an agency this installation acts as. Private keys go to
    THREADLINE_HOME/keys (owner-only files), never into the database."""
    from threadline.directory import find_agency, seed_national_agencies
    from threadline.refer.keys import generate_keys

    store = store_from(ctx, home, db)
    with store.session() as session:
        seed_national_agencies(session, actor=actor())
        made = generate_keys(store.settings, session, find_agency(session, agency), actor=actor(), rotate=rotate)
    if json:
        print_json(made.to_dict())
        return
    say(f"Keys for {made.agency}" + (f" ({made.revoked} older keys retired)" if made.revoked else ""))
    say(f"  signing (Ed25519): {made.signing_fingerprint}  private key {made.signing_key_file}")
    say(f"  age recipient:     {made.age_recipient}  identity {made.age_identity_file}")
    say(f"Give partners the public keys: threadline keys export --agency {made.agency} -o FILE")


@app.command("import")
def import_command(
    ctx: typer.Context,
    agency: AgencyOption,
    file: Annotated[Path, typer.Argument(help="Public keys as written by `threadline keys export`.")],
    replace: Annotated[
        bool, typer.Option("--replace", help="Retire this agency's other imported keys of the kinds in the file.")
    ] = False,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Record another agency's public keys: its signing key (to verify what it sends) and age recipient (to
    encrypt what is sent to it)."""
    from threadline.directory import find_agency, seed_national_agencies
    from threadline.refer.keys import import_keys

    store = store_from(ctx, home, db)
    with store.session() as session:
        seed_national_agencies(session, actor=actor())
        report = import_keys(session, find_agency(session, agency), file, actor=actor(), replace=replace)
    if json:
        print_json(report.to_dict())
        return
    say(
        f"{file}: {len(report.added)} key(s) added, {len(report.unchanged)} already known"
        + (f", {len(report.revoked)} retired" if report.revoked else "")
        + f" for {report.agency}",
    )


@app.command("export")
def export_command(
    ctx: typer.Context,
    agency: AgencyOption,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write [default: standard output].")
    ] = None,
    home: HomeOption = None,
    db: DbOption = None,
) -> None:
    """Write an agency's public keys (never a private one) for partners to `keys import`."""
    from threadline.directory import find_agency, seed_national_agencies
    from threadline.refer.keys import export_keys

    store = store_from(ctx, home, db)
    with store.session() as session:
        seed_national_agencies(session, actor=actor())
        text = export_keys(session, find_agency(session, agency))
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    say(f"Wrote the public keys of {agency} to {output}")


@app.command("list")
def list_command(
    ctx: typer.Context,
    agency: Annotated[str | None, typer.Option("--agency", "-a", help="Only this agency.")] = None,
    all_keys: Annotated[bool, typer.Option("--all", help="Show retired keys too.")] = False,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """The keys known here: agency, kind, fingerprint, whether the private key is held here."""
    from threadline.directory import find_agency
    from threadline.refer.keys import list_keys

    store = store_from(ctx, home, db)
    with store.session() as session:
        chosen = find_agency(session, agency) if agency else None
        rows = [r for r in list_keys(session, chosen) if all_keys or r["active"]]
    if json:
        print_json(rows)
        return
    table = Table("agency", "kind", "fingerprint", "source", "private here", "active")
    for row in rows:
        table.add_row(
            row["agency"],
            row["kind"],
            row["fingerprint"],
            row["source"],
            "yes" if row["private_key_here"] else "",
            "yes" if row["active"] else "retired",
        )
    console.print(table)
    say(f"{len(rows)} keys")
