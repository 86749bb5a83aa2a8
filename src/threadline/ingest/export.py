"""Records as export rows: the `export records` contract (provenance first, then the canonical fields)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.model import CANONICAL_FIELDS, SourceFile, SourceRecord

RECORD_FIELDS = tuple(f for f in CANONICAL_FIELDS if f not in ("record_id", "record_type"))


def record_rows(session: Session) -> Iterator[dict[str, Any]]:
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
