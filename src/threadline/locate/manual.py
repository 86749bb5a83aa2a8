"""What a coordinator does with jurisdictions: place a subject by hand, undo it, read the unplaced queue, and see
one subject's decision with every claim and the record it came from."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from threadline.core import audit
from threadline.core.errors import ConflictError, InputError, NotFoundError
from threadline.core.geo import country_name, require_country, require_region
from threadline.directory import national_agency, seed_national_agencies
from threadline.locate.decide import DEFAULT_MIN_CONFIDENCE, confidences, country_points, decide
from threadline.locate.places import subdivisions
from threadline.model import (
    Agency,
    JurisdictionClaim,
    SourceFile,
    SourceRecord,
    StageRun,
    Subject,
    SubjectJurisdiction,
    utcnow,
)


def _active_subject(session: Session, subject_id: int) -> Subject:
    subject = session.get(Subject, subject_id)
    if subject is None:
        raise NotFoundError(f"no subject {subject_id}: see `threadline export subjects` or `threadline unplaced`")
    if subject.status != "active":
        into = f" into subject {subject.merged_into_id}" if subject.merged_into_id else ""
        raise ConflictError(f"subject {subject_id} was retired (merged{into}): place the active subject instead")
    return subject


def set_jurisdiction(
    session: Session,
    subject_id: int,
    country: str,
    *,
    region: str | None = None,
    reason: str,
    actor: str,
) -> SubjectJurisdiction:
    """Place a subject by hand. Later locate runs keep this decision until `clear_jurisdiction`."""
    _active_subject(session, subject_id)
    if not reason or not reason.strip():
        raise InputError("give a reason (--reason TEXT): why this subject is placed there, for the audit trail")
    code = require_country(country)
    area = require_region(region, code) if region else None
    seed_national_agencies(session, actor=actor)
    agency = national_agency(session, code)
    claims = _claims(session, subject_id)
    points = country_points(claims)
    conf = confidences(points)
    disagreements = [
        {
            "country": c,
            "confidence": round(conf[c], 4),
            "points": round(points[c], 4),
            "sources": sorted({claim.source for claim in claims if claim.country == c}),
        }
        for c in sorted(conf, key=lambda c: (-conf[c], c))
        if c != code
    ]
    decision = session.get(SubjectJurisdiction, subject_id)
    if decision is None:
        decision = SubjectJurisdiction(subject_id=subject_id)
        session.add(decision)
    decision.status = "placed"
    decision.country = code
    decision.region = area
    decision.confidence = 1.0
    decision.agency_id = agency.id
    decision.reason = reason.strip()
    decision.disagreements = disagreements
    decision.claims = len(claims)
    decision.decided_by = actor
    decision.run_id = None
    decision.decided_at = utcnow()
    _drop_manual_claim(session, subject_id)
    session.add(
        JurisdictionClaim(
            subject_id=subject_id,
            record_id=None,
            source="manual",
            value=reason.strip()[:400],
            country=code,
            region=area,
            weight=0.0,
            ambiguous=False,
            note=f"placed by hand by {actor}: a decision, not evidence",
        )
    )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="jurisdiction.set",
        object_type="subject",
        object_id=subject_id,
        agency_id=agency.id,
        details={"country": code, "region": area, "reason": reason.strip()},
    )
    return decision


def clear_jurisdiction(session: Session, subject_id: int, *, actor: str) -> SubjectJurisdiction:
    """Undo a placement by hand: the subject is decided again from its claims, as locate would."""
    _active_subject(session, subject_id)
    decision = session.get(SubjectJurisdiction, subject_id)
    if decision is None or not decision.decided_by:
        raise ConflictError(f"subject {subject_id} was not placed by hand: nothing to clear")
    _drop_manual_claim(session, subject_id)
    claims = _claims(session, subject_id)
    automatic = decide(claims, _last_min_confidence(session))
    decision.status = automatic.status
    decision.country = automatic.country
    decision.region = automatic.region
    decision.confidence = automatic.confidence
    decision.agency_id = national_agency(session, automatic.country).id if automatic.country else None
    decision.reason = automatic.reason
    decision.disagreements = automatic.disagreements
    decision.claims = automatic.claims
    decision.decided_by = None
    decision.decided_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="jurisdiction.clear",
        object_type="subject",
        object_id=subject_id,
        details={"status": automatic.status, "country": automatic.country},
    )
    return decision


def _drop_manual_claim(session: Session, subject_id: int) -> None:
    session.execute(
        delete(JurisdictionClaim).where(
            JurisdictionClaim.subject_id == subject_id, JurisdictionClaim.source == "manual"
        )
    )


def _claims(session: Session, subject_id: int) -> list[JurisdictionClaim]:
    return list(
        session.scalars(
            select(JurisdictionClaim)
            .where(JurisdictionClaim.subject_id == subject_id, JurisdictionClaim.source != "manual")
            .order_by(JurisdictionClaim.id)
        )
    )


def _last_min_confidence(session: Session) -> float:
    last = session.scalars(
        select(StageRun).where(StageRun.stage == "locate", StageRun.status == "done").order_by(StageRun.id.desc())
    ).first()
    value = (last.inputs or {}).get("min_confidence") if last is not None else None
    return float(value) if isinstance(value, int | float) else DEFAULT_MIN_CONFIDENCE


def unplaced_queue(session: Session, *, limit: int = 100, actor: str | None = None) -> list[dict[str, Any]]:
    """Active subjects waiting for a coordinator, those with most evidence for one country first.

    Names are personal data: when `actor` is given the read is audited."""
    rows = session.execute(
        select(SubjectJurisdiction, Subject.full_name, Subject.member_count)
        .join(Subject, Subject.id == SubjectJurisdiction.subject_id)
        .where(SubjectJurisdiction.status == "unplaced", Subject.status == "active")
        .order_by(SubjectJurisdiction.confidence.desc(), SubjectJurisdiction.subject_id)
        .limit(limit)
    ).all()
    out = [
        {
            "subject_id": decision.subject_id,
            "name": name,
            "records": members,
            "claims": decision.claims,
            "confidence": decision.confidence,
            "reason": decision.reason,
            "candidates": [
                {"country": d.get("country"), "confidence": d.get("confidence"), "sources": d.get("sources", [])}
                for d in (decision.disagreements or [])[:3]
            ],
        }
        for decision, name, members in rows
    ]
    if actor is not None:
        shown = [r["subject_id"] for r in out]
        audit.record(session, actor=actor, action="jurisdiction.unplaced_view", details={"subjects": shown})
    return out


def unplaced_count(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(SubjectJurisdiction)
            .join(Subject, Subject.id == SubjectJurisdiction.subject_id)
            .where(SubjectJurisdiction.status == "unplaced", Subject.status == "active")
        )
        or 0
    )


def jurisdiction_view(session: Session, subject_id: int) -> dict[str, Any]:
    """One subject's decision and every claim with the record (file, row) it came from. Not audited here: the
    caller that shows it (subjects show, jurisdiction show) records the read."""
    if session.get(Subject, subject_id) is None:
        raise NotFoundError(f"no subject {subject_id}: see `threadline export subjects`")
    decision = session.get(SubjectJurisdiction, subject_id)
    rows = session.execute(
        select(JurisdictionClaim, SourceRecord.record_type, SourceRecord.row, SourceRecord.locator, SourceFile.path)
        .outerjoin(SourceRecord, SourceRecord.id == JurisdictionClaim.record_id)
        .outerjoin(SourceFile, SourceFile.id == SourceRecord.source_file_id)
        .where(JurisdictionClaim.subject_id == subject_id)
        .order_by(JurisdictionClaim.weight.desc(), JurisdictionClaim.id)
    ).all()
    claims = [
        {
            "claim_id": claim.id,
            "source": claim.source,
            "value": claim.value,
            "country": claim.country,
            "region": claim.region,
            "weight": claim.weight,
            "ambiguous": claim.ambiguous,
            "note": claim.note,
            "record": None
            if claim.record_id is None
            else {"record_id": claim.record_id, "record_type": rtype, "file": path, "row": row, "locator": locator},
        }
        for claim, rtype, row, locator, path in rows
    ]
    view: dict[str, Any] = {"subject_id": subject_id, "decision": None, "claims": claims}
    if decision is not None:
        agency = session.get(Agency, decision.agency_id) if decision.agency_id else None
        region = subdivisions().get(decision.region) if decision.region else None
        view["decision"] = {
            "status": decision.status,
            "country": decision.country,
            "country_name": country_name(decision.country) if decision.country else None,
            "region": decision.region,
            "region_name": region.name if region else None,
            "confidence": decision.confidence,
            "agency": None if agency is None else {"id": agency.id, "code": agency.code, "name": agency.name},
            "reason": decision.reason,
            "disagreements": decision.disagreements,
            "claims": decision.claims,
            "decided_by": decision.decided_by,
            "decided_at": decision.decided_at.isoformat(),
            "run_id": decision.run_id,
        }
    return view
