"""Analysts' side of resolution: the review queue, judgements, a subject's members and why two records match."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.core import audit
from threadline.core.errors import InputError, NotFoundError
from threadline.model import (
    JUDGEMENT_DECISIONS,
    Judgement,
    ResolveModel,
    ReviewPair,
    SourceFile,
    SourceRecord,
    Subject,
    SubjectMember,
)
from threadline.resolve import engine as engines
from threadline.resolve.prepare import add_block_keys, prepare_tables, read_records, record_row
from threadline.resolve.training import linker_for, model_settings

SHOWN_FIELDS = (
    "full_name",
    "given_name",
    "family_name",
    "date_of_birth",
    "email",
    "phone",
    "street",
    "postal_code",
    "city",
    "country",
    "username",
    "national_id",
    "ip",
    "occupation",
)


def record_view(session: Session, record_id: int) -> dict[str, Any]:
    """A record with its provenance (file, row, locator) and the fields an analyst compares."""
    found = session.execute(
        select(SourceRecord, SourceFile.path)
        .join(SourceFile, SourceRecord.source_file_id == SourceFile.id)
        .where(SourceRecord.id == record_id)
    ).first()
    if found is None:
        raise NotFoundError(f"no record {record_id}: record ids are in `threadline export records`")
    record, path = found
    member = session.get(SubjectMember, record_id)
    view: dict[str, Any] = {
        "record_id": record.id,
        "record_type": record.record_type,
        "file": path,
        "row": record.row,
        "locator": record.locator,
        "subject_id": member.subject_id if member else None,
        "match_probability": member.match_probability if member else None,
    }
    for name in SHOWN_FIELDS:
        value = record.fields.get(name)
        if value not in (None, "", []):
            view[name] = value
    return view


def subject_view(session: Session, subject_id: int, *, actor: str) -> dict[str, Any]:
    """A subject, its canonical attributes and every member record with provenance. Audited: personal data."""
    subject = session.get(Subject, subject_id)
    if subject is None:
        raise NotFoundError(f"no subject {subject_id}: see `threadline export subjects`")
    members = session.scalars(
        select(SubjectMember.record_id).where(SubjectMember.subject_id == subject_id).order_by(SubjectMember.record_id)
    ).all()
    audit.record(session, actor=actor, action="subject.view", object_type="subject", object_id=subject_id)
    return {
        "subject_id": subject.id,
        "status": subject.status,
        "merged_into": subject.merged_into_id,
        "insufficient": subject.insufficient,
        "attributes": subject.attributes,
        "identifiers": subject.identifiers,
        "members": [record_view(session, r) for r in members],
    }


def judge(
    session: Session, record_a: int, record_b: int, decision: str, *, actor: str, note: str | None = None
) -> Judgement:
    """Store an analyst's decision on two records; the next `threadline resolve` obeys it."""
    if decision not in JUDGEMENT_DECISIONS:
        raise InputError(f"decision {decision!r}: use 'same' or 'not_same'")
    if record_a == record_b:
        raise InputError("a record is always the same as itself: give two different record ids")
    a, b = sorted((record_a, record_b))
    for record in (a, b):
        if session.get(SourceRecord, record) is None:
            raise NotFoundError(f"no record {record}: record ids are in `threadline export records`")
    judgement = Judgement(record_a_id=a, record_b_id=b, decision=decision, actor=actor, note=note)
    session.add(judgement)
    pair = session.scalars(select(ReviewPair).where(ReviewPair.record_a_id == a, ReviewPair.record_b_id == b)).first()
    if pair is not None:
        pair.status = "decided"
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="resolve.judgement",
        object_type="judgement",
        object_id=judgement.id,
        details={"record_a": a, "record_b": b, "decision": decision},
    )
    return judgement


def skip(session: Session, pair_id: int) -> None:
    pair = session.get(ReviewPair, pair_id)
    if pair is not None:
        pair.status = "skipped"


def next_pairs(session: Session, limit: int = 50) -> list[ReviewPair]:
    """Pending pairs, the most likely matches first."""
    query = (
        select(ReviewPair)
        .where(ReviewPair.status == "pending")
        .order_by(ReviewPair.match_probability.desc(), ReviewPair.id)
        .limit(limit)
    )
    return list(session.scalars(query))


@dataclass
class Explanation:
    record_a: int
    record_b: int
    match_probability: float
    match_weight: float
    steps: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "record_a": self.record_a,
            "record_b": self.record_b,
            "match_probability": self.match_probability,
            "match_weight": self.match_weight,
            "steps": self.steps,
        }


def explain(session: Session, record_a: int, record_b: int) -> Explanation:
    """Each comparison's contribution to the match weight of two records (Splink's waterfall), scored with the
    newest model and term frequencies from every record."""
    from splink.internals.waterfall_chart import records_to_waterfall_data

    model = session.scalars(select(ResolveModel).order_by(ResolveModel.version.desc()).limit(1)).first()
    if model is None:
        raise InputError("no trained model yet: run `threadline resolve` first")
    rows = {}
    for record_id in (record_a, record_b):
        record = session.get(SourceRecord, record_id)
        if record is None:
            raise NotFoundError(f"no record {record_id}: record ids are in `threadline export records`")
        rows[record_id] = record_row(record.id, record.record_type, record.fields, Counter())
    add_block_keys(list(rows.values()))  # Splink reads every column the settings name, blocking keys included
    api = engines.duckdb_api()
    prepare_tables(api.duckdb_con, read_records(session))
    frame = api.register("records", table_name="records_in")
    linker = linker_for(frame, model_settings(model.settings))
    for column in ("name_sorted", "family"):
        linker.table_management.compute_tf_table(column)
    scored = linker.inference.score_pair(rows[record_a], rows[record_b]).as_record_list()[0]
    steps = []
    for step in records_to_waterfall_data(  # type: ignore[no-untyped-call]
        [scored], linker._settings_obj, False
    ):
        steps.append(
            {
                "comparison": step.get("column_name"),
                "level": step.get("label_for_charts"),
                "left": _plain(step.get("value_l")),
                "right": _plain(step.get("value_r")),
                "match_weight": step.get("log2_bayes_factor"),
                "m_probability": step.get("m_probability"),
                "u_probability": step.get("u_probability"),
            }
        )
    return Explanation(record_a, record_b, float(scored["match_probability"]), float(scored["match_weight"]), steps)


def _plain(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return value
