"""`threadline export …`: views of the one model as CSV or JSON."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from sqlalchemy.orm import Session

from threadline.cli.common import DbOption, HomeOption, ThreadlineGroup, actor, console, store_from
from threadline.core import audit

app = typer.Typer(cls=ThreadlineGroup, no_args_is_help=True)


class Format(StrEnum):
    csv = "csv"
    json = "json"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _write(rows: Iterator[dict[str, Any]], fmt: Format, out: IO[str]) -> int:
    count = 0
    if fmt is Format.json:
        out.write("[\n")
        for row in rows:
            out.write(("," if count else "") + json.dumps(row, ensure_ascii=False, default=str) + "\n")
            count += 1
        out.write("]\n")
        return count
    writer: csv.DictWriter[str] | None = None
    for row in rows:
        if writer is None:
            writer = csv.DictWriter(out, fieldnames=list(row))
            writer.writeheader()
        writer.writerow({k: _cell(v) for k, v in row.items()})
        count += 1
    return count


def _export(
    ctx: typer.Context,
    home: Path | None,
    db: str | None,
    output: Path,
    fmt: Format,
    rows: Callable[[Session], Iterator[dict[str, Any]]],
    what: str,
) -> None:
    """Write rows to a file; the export is a read of personal data, so it is audited with its size."""
    store = store_from(ctx, home, db)
    with store.session() as session, output.open("w", encoding="utf-8", newline="") as out:
        count = _write(rows(session), fmt, out)
        audit.record(session, actor=actor(), action=f"export.{what}", details={"rows": count, "file": str(output)})
    console.print(f"Wrote {count:,} {what} rows to {output}")


OutputOption = Annotated[Path, typer.Option("--output", "-o", help="File to write.")]
FormatOption = Annotated[Format, typer.Option("--format", "-f", help="csv or json.")]


@app.command("records")
def export_records(
    ctx: typer.Context,
    output: OutputOption,
    fmt: FormatOption = Format.csv,
    home: HomeOption = None,
    db: DbOption = None,
) -> None:
    """Every record with its provenance (file, row) and canonical fields."""
    from threadline.ingest.export import record_rows

    _export(ctx, home, db, output, fmt, record_rows, "records")


@app.command("media")
def export_media(
    ctx: typer.Context,
    output: OutputOption,
    fmt: FormatOption = Format.csv,
    home: HomeOption = None,
    db: DbOption = None,
) -> None:
    """Every media item with its hashes and latest triage verdict."""
    from threadline.media import media_rows

    _export(ctx, home, db, output, fmt, media_rows, "media")


@app.command("subjects")
def export_subjects(
    ctx: typer.Context,
    output: OutputOption,
    fmt: FormatOption = Format.csv,
    home: HomeOption = None,
    db: DbOption = None,
) -> None:
    """Every subject's member records: subject, record, file, row, match probability (then country, region,
    tier and score, empty until locate and rank have run)."""
    from threadline.resolve.export import subject_rows

    _export(ctx, home, db, output, fmt, subject_rows, "subjects")


@app.command("leads")
def export_leads(
    ctx: typer.Context,
    output: OutputOption,
    fmt: FormatOption = Format.csv,
    home: HomeOption = None,
    db: DbOption = None,
) -> None:
    """Every lead: lead_id, subject_id, country, region, agency, tier, score, status, sla_due (the clock
    running now)."""
    from threadline.refer.export import lead_rows

    _export(ctx, home, db, output, fmt, lead_rows, "leads")
