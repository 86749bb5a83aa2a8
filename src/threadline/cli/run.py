"""`threadline run DIR`: every stage in order with one progress display and one summary; resumable."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from threadline.cli.common import (
    DbOption,
    HomeOption,
    JsonOption,
    actor,
    console,
    err_console,
    print_json,
    store_from,
)
from threadline.cli.ingest import MappingOption, OperationOption
from threadline.core.db import Store
from threadline.pipeline import STAGES, PipelineOptions, PipelineReport, run_pipeline


@contextmanager
def stage_progress(total: int) -> Iterator[Any]:
    """One line per run: which stage of how many, what it is doing now, and the time spent."""
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.fields[stage]}[/bold] ({task.completed}/{task.total})"),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=total, stage="")
        seen: list[str] = []

        def update(stage: str, message: str) -> None:
            if stage not in seen:
                seen.append(stage)
            bar.update(task, completed=len(seen) - 1, stage=stage, description=message[:100])

        yield update


def execute(store: Store, options: PipelineOptions) -> PipelineReport:
    from threadline.directory import seed_national_agencies

    with store.session() as session:
        seed_national_agencies(session, actor=actor())
    with stage_progress(len(STAGES)) as update:
        return run_pipeline(store, options, actor=actor(), progress=update)


def print_pipeline(report: PipelineReport) -> None:
    stages = Table("stage", "status", "seconds", "what happened", title=f"Operation {report.operation}")
    for outcome in report.stages:
        stages.add_row(outcome.stage, outcome.status, f"{outcome.seconds:.1f}", _line(outcome.stage, outcome))
    console.print(stages)
    summary = Table("", "", title="Summary", show_header=False)
    for key, value in report.summary.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in value.items()) or "none"
        elif isinstance(value, int):
            value = f"{value:,}"
        summary.add_row(key.replace("_", " "), str(value))
    console.print(summary)
    console.print(f"Done in {report.seconds:.1f} s; `threadline run` again skips stages whose inputs are unchanged.")


def _line(stage: str, outcome: Any) -> str:
    if outcome.status == "skipped":
        return str(outcome.reason)
    r = outcome.report
    if stage == "ingest":
        t = r.get("totals", {})
        return (
            f"{t.get('rows', 0):,} rows → {t.get('records', 0):,} records, {t.get('quarantined', 0):,} quarantined, "
            f"{t.get('media_items', 0):,} media hashes listed"
        )
    if stage == "media":
        scan, triage = r.get("scan", {}), r.get("triage", {})
        verdicts = ", ".join(f"{k} {v:,}" for k, v in triage.get("verdicts", {}).items() if v)
        return f"{scan.get('hashed', 0):,} files hashed; {triage.get('items', 0):,} items triaged ({verdicts})"
    if stage == "resolve":
        return (
            f"{r.get('mode')}: {r.get('records', 0):,} records → {r.get('subjects', 0):,} subjects, "
            f"{r.get('review_queue', 0):,} pairs to review, {r.get('links', 0):,} links"
        )
    if stage == "locate":
        return (
            f"{r.get('subjects', 0):,} subjects: {r.get('placed', 0):,} placed ({r.get('placed_high', 0):,} high "
            f"confidence) in {r.get('countries', 0):,} countries, {r.get('unplaced', 0):,} unplaced "
            f"(`threadline unplaced`), {r.get('claims', 0):,} claims"
        )
    if stage == "rank":
        tiers = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in r.get("tiers", {}).items())
        return f"{r.get('subjects', 0):,} subjects ranked: {tiers}"
    if stage == "refer":
        missing = r.get("agencies_without_keys") or {}
        return (
            f"{r.get('leads_new', 0):,} new leads, {r.get('leads_existing', 0):,} already referred; "
            f"{len(r.get('packages', [])):,} packages written"
            + (f"; {len(missing):,} agencies have no key (no package)" if missing else "")
        )
    return ", ".join(f"{k} {v}" for k, v in r.items() if isinstance(v, int | float | str))[:200]


def run(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Folder holding the seized files.")],
    mapping: MappingOption = None,
    operation: OperationOption = "default",
    from_stage: Annotated[
        str | None, typer.Option("--from", help=f"Start at this stage ({', '.join(STAGES)}).", show_default=False)
    ] = None,
    until_stage: Annotated[
        str | None, typer.Option("--until", help="Stop after this stage.", show_default=False)
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Run every selected stage even if nothing changed.")] = False,
    known: Annotated[
        list[Path] | None,
        typer.Option("--known", help="A known-hash set to import before triage (repeatable; VICS, CSV, PDQ list)."),
    ] = None,
    engine: Annotated[str, typer.Option(help="Resolve engine: duckdb or spark.")] = "duckdb",
    threshold: Annotated[float, typer.Option(help="Resolve match probability threshold.")] = 0.9,
    mmdb: Annotated[
        Path | None, typer.Option("--mmdb", help="IP country database (MaxMind format) for locate.")
    ] = None,
    rules: Annotated[Path | None, typer.Option("--rules", help="Rank rules file to load first.")] = None,
    originator: Annotated[
        str | None,
        typer.Option("--originator", help="Agency (code or country) that leads the operation and signs packages."),
    ] = None,
    handling: Annotated[str, typer.Option("--handling", help="Handling code for the leads: H0-H3.")] = "H0",
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the referral packages.")] = None,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    store = store_from(ctx, home, db)
    options = PipelineOptions(
        directory=directory,
        mapping=mapping,
        operation=operation,
        from_stage=from_stage,
        until_stage=until_stage,
        force=force,
        known=tuple(known or ()),
        engine=engine,
        threshold=threshold,
        mmdb=mmdb,
        rules=rules,
        originator=originator,
        handling=handling,
        out=out,
    )
    report = execute(store, options)
    if json:
        print_json(report.to_dict())
    else:
        print_pipeline(report)
    refer = report.outcome("refer")
    missing = (refer.report.get("agencies_without_keys") or {}) if refer is not None else {}
    if missing:
        agencies = ", ".join(f"{code} ({n} lead{'s' if n != 1 else ''})" for code, n in sorted(missing.items()))
        err_console.print(
            f"error: no package for {agencies}: they have no age key here; `threadline keys import --agency CODE "
            "FILE` (or `keys generate`), then `threadline run` again",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
