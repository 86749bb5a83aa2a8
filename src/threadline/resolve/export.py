"""Subjects as export rows: the `export subjects` contract (one row per member record).

The last four columns come from the locate and rank tables of the one model (read, never computed here), so they
stay empty until those stages have run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.model import RiskAssessment, SourceFile, SourceRecord, Subject, SubjectJurisdiction, SubjectMember


def subject_rows(session: Session) -> Iterator[dict[str, Any]]:
    """One row per member record of an active subject, with its decided jurisdiction and risk when known."""
    query = (
        select(
            SubjectMember,
            SourceRecord.row,
            SourceFile.path,
            SubjectJurisdiction.country,
            SubjectJurisdiction.region,
            RiskAssessment.tier,
            RiskAssessment.score,
        )
        .join(Subject, Subject.id == SubjectMember.subject_id)
        .join(SourceRecord, SourceRecord.id == SubjectMember.record_id)
        .join(SourceFile, SourceRecord.source_file_id == SourceFile.id)
        .outerjoin(SubjectJurisdiction, SubjectJurisdiction.subject_id == Subject.id)
        .outerjoin(RiskAssessment, RiskAssessment.subject_id == Subject.id)
        .where(Subject.status == "active")
        .order_by(SubjectMember.subject_id, SubjectMember.record_id)
        .execution_options(yield_per=5000)
    )
    for member, row, path, country, region, tier, score in session.execute(query):
        yield {
            "subject_id": member.subject_id,
            "source_record_id": member.record_id,
            "source_file": path,
            "source_row": row,
            "match_probability": member.match_probability,
            "country": country,
            "region": region,
            "tier": tier,
            "score": score,
        }
