"""`threadline refer`: leads for placed, ranked subjects and a signed, encrypted package per agency."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from threadline.cli.common import DbOption, HomeOption, JsonOption, actor, console, err_console, print_json, store_from
from threadline.core.db import Store

if TYPE_CHECKING:
    from threadline.refer import ReferReport


def say(text: str) -> None:
    """Print plain text (paths and codes are not Rich markup) without wrapping it mid-line."""
    console.print(text, markup=False, soft_wrap=True)


class Handling(StrEnum):
    H0 = "H0"
    H1 = "H1"
    H2 = "H2"
    H3 = "H3"


def run_refer(
    store: Store,
    operation: str | None = None,
    out: Path | None = None,
    handling: str = "H0",
    handling_note: str | None = None,
    originator: str | None = None,
) -> ReferReport:
    """The refer stage as `threadline run` calls it: leads, then packages (agencies without keys are listed in
    the report, see `missing_keys_message`)."""
    from threadline.refer import ReferSettings, refer

    settings = ReferSettings(
        operation=operation,
        out=out,
        handling=handling,
        handling_note=handling_note,
        originator=originator,
        actor=actor(),
    )
    if console.is_terminal:
        with console.status("refer: leads and packages", spinner="dots"):
            return refer(store, settings)
    return refer(store, settings)


def refer_summary(report: ReferReport) -> str:
    tiers = ", ".join(f"{t} {n:,}" for t, n in report.leads_by_tier.items()) or "none"
    skipped = []
    if report.unplaced:
        skipped.append(f"{report.unplaced:,} unplaced")
    if report.unlocated:
        skipped.append(f"{report.unlocated:,} not located yet")
    if report.unranked:
        skipped.append(f"{report.unranked:,} not ranked yet")
    lines = [
        f"Refer ({report.operation}, from {report.originator}): {report.subjects:,} subjects → "
        f"{report.leads_new:,} new leads ({tiers}), {report.leads_existing:,} already referred"
        + (f"; no lead for {', '.join(skipped)}" if skipped else ""),
        f"{len(report.packages)} package{'s' if len(report.packages) != 1 else ''} with {report.leads_sent:,} leads"
        + (f" written to {report.out}" if report.out and report.packages else "")
        + f"; {report.seconds:.1f} s",
    ]
    return "\n".join(lines)


def print_refer(report: ReferReport) -> None:
    """The summary, one line per package, and the missing-key error on stderr (the caller decides the exit)."""
    from threadline.refer import missing_keys_message

    say(refer_summary(report))
    for package in report.packages:
        say(f"  {package.agency}: {package.leads:,} leads → {package.path}")
    message = missing_keys_message(report)
    if message:
        err_console.print(f"error: {message}", markup=False, soft_wrap=True)


def refer_command(
    ctx: typer.Context,
    operation: Annotated[
        str | None, typer.Option("--operation", help="Operation to refer (default: the only one).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Folder for the packages [default: THREADLINE_HOME/outbox/OPERATION].", show_default=False
        ),
    ] = None,
    handling: Annotated[
        Handling, typer.Option("--handling", help="Handling code of new leads (H0-H3: use and onward dissemination).")
    ] = Handling.H0,
    handling_note: Annotated[
        str | None, typer.Option("--handling-note", help="Conditions that go with the handling code.")
    ] = None,
    originator: Annotated[
        str | None,
        typer.Option("--originator", help="Agency code that originates and signs, when the operation has none yet."),
    ] = None,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """One lead per placed, ranked subject per destination agency; one signed, encrypted package per agency.

    Reruns create no duplicate leads and package only what has not been sent. An agency without an age key gets
    no package (never plaintext): it is named on stderr and the exit code is 1, after the others are written."""
    from threadline.refer import missing_keys_message

    store = store_from(ctx, home, db)
    report = run_refer(store, operation, out, handling.value, handling_note, originator)
    if json:
        print_json(report.to_dict())
        message = missing_keys_message(report)
        if message:
            err_console.print(f"error: {message}", markup=False, soft_wrap=True)
    else:
        print_refer(report)
    if report.agencies_without_keys:
        raise typer.Exit(1)
