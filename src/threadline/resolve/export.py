"""Subjects as export rows: the `export subjects` contract (one row per member record)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.model import SourceFile, SourceRecord, Subject, SubjectMember


def subject_rows(session: Session) -> Iterator[dict[str, Any]]:
    """One row per member record of an active subject; jurisdiction and risk stay empty until locate and rank."""
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
