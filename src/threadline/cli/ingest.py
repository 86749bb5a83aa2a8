"""`threadline ingest`, `threadline quarantine …`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
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
from threadline.core.db import Store
from threadline.core.errors import NotFoundError
from threadline.model import QuarantinedRow, Seizure, SourceFile

MappingOption = Annotated[
    Path | None, typer.Option("--mapping", "-m", help="Column mapping (YAML); default: match headers by name.")
]
OperationOption = Annotated[str, typer.Option("--operation", "-o", help="Operation the seizure belongs to.")]


@contextmanager
def file_progress() -> Iterator[Callable[[str, int], None]]:
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def update(path: str, rows: int) -> None:
            if path not in tasks:
                tasks[path] = bar.add_task(path, total=None)
            bar.update(tasks[path], completed=rows)

        yield update


def run_ingest(store: Store, directory: Path, mapping: Path | None, operation: str, batch_size: int = 10_000) -> Any:
    from threadline.ingest.pipeline import ingest

    with file_progress() as update:
        return ingest(
            store,
            directory,
            mapping_path=mapping,
            operation=operation,
            actor=actor(),
            progress=update,
            batch_size=batch_size,
        )


def print_ingest(report: Any) -> None:
    mapping = Table("file / table", "type", "field ← column(s)", "kept as extra", title="Column mapping", expand=False)
    for file_report in report.files:
        for key, plan in file_report.plans.items():
            fields = ", ".join(f"{f}←{'+'.join(cols)}" for f, cols in plan.fields.items())
            mapping.add_row(key, plan.record_type, fields, ", ".join(plan.unmapped))
    if mapping.row_count:
        console.print(mapping)
    files = Table("file", "status", "format", "encoding", "rows", "records", "quarantined", "note", title="Files")
    # Many files skipped for one reason (a folder of images) are one line, not hundreds.
    skipped: dict[str, list[Any]] = {}
    for f in report.files:
        if f.status in ("skipped", "unchanged") and f.rows == 0:
            skipped.setdefault(f"{f.status}: {f.reason}", []).append(f)
    collapsed = {id(f) for group in skipped.values() if len(group) > 5 for f in group}
    for reason, group in skipped.items():
        if len(group) > 5:
            files.add_row(
                f"{group[0].path} and {len(group) - 1} more",
                group[0].status,
                group[0].format or "",
                "",
                "0",
                "0",
                "0",
                reason.split(": ", 1)[1],
            )
    for f in report.files:
        if id(f) in collapsed:
            continue
        note = f.reason or "; ".join(f.warnings)
        files.add_row(
            f.path,
            f.status,
            f.format or "",
            f.encoding or "",
            f"{f.rows:,}",
            f"{f.records:,}",
            f"{f.quarantined:,}",
            note,
        )
    console.print(files)
    t = report.totals
    by_type = ", ".join(f"{k} {v:,}" for k, v in t["records_by_type"].items())
    console.print(
        f"Seizure {report.seizure_id} in operation {report.operation!r}: {t['files']} files "
        f"({t['ingested']} ingested, {t['unchanged']} unchanged, {t['duplicates']} duplicates, "
        f"{t['skipped']} skipped); "
        f"{t['rows']:,} rows → {t['records']:,} records ({by_type}), {t['media_items']:,} media hashes, "
        f"{t['quarantined']:,} quarantined; {report.seconds:.1f} s"
    )
    if report.mapping_file:
        console.print(f"Mapping saved to {report.mapping_file} (edit it and pass it back with --mapping)")
    if t["quarantined"]:
        console.print("See the quarantined rows with `threadline quarantine list`.")


def ingest(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Folder holding the seized files (archives are read in place).")],
    mapping: MappingOption = None,
    operation: OperationOption = "default",
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Rows committed together with a checkpoint.", hidden=True)
    ] = 10_000,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    store = store_from(ctx, home, db)
    report = run_ingest(store, directory, mapping, operation, batch_size)
    if json:
        print_json(report.to_dict())
    else:
        print_ingest(report)


quarantine_app = typer.Typer(cls=ThreadlineGroup, no_args_is_help=True)


@quarantine_app.command("list")
def quarantine_list(
    ctx: typer.Context,
    seizure: Annotated[int | None, typer.Option(help="Only this seizure id.")] = None,
    file: Annotated[str | None, typer.Option(help="Only files whose path contains this text.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 200,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Rows that could not be read, with file, line and reason."""
    store = store_from(ctx, home, db)
    with store.session() as session:
        query = (
            select(QuarantinedRow, SourceFile)
            .join(SourceFile, QuarantinedRow.source_file_id == SourceFile.id)
            .order_by(SourceFile.id, QuarantinedRow.id)
            .limit(limit)
        )
        if seizure is not None:
            query = query.where(SourceFile.seizure_id == seizure)
        if file:
            query = query.where(SourceFile.path.contains(file))
        rows = [
            {
                "id": q.id,
                "seizure_id": f.seizure_id,
                "file": f.path,
                "row": q.row,
                "locator": q.locator,
                "reason": q.reason,
            }
            for q, f in session.execute(query)
        ]
    if json:
        print_json(rows)
        return
    table = Table("id", "file", "line/locator", "reason")
    for r in rows:
        table.add_row(str(r["id"]), str(r["file"]), str(r["locator"]), str(r["reason"]))
    console.print(table)
    console.print(f"{len(rows)} quarantined rows shown; `threadline quarantine show ID` prints one in full")


@quarantine_app.command("show")
def quarantine_show(
    ctx: typer.Context,
    row_id: Annotated[int, typer.Argument(help="Id from `quarantine list`.")],
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """One quarantined row: where it is, why, and its raw text."""
    store = store_from(ctx, home, db)
    with store.session() as session:
        q = session.get(QuarantinedRow, row_id)
        if q is None:
            raise NotFoundError(f"no quarantined row {row_id}: see `threadline quarantine list`")
        f = q.source_file
        seizure = session.get_one(Seizure, f.seizure_id)
        data = {
            "id": q.id,
            "seizure_id": f.seizure_id,
            "seizure_path": seizure.source_path,
            "file": f.path,
            "file_sha256": f.sha256,
            "row": q.row,
            "locator": q.locator,
            "reason": q.reason,
            "raw_text": q.raw_text,
        }
    if json:
        print_json(data)
        return
    for key, value in data.items():
        if key != "raw_text":
            console.print(f"[bold]{key}[/]: {value}", markup=True, highlight=False)
    console.print("[bold]raw text[/]:")
    console.print(data["raw_text"] or "(not kept: see the reason)", markup=False)
