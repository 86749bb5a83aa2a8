"""A subject as a lead carries it: who, from which evidence, where and why this urgent. Never media.

The snapshot is what a receiving agency sees and what the originator's lead keeps as "what we said": names and
date of birth, every identifier with the records (file, row) it was read from, each member record's canonical
fields, the jurisdiction decision with its evidence, the ranking factors, and how many of the subject's media
items got each triage verdict (counts only: no path, hash or image ever leaves)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threadline.model import (
    CANONICAL_FIELDS,
    TIER_LABELS,
    Identifier,
    JurisdictionClaim,
    MediaItem,
    MediaVerdict,
    RiskAssessment,
    Seizure,
    SourceFile,
    SourceRecord,
    Subject,
    SubjectJurisdiction,
    SubjectMember,
)

CHUNK = 500
# Fields of a record a receiving agency needs to act; normalised keys and raw copies stay home.
_RECORD_FIELDS = tuple(f for f in CANONICAL_FIELDS if f != "record_type")
_EVIDENCE_KEYS = ("record_id", "subject_id", "media_item_id", "text")


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _clean_value(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    return str(value)


def _source(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record[k] for k in ("record_id", "seizure", "file", "file_sha256", "row", "locator")}


def build_snapshots(session: Session, subject_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """One snapshot per subject id, read in batches (a few queries per 500 subjects)."""
    ids = sorted(set(subject_ids))
    snapshots: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(ids):
        snapshots.update(_build_chunk(session, chunk))
    return snapshots


def _build_chunk(session: Session, ids: list[int]) -> dict[int, dict[str, Any]]:
    # Columns, not entities, throughout: ORM identity bookkeeping was most of the time at tens of thousands of leads.
    subjects = {
        s.id: s
        for s in session.execute(
            select(
                Subject.id,
                Subject.full_name,
                Subject.given_name,
                Subject.family_name,
                Subject.date_of_birth,
                Subject.attributes,
            ).where(Subject.id.in_(ids))
        )
    }

    records: dict[int, dict[str, Any]] = {}
    by_subject: dict[int, list[dict[str, Any]]] = defaultdict(list)
    # Columns, not entities: a record's verbatim `raw` (the largest JSON) is never needed here.
    member_rows = session.execute(
        select(
            SubjectMember.subject_id,
            SubjectMember.match_probability,
            SourceRecord.id,
            SourceRecord.record_type,
            SourceRecord.record_key,
            SourceRecord.row,
            SourceRecord.locator,
            SourceRecord.fields,
            SourceFile.path,
            SourceFile.sha256,
            SourceFile.size,
            Seizure.label,
        )
        .join(SourceRecord, SourceRecord.id == SubjectMember.record_id)
        .join(SourceFile, SourceFile.id == SourceRecord.source_file_id)
        .join(Seizure, Seizure.id == SourceFile.seizure_id)
        .where(SubjectMember.subject_id.in_(ids))
        .order_by(SubjectMember.subject_id, SourceRecord.id)
    )
    for (
        subject_id,
        probability,
        record_id,
        record_type,
        record_key,
        row,
        locator,
        record_fields,
        path,
        sha256,
        size,
        seizure,
    ) in member_rows:
        fields = record_fields or {}
        entry = {
            "record_id": record_id,
            "record_type": record_type,
            "record_key": record_key,
            "seizure": seizure,
            "file": path,
            "file_sha256": sha256,
            "file_size": size,
            "row": row,
            "locator": locator,
            "match_probability": probability,
            "fields": {
                k: v if v.__class__ is str else _clean_value(v)
                for k in _RECORD_FIELDS
                if (v := fields.get(k)) not in (None, "", [])
            },
        }
        records[record_id] = entry
        by_subject[subject_id].append(entry)

    identifiers: dict[int, dict[tuple[str, str], list[dict[str, Any]]]] = defaultdict(dict)
    if records:
        record_subject = {r["record_id"]: s for s, rs in by_subject.items() for r in rs}
        rows = session.execute(
            select(Identifier.kind, Identifier.value, Identifier.record_id)
            .join(SubjectMember, SubjectMember.record_id == Identifier.record_id)
            .where(SubjectMember.subject_id.in_(ids))
            .order_by(Identifier.kind, Identifier.value, Identifier.record_id)
        )
        for kind, value, record_id in rows:
            subject_id = record_subject[record_id]
            identifiers[subject_id].setdefault((kind, value), []).append(_source(records[record_id]))

    claims: dict[int, list[dict[str, Any]]] = defaultdict(list)
    claim_rows = session.execute(
        select(
            JurisdictionClaim.subject_id,
            JurisdictionClaim.source,
            JurisdictionClaim.value,
            JurisdictionClaim.country,
            JurisdictionClaim.region,
            JurisdictionClaim.weight,
            JurisdictionClaim.ambiguous,
            JurisdictionClaim.note,
            JurisdictionClaim.record_id,
            SourceRecord.row,
            SourceRecord.locator,
            SourceFile.path,
            SourceFile.sha256,
        )
        .outerjoin(SourceRecord, SourceRecord.id == JurisdictionClaim.record_id)
        .outerjoin(SourceFile, SourceFile.id == SourceRecord.source_file_id)
        .where(JurisdictionClaim.subject_id.in_(ids))
        .order_by(JurisdictionClaim.subject_id, JurisdictionClaim.weight.desc(), JurisdictionClaim.id)
    )
    for claim in claim_rows:
        row, locator, path, sha256 = claim.row, claim.locator, claim.path, claim.sha256
        claims[claim.subject_id].append(
            {
                "source": claim.source,
                "value": claim.value,
                "country": claim.country,
                "region": claim.region,
                "weight": claim.weight,
                "ambiguous": claim.ambiguous,
                "note": claim.note,
                "record_id": claim.record_id,
                "file": path,
                "file_sha256": sha256,
                "row": row,
                "locator": locator,
            }
        )
    decisions = {
        d.subject_id: d
        for d in session.execute(
            select(
                SubjectJurisdiction.subject_id,
                SubjectJurisdiction.status,
                SubjectJurisdiction.country,
                SubjectJurisdiction.region,
                SubjectJurisdiction.confidence,
                SubjectJurisdiction.reason,
                SubjectJurisdiction.decided_by,
                SubjectJurisdiction.decided_at,
                SubjectJurisdiction.disagreements,
            ).where(SubjectJurisdiction.subject_id.in_(ids))
        )
    }
    risks = {
        r.subject_id: r
        for r in session.execute(
            select(
                RiskAssessment.subject_id,
                RiskAssessment.tier,
                RiskAssessment.score,
                RiskAssessment.summary,
                RiskAssessment.assessed_at,
                RiskAssessment.factors,
            ).where(RiskAssessment.subject_id.in_(ids))
        )
    }
    media: dict[int, dict[str, int]] = defaultdict(dict)
    media_rows = session.execute(
        select(MediaItem.owner_subject_id, MediaVerdict.verdict, func.count())
        .outerjoin(MediaVerdict, MediaVerdict.media_item_id == MediaItem.id)
        .where(MediaItem.owner_subject_id.in_(ids))
        .group_by(MediaItem.owner_subject_id, MediaVerdict.verdict)
    )
    for owner, verdict, count in media_rows:
        if owner is not None:
            media[owner][verdict or "not_triaged"] = int(count)

    out: dict[int, dict[str, Any]] = {}
    for subject_id in ids:
        subject = subjects.get(subject_id)
        if subject is None:
            continue
        decision = decisions.get(subject_id)
        risk = risks.get(subject_id)
        verdicts = dict(sorted(media[subject_id].items()))
        out[subject_id] = {
            "originator_subject_id": subject_id,
            "full_name": subject.full_name,
            "given_name": subject.given_name,
            "family_name": subject.family_name,
            "date_of_birth": subject.date_of_birth,
            "attributes": {k: _clean_value(v) for k, v in sorted((subject.attributes or {}).items()) if v},
            "identifiers": [
                {"kind": kind, "value": value, "sources": sources}
                for (kind, value), sources in sorted(identifiers[subject_id].items())
            ],
            "records": by_subject.get(subject_id, []),
            "jurisdiction": _jurisdiction(decision, claims.get(subject_id, [])),
            "risk": _risk(risk, records),
            "media": {"items": sum(verdicts.values()), "verdicts": verdicts},
        }
    return out


def _jurisdiction(decision: Any, claims: list[dict[str, Any]]) -> dict[str, Any]:
    if decision is None:
        return {"status": "unlocated", "claims": claims, "disagreements": []}
    return {
        "status": decision.status,
        "country": decision.country,
        "region": decision.region,
        "confidence": decision.confidence,
        "reason": decision.reason,
        "decided_by": decision.decided_by,
        "decided_at": decision.decided_at.isoformat(),
        "claims": claims,
        "disagreements": list(decision.disagreements or []),
    }


def _risk(risk: Any, records: dict[int, dict[str, Any]]) -> dict[str, Any] | None:
    if risk is None:
        return None
    factors = []
    for factor in risk.factors or []:
        evidence = []
        for item in factor.get("evidence") or []:
            if not isinstance(item, dict):
                evidence.append({"text": str(item)})
                continue
            kept = {k: item[k] for k in _EVIDENCE_KEYS if item.get(k) is not None}
            record_id = item.get("record_id")
            record = records.get(record_id) if isinstance(record_id, int) else None
            if record is not None:
                kept.update(file=record["file"], row=record["row"], locator=record["locator"])
            evidence.append(kept)
        factors.append(
            {
                "factor": str(factor.get("factor", "")),
                "label": str(factor.get("label") or factor.get("factor", "")),
                "points": factor.get("points"),
                "detail": factor.get("detail"),
                "evidence": evidence,
            }
        )
    return {
        "tier": risk.tier,
        "tier_label": TIER_LABELS.get(risk.tier, risk.tier),
        "score": risk.score,
        "summary": risk.summary,
        "assessed_at": risk.assessed_at.isoformat(),
        "factors": factors,
    }
