"""A small, invented world for the web tests: agencies in three countries, one operation, three people with
records, identifiers, jurisdiction, ranking, media verdicts and leads, and one user per role per agency.

Everyone here is made up. Leads are created and sent through `refer.events` and moved through `track.lifecycle`,
the same code the pipeline uses."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from threadline.core.db import Store
from threadline.directory import import_agencies, national_agency, seed_national_agencies
from threadline.directory.users import hash_password
from threadline.model import (
    ROLES,
    Identifier,
    JurisdictionClaim,
    Lead,
    MediaItem,
    MediaVerdict,
    Operation,
    ReviewPair,
    RiskAssessment,
    RuleSet,
    Seizure,
    SourceFile,
    SourceRecord,
    Subject,
    SubjectJurisdiction,
    SubjectLink,
    SubjectMember,
    User,
    utcnow,
)
from threadline.refer.events import append_event, set_clocks
from threadline.track import lifecycle
from threadline.web.auth import mint_token

PASSWORD = "correct horse battery"
AGENCIES = ("CA", "FR", "FRREG", "DE")  # originator, receiving national, a region below it, unrelated


@dataclass
class World:
    agency_ids: dict[str, int] = field(default_factory=dict)
    agency_codes: dict[str, str] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)  # "role@AGENCY" -> user id
    operation_id: int = 0
    subjects: dict[str, int] = field(default_factory=dict)
    leads: dict[str, int] = field(default_factory=dict)
    records: dict[str, int] = field(default_factory=dict)
    pair_id: int = 0
    victim_user_id: int = 0
    victim_token_id: int = 0
    victim_token: str = ""


def username(role: str, agency: str) -> str:
    return f"{role}-{agency.lower()}"


def _person(
    session: Session,
    source: SourceFile,
    row: int,
    key: str,
    given: str,
    family: str,
    email: str,
    phone: str,
    country: str,
) -> tuple[Subject, SourceRecord]:
    fields = {
        "given_name": given,
        "family_name": family,
        "full_name": f"{given} {family}",
        "email": email,
        "phone": phone,
        "country": country,
        "date_of_birth": "1980-02-03",
    }
    record = SourceRecord(
        source_file_id=source.id,
        row=row,
        locator=str(row),
        record_type="customer",
        record_key=key,
        raw={"Name": f"{given} {family}", "Email": email},
        fields=fields,
    )
    session.add(record)
    session.flush()
    session.add_all(
        [
            Identifier(record_id=record.id, kind="email", value=email),
            Identifier(record_id=record.id, kind="phone", value=phone),
        ]
    )
    subject = Subject(
        member_count=1,
        given_name=given,
        family_name=family,
        full_name=f"{given} {family}",
        country=country,
        date_of_birth="1980-02-03",
        attributes=fields,
        identifiers={"email": [email], "phone": [phone]},
    )
    session.add(subject)
    session.flush()
    session.add(SubjectMember(record_id=record.id, subject_id=subject.id, match_probability=None))
    return subject, record


def _lead(
    session: Session,
    subject: Subject,
    agency_id: int,
    origin_id: int,
    operation_id: int,
    country: str,
    tier: str,
    score: float,
) -> Lead:
    now = utcnow()
    lead = Lead(
        uid=str(uuid.uuid4()),
        direction="outgoing",
        operation_id=operation_id,
        subject_id=subject.id,
        agency_id=agency_id,
        originating_agency_id=origin_id,
        hop=0,
        country=country,
        tier=tier,
        score=score,
        handling_code="H0",
        status="created",
        escalation_level=0,
        arrests=0,
        charges=0,
        children_safeguarded=0,
        created_at=now,
        updated_at=now,
    )
    set_clocks(lead, None, now)
    session.add(lead)
    session.flush()
    append_event(session, lead, "created", actor="test", agency_id=origin_id, at=now)
    append_event(session, lead, "sent", actor="test", agency_id=origin_id, at=now)
    return lead


def build_world(store: Store, tmp_path: Path, *, roles: tuple[str, ...] = ROLES) -> World:
    world = World()
    with store.session() as session:
        seed_national_agencies(session, actor="test")
        agencies_file = tmp_path / "agencies.yaml"
        agencies_file.write_text(
            "agencies:\n  - {name: Police Régionale Bretagne, country: FR, region: FR-BRE, code: FRREG}\n",
            encoding="utf-8",
        )
        import_agencies(session, agencies_file, actor="test")
        for key in AGENCIES:
            agency = national_agency(session, key) if len(key) == 2 else None
            if agency is None:
                from threadline.directory import find_agency

                agency = find_agency(session, key)
            world.agency_ids[key] = agency.id
            world.agency_codes[key] = agency.code
        digest = hash_password(PASSWORD)
        for key in AGENCIES:
            for role in roles:
                user = User(
                    username=username(role, key),
                    display_name=f"{role} at {key}",
                    agency_id=world.agency_ids[key],
                    roles=[role],
                    password_hash=digest,
                    disabled=False,
                )
                session.add(user)
                session.flush()
                world.users[f"{role}@{key}"] = user.id
        victim = User(
            username="victim",
            agency_id=world.agency_ids["DE"],
            roles=["investigator"],
            password_hash=digest,
            disabled=False,
        )
        session.add(victim)
        session.flush()
        world.victim_user_id = victim.id
        world.victim_token, token_row = mint_token(session, "victim", "test client", actor="test")
        world.victim_token_id = token_row.id

        operation = Operation(name="Spade", description="invented", originating_agency_id=world.agency_ids["CA"])
        session.add(operation)
        session.flush()
        world.operation_id = operation.id
        seizure = Seizure(operation_id=operation.id, label="server image", source_path="/evidence/server")
        session.add(seizure)
        session.flush()
        source = SourceFile(
            seizure_id=seizure.id,
            path="customers.csv",
            sha256="ab" * 32,
            size=1234,
            format="csv",
            encoding="utf-8",
            record_type="customer",
            status="done",
        )
        session.add(source)
        session.flush()
        alice, alice_rec = _person(
            session, source, 2, "C1", "Alice", "Martin", "alice@example.invalid", "+33612345678", "FR"
        )
        bob, bob_rec = _person(
            session, source, 3, "C2", "Bob", "Schmidt", "bob@example.invalid", "+4915112345678", "DE"
        )
        carl, carl_rec = _person(
            session, source, 4, "C3", "Carl", "Dupont", "carl@example.invalid", "+33698765432", "FR"
        )
        # A near-duplicate of Alice waiting for review.
        _, alice2_rec = _person(
            session, source, 5, "C4", "Alicia", "Martin", "alice@example.invalid", "+33612345678", "FR"
        )
        world.subjects = {"alice": alice.id, "bob": bob.id, "carl": carl.id}
        world.records = {"alice": alice_rec.id, "alice2": alice2_rec.id, "bob": bob_rec.id, "carl": carl_rec.id}
        pair = ReviewPair(
            record_a_id=alice_rec.id,
            record_b_id=alice2_rec.id,
            match_probability=0.7,
            match_weight=1.2,
            status="pending",
        )
        session.add(pair)
        session.add(
            SubjectLink(
                subject_a_id=alice.id,
                subject_b_id=carl.id,
                kind="payment",
                value="order 17",
                record_ids=[alice_rec.id, carl_rec.id],
                evidence_count=2,
            )
        )
        session.add(
            SubjectLink(
                subject_a_id=alice.id,
                subject_b_id=bob.id,
                kind="phone",
                value="+33612345678",
                record_ids=[alice_rec.id, bob_rec.id],
                evidence_count=1,
            )
        )
        session.add(
            JurisdictionClaim(
                subject_id=alice.id,
                record_id=alice_rec.id,
                source="phone",
                value="+33612345678",
                country="FR",
                weight=0.9,
            )
        )
        session.add(
            SubjectJurisdiction(
                subject_id=alice.id,
                status="placed",
                country="FR",
                confidence=0.95,
                agency_id=world.agency_ids["FR"],
                disagreements=[],
                claims=1,
            )
        )
        rules = RuleSet(
            kind="rank", scope="global", version=1, content={}, source_text="{}", sha256="0" * 64, actor="test"
        )
        session.add(rules)
        session.flush()
        session.add(
            RiskAssessment(
                subject_id=alice.id,
                rule_set_id=rules.id,
                tier="very_high",
                score=91.0,
                factors=[
                    {
                        "factor": "occupation",
                        "label": "Works with children",
                        "points": 40,
                        "evidence": [{"record_id": alice_rec.id, "text": "occupation: teacher"}],
                    }
                ],
                summary="works with children",
            )
        )
        item = MediaItem(
            seizure_id=seizure.id,
            path="media/0001.bin",
            size=10,
            sha256="cd" * 32,
            owner_subject_id=alice.id,
            origin="list",
        )
        session.add(item)
        session.flush()
        session.add(MediaVerdict(media_item_id=item.id, verdict="known-exact", max_distance=31, min_quality=50))
        session.add(pair)
        session.flush()
        world.pair_id = pair.id

        ca, fr, de = world.agency_ids["CA"], world.agency_ids["FR"], world.agency_ids["DE"]
        l_fr = _lead(session, alice, fr, ca, operation.id, "FR", "very_high", 91.0)
        l_de = _lead(session, bob, de, ca, operation.id, "DE", "medium", 40.0)
        l_carl = _lead(session, carl, fr, ca, operation.id, "FR", "high", 70.0)
        lifecycle.acknowledge(session, l_carl, actor="test")
        from threadline.model import Agency

        regional = session.get(Agency, world.agency_ids["FRREG"])
        assert regional is not None
        l_reg = lifecycle.assign(session, l_carl, regional, actor="test")
        session.flush()
        world.leads = {"fr": l_fr.id, "de": l_de.id, "carl": l_carl.id, "reg": l_reg.id}
        # An overdue lead in DE to show on the dashboard.
        l_de.due_at = utcnow() - timedelta(hours=5)
    return world
