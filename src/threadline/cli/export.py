"""`threadline export …`: views of the one model as CSV or JSON."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from sqlalchemy import select

from threadline.cli.common import DbOption, HomeOption, ThreadlineGroup, console, store_from
from threadline.model import CANONICAL_FIELDS, SourceFile, SourceRecord

app = typer.Typer(cls=ThreadlineGroup, no_args_is_help=True)

RECORD_FIELDS = tuple(f for f in CANONICAL_FIELDS if f not in ("record_id", "record_type"))


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


def record_rows(session: Any) -> Iterator[dict[str, Any]]:
    query = (
        select(SourceRecord, SourceFile.path)
        .join(SourceFile, SourceRecord.source_file_id == SourceFile.id)
        .order_by(SourceRecord.id)
        .execution_options(yield_per=5000)
    )
    for record, path in session.execute(query):
        fields = record.fields
        row: dict[str, Any] = {
            "source_record_id": record.id,
            "record_type": record.record_type,
            "source_file": path,
            "source_row": record.row,
            "locator": record.locator,
            "record_id": record.record_key,
        }
        for name in RECORD_FIELDS:
            row[name] = fields.get(name)
        row["flags"] = fields.get("flags")
        row["extra"] = fields.get("extra")
        yield row


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


@app.command("records")
def export_records(
    ctx: typer.Context,
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="csv or json.")] = Format.csv,
    home: HomeOption = None,
    db: DbOption = None,
) -> None:
    """Every record with its provenance (file, row) and canonical fields."""
    store = store_from(ctx, home, db)
    with store.session() as session, output.open("w", encoding="utf-8", newline="") as out:
        count = _write(record_rows(session), fmt, out)
    console.print(f"Wrote {count:,} records to {output}")


@app.command("media")
def export_media(
    ctx: typer.Context,
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="csv or json.")] = Format.csv,
    home: HomeOption = None,
    db: DbOption = None,
) -> None:
    """Every media item with its hashes and latest triage verdict."""
    from threadline.media import media_rows

    store = store_from(ctx, home, db)
    with store.session() as session, output.open("w", encoding="utf-8", newline="") as out:
        count = _write(media_rows(session), fmt, out)
    console.print(f"Wrote {count:,} media items to {output}")


def subject_rows(session: Any) -> Iterator[dict[str, Any]]:
    """One row per member record of an active subject; jurisdiction and risk stay empty until locate and rank."""
    from threadline.model import Subject, SubjectMember

    query = (
        select(SubjectMember, SourceRecord.row, SourceFile.path)
        .join(Subject, Subject.id == SubjectMember.subject_id)
        .join(SourceRecord, SourceRecord.id == SubjectMember.record_id)
        .join(SourceFile, SourceRecord.source_file_id == SourceFile.id)
        .where(Subject.status == "active")
        .order_by(SubjectMember.subject_id, SubjectMember.record_id)
        .execution_options(yield_per=5000)
    )
    for member, row, path in session.execute(query):
        yield {
            "subject_id": member.subject_id,
            "source_record_id": member.record_id,
            "source_file": path,
            "source_row": row,
            "match_probability": member.match_probability,
            "country": None,
            "region": None,
            "tier": None,
            "score": None,
        }


@app.command("subjects")
def export_subjects(
    ctx: typer.Context,
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="csv or json.")] = Format.csv,
    home: HomeOption = None,
    db: DbOption = None,
) -> None:
    """Every subject's member records: subject, record, file, row, match probability (then country, region,
    tier and score, empty until locate and rank have run)."""
    from threadline.cli.common import actor
    from threadline.core import audit

    store = store_from(ctx, home, db)
    with store.session() as session, output.open("w", encoding="utf-8", newline="") as out:
        count = _write(subject_rows(session), fmt, out)
        audit.record(session, actor=actor(), action="export.subjects", details={"rows": count, "file": str(output)})
    console.print(f"Wrote {count:,} subject members to {output}")
