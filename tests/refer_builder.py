"""Invented people placed and ranked directly in a store (the rows locate and rank write), and a second
installation, so refer, keys and packages can be tested without running the earlier stages."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, make_url, select, text
from sqlalchemy.orm import Session

from threadline.core.db import Store, open_store
from threadline.core.settings import Settings
from threadline.directory import seed_national_agencies
from threadline.model import (
    Agency,
    Identifier,
    JurisdictionClaim,
    MediaItem,
    MediaVerdict,
    Operation,
    RiskAssessment,
    RuleSet,
    Seizure,
    SourceFile,
    SourceRecord,
    Subject,
    SubjectJurisdiction,
    SubjectMember,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OPERATION = "Operation Lantern"


@dataclass
class Person:
    given: str
    family: str
    country: str | None = "DE"
    region: str | None = None
    tier: str | None = "high"
    score: float = 60.0
    placed: bool | None = True  # None: locate has not decided
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    city: str | None = "Springfield"
    media: dict[str, int] = field(default_factory=dict)


def agency(session: Session, code: str) -> Agency:
    return session.scalars(select(Agency).where(Agency.code == code)).one()


def build_operation(
    session: Session,
    people: list[Person],
    *,
    name: str = OPERATION,
    originator: str | None = "CA",
    file_name: str = "customers.csv",
) -> dict[str, int]:
    """One seizure with one customer file; a record, subject, jurisdiction and risk per person. Returns
    {"Given Family": subject id}."""
    seed_national_agencies(session, actor="test")
    operation = session.scalars(select(Operation).where(Operation.name == name)).first()
    if operation is None:
        operation = Operation(
            name=name,
            description="An invented operation for tests",
            originating_agency_id=agency(session, originator).id if originator else None,
        )
        session.add(operation)
        session.flush()
    seizure = Seizure(operation_id=operation.id, label=f"seizure {file_name}", source_path=f"/evidence/{file_name}")
    session.add(seizure)
    session.flush()
    source = SourceFile(
        seizure_id=seizure.id,
        path=file_name,
        sha256=hashlib.sha256(file_name.encode()).hexdigest(),
        size=4096,
        format="csv",
        record_type="customer",
        status="done",
    )
    session.add(source)
    session.flush()
    rules = session.scalars(select(RuleSet).where(RuleSet.kind == "rank")).first()
    if rules is None:
        rules = RuleSet(kind="rank", version=1, content={}, source_text="", sha256="0" * 64, actor="test")
        session.add(rules)
        session.flush()
    ids: dict[str, int] = {}
    for row, person in enumerate(people, start=2):
        fields = {
            "record_id": f"C{row:04d}",
            "given_name": person.given,
            "family_name": person.family,
            "full_name": f"{person.given} {person.family}",
            "date_of_birth": "1971-04-03",
            "email": person.emails[0] if person.emails else None,
            "phone": person.phones[0] if person.phones else None,
            "street": "1 Invented Road",
            "city": person.city,
            "postal_code": "12345",
            "country": person.country,
            "occupation": "teacher",
        }
        record = SourceRecord(
            source_file_id=source.id,
            row=row,
            locator=str(row),
            record_type="customer",
            record_key=fields["record_id"],
            raw={k: v for k, v in fields.items() if v},
            fields={k: v for k, v in fields.items() if v},
        )
        session.add(record)
        session.flush()
        for email in person.emails:
            session.add(Identifier(record_id=record.id, kind="email", value=email))
        for phone in person.phones:
            session.add(Identifier(record_id=record.id, kind="phone", value=phone))
        subject = Subject(
            status="active",
            member_count=1,
            given_name=person.given,
            family_name=person.family,
            full_name=f"{person.given} {person.family}",
            date_of_birth="1971-04-03",
            country=person.country,
            attributes={"occupation": "teacher", "city": person.city},
            identifiers={"email": person.emails, "phone": person.phones},
        )
        session.add(subject)
        session.flush()
        session.add(SubjectMember(record_id=record.id, subject_id=subject.id, match_probability=None))
        if person.placed is not None and person.country:
            session.add(
                JurisdictionClaim(
                    subject_id=subject.id,
                    record_id=record.id,
                    source="address_country",
                    value=person.country,
                    country=person.country,
                    region=person.region,
                    weight=1.0,
                    ambiguous=False,
                )
            )
            session.add(
                SubjectJurisdiction(
                    subject_id=subject.id,
                    status="placed" if person.placed else "unplaced",
                    country=person.country if person.placed else None,
                    region=person.region if person.placed else None,
                    confidence=0.95 if person.placed else 0.3,
                    agency_id=agency(session, person.country).id if person.placed else None,
                    reason=None if person.placed else "claims disagree",
                    disagreements=[],
                    claims=1,
                )
            )
        if person.tier is not None:
            session.add(
                RiskAssessment(
                    subject_id=subject.id,
                    rule_set_id=rules.id,
                    tier=person.tier,
                    score=person.score,
                    factors=[
                        {
                            "factor": "occupation_access",
                            "label": "Works with children (teacher)",
                            "points": 30,
                            "detail": "occupation: teacher",
                            "evidence": [{"record_id": record.id, "text": "occupation 'teacher'"}],
                        },
                        {
                            "factor": "known_media",
                            "label": "Known material among orders",
                            "points": 20,
                            "detail": None,
                            "evidence": [{"media_item_id": 1, "text": "2 known-exact items"}],
                        },
                    ],
                    summary="teacher; known material",
                )
            )
        for verdict, count in person.media.items():
            for n in range(count):
                item = MediaItem(
                    seizure_id=seizure.id,
                    path=f"media/{subject.id}-{verdict}-{n}.jpg",
                    sha256=hashlib.sha256(f"{subject.id}{verdict}{n}".encode()).hexdigest(),
                    owner_subject_id=subject.id,
                )
                session.add(item)
                session.flush()
                session.add(MediaVerdict(media_item_id=item.id, verdict=verdict, max_distance=31, min_quality=50))
        ids[f"{person.given} {person.family}"] = subject.id
    session.flush()
    return ids


@contextmanager
def second_store(db_url: str, home: Path) -> Iterator[Store]:
    """Another installation on the same kind of database as `db_url` (a new SQLite file or PostgreSQL
    database) with its own THREADLINE_HOME."""
    if db_url.startswith("sqlite"):
        url = f"sqlite:///{home / 'threadline.db'}"
        store = open_store(Settings(home=home, database_url=url))
        try:
            yield store
        finally:
            store.dispose()
        return
    name = f"threadline_test_{uuid.uuid4().hex[:12]}"
    admin_url = make_url(db_url).set(database="postgres")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    store = open_store(
        Settings(home=home, database_url=make_url(db_url).set(database=name).render_as_string(hide_password=False))
    )
    try:
        yield store
    finally:
        store.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def crash_seal(*_args: object) -> None:
    """A sealing worker that dies abruptly (for the refer test of a broken worker pool)."""
    import os

    os._exit(3)
