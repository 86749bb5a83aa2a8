"""The rank stage on a store built record by record: each factor with its evidence, tiers and floors, media
linking, earlier operations, operation scope, idempotent reruns, retired subjects and the subject view
(SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import itertools
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from threadline.core.db import Store
from threadline.core.errors import InputError
from threadline.model import (
    AuditEvent,
    MediaItem,
    MediaVerdict,
    Operation,
    RiskAssessment,
    RuleSet,
    Seizure,
    SourceFile,
    SourceRecord,
    StageRun,
    Subject,
    SubjectMember,
)
from threadline.rank import RankSettings, assessment_view, default_rules_text, rank

_ids = itertools.count(1)


class World:
    """A tiny store: operations, files, records, subjects and media, written straight through the model."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.files: dict[tuple[str, str], int] = {}
        self.seizures: dict[str, int] = {}

    def _file(self, operation: str, path: str) -> int:
        key = (operation, path)
        if key not in self.files:
            with self.store.session() as session:
                op = session.scalars(select(Operation).where(Operation.name == operation)).first()
                if op is None:
                    op = Operation(name=operation)
                    session.add(op)
                    session.flush()
                if operation not in self.seizures:
                    seizure = Seizure(operation_id=op.id, label=operation, source_path=f"/evidence/{operation}")
                    session.add(seizure)
                    session.flush()
                    self.seizures[operation] = seizure.id
                f = SourceFile(
                    seizure_id=self.seizures[operation],
                    path=path,
                    sha256=hashlib.sha256(path.encode()).hexdigest(),
                    size=1,
                )
                session.add(f)
                session.flush()
                self.files[key] = f.id
        return self.files[key]

    def record(self, record_type: str, fields: dict[str, Any], *, path: str = "customers.csv", operation: str = "Op",
               locator: str | None = None) -> int:  # fmt: skip
        file_id = self._file(operation, path)
        n = next(_ids)
        with self.store.session() as session:
            r = SourceRecord(
                source_file_id=file_id,
                row=n + 1,
                locator=locator or str(n + 1),
                record_type=record_type,
                raw={},
                fields=fields,
            )
            session.add(r)
            session.flush()
            return r.id

    def subject(self, records: list[int], **identifiers: list[str]) -> int:
        with self.store.session() as session:
            s = Subject(attributes={}, identifiers=identifiers, member_count=len(records))
            session.add(s)
            session.flush()
            for r in records:
                session.add(SubjectMember(record_id=r, subject_id=s.id))
            return s.id

    def media(self, path: str, verdict: str | None, *, operation: str = "Op", custodian: str | None = None,
              category: str | None = None, series: str | None = None, owner: int | None = None) -> int:  # fmt: skip
        self._file(operation, "media_hashes.csv")
        with self.store.session() as session:
            item = MediaItem(
                seizure_id=self.seizures[operation],
                path=path,
                sha256=hashlib.sha256(path.encode()).hexdigest(),
                custodian=custodian,
                owner_subject_id=owner,
            )
            session.add(item)
            session.flush()
            if verdict is not None:
                session.add(
                    MediaVerdict(
                        media_item_id=item.id,
                        verdict=verdict,
                        hashset="known" if verdict.startswith("known") else None,
                        category=category,
                        series=series,
                        max_distance=31,
                        min_quality=50,
                    )
                )
            return item.id


def assessment(store: Store, subject: int) -> dict[str, Any]:
    with store.session() as session:
        view = assessment_view(session, subject)
    assert view is not None
    return view


def factor(view: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((f for f in view["factors"] if f["factor"] == name), None)


def customer(world: World, occupation: str | None = None, **fields: Any) -> int:
    return world.record("customer", {"occupation": occupation, **fields} if occupation else fields)


def test_access_to_children_alone_lands_in_high_with_the_record_that_shows_it(store: Store) -> None:
    world = World(store)
    teacher_record = customer(world, "Grundschullehrerin", full_name="Anna Beispiel")
    teacher = world.subject(
        [
            teacher_record,
            world.record("order", {"date": "2013-01-02", "amount": "20", "currency": "EUR"}, path="orders.xlsx"),
        ]
    )
    clerk = world.subject(
        [customer(world, "Buchhalterin"), world.record("order", {"date": "2013-01-03"}, path="orders.xlsx")]
    )
    report = rank(store, RankSettings(), actor="test")
    assert report.subjects == 2 and report.factors["access_to_children"] == 1
    view = assessment(store, teacher)
    assert view["tier"] == "high" and view["tier_label"] == "High" and view["score"] >= 60
    access = factor(view, "access_to_children")
    assert access is not None and access["floor"] == "high" and "Teaching" in access["detail"]
    [evidence] = access["evidence"]
    assert evidence["record_id"] == teacher_record and evidence["file"] == "customers.csv"
    assert "Grundschullehrerin" in evidence["text"] and evidence["row"] > 0
    low = assessment(store, clerk)
    assert low["tier"] == "low" and factor(low, "access_to_children") is None


def test_a_floor_lifts_the_tier_even_when_the_points_are_set_low(store: Store, tmp_path: Path) -> None:
    world = World(store)
    nanny = world.subject([customer(world, "Nanny")])
    rules = tmp_path / "rules.yaml"
    rules.write_text(default_rules_text().replace("    points: 60\n", "    points: 5\n", 1), encoding="utf-8")
    report = rank(store, RankSettings(rules=rules), actor="test")
    assert report.rules_loaded and report.rules_version == 1 and report.lifted_by_floor == 1
    view = assessment(store, nanny)
    assert (
        view["score"] == 5
        and view["tier"] == "high"
        and "At least High because of Access to children" in view["summary"]
    )


def test_novel_media_by_custodian_and_upload_folder_is_production_and_sets_the_owner(store: Store) -> None:
    world = World(store)
    uploader = world.subject([customer(world, "engineer", username="dark_fox")], username=["dark_fox"])
    mailer = world.subject([customer(world, "chef", email=["x.y@example.org"])], email=["x.y@example.org"])
    bystander = world.subject([customer(world, "farmer")])
    by_custodian = world.media("media/uploads/dark_fox/a.jpg", "novel", custodian="Dark_Fox")
    by_folder = world.media("media/uploads/x.y@example.org/b.jpg", "low-quality")
    stock = world.media("media/stock/c.jpg", "novel")
    report = rank(store, RankSettings(), actor="test")
    assert report.media_linked == 2 and report.media_owners_set == 2
    view = assessment(store, uploader)
    production = factor(view, "production")
    assert production is not None and view["tier"] == "very_high"
    assert production["evidence"][0]["media_item_id"] == by_custodian
    assert "custodian 'Dark_Fox'" in production["evidence"][0]["text"]
    unconfirmed = factor(assessment(store, mailer), "production")
    assert unconfirmed is not None and "could not call known or novel" in unconfirmed["detail"]
    assert assessment(store, mailer)["tier"] == "high"  # the production floor
    assert assessment(store, bystander)["tier"] == "low"
    with store.session() as session:
        owners = dict(session.execute(select(MediaItem.id, MediaItem.owner_subject_id)).all())
    assert owners == {by_custodian: uploader, by_folder: mailer, stock: None}


def test_an_owner_set_by_an_analyst_counts_and_follows_a_merge(store: Store) -> None:
    world = World(store)
    survivor = world.subject([customer(world, "engineer")])
    with store.session() as session:
        old = Subject(attributes={}, identifiers={}, status="retired", merged_into_id=survivor)
        session.add(old)
        session.flush()
        old_id = old.id
    item = world.media("devices/laptop/img1.png", "novel", owner=old_id)
    rank(store, RankSettings(), actor="test")
    assert factor(assessment(store, survivor), "production") is not None
    with store.session() as session:
        assert session.get(MediaItem, item).owner_subject_id == survivor  # type: ignore[union-attr]


def test_known_material_gives_severity_by_category_and_series_count_in_volume(store: Store) -> None:
    world = World(store)
    collector = world.subject([customer(world, "mechanic", username="coll")], username=["coll"])
    for i, (category, series) in enumerate([("1", "S-1"), ("2", "S-2"), ("2", "S-1"), (None, None)]):
        world.media(f"media/uploads/coll/{i}.jpg", "known-exact", category=category, series=series)
    rank(store, RankSettings(), actor="test")
    view = assessment(store, collector)
    severity = factor(view, "severity")
    assert severity is not None and severity["points"] == 25 + 2 and "most severe category 1" in severity["detail"]
    assert severity["evidence_total"] == 4
    volume = factor(view, "volume")
    assert volume is not None and "2 known series" in volume["detail"] and volume["points"] == 3
    assert factor(view, "production") is None  # known material is not new material


def test_volume_counts_orders_spend_years_and_unmatched_payments(store: Store) -> None:
    world = World(store)
    records = [customer(world, "retired")]
    for i in range(12):
        records.append(
            world.record(
                "order",
                {
                    "record_id": f"O{i}",
                    "date": f"{2009 + i // 4}-0{1 + i % 4}-15",
                    "amount": "100.00",
                    "currency": "USD",
                },
                path="orders.xlsx",
            )
        )
    # Paying for an order already counted adds nothing; a payment without a known order counts as one more.
    records.append(
        world.record("payment", {"amount": "100", "currency": "USD", "extra": {"order_id": "O3"}}, path="p.jsonl")
    )
    records.append(world.record("payment", {"date": "2012-06-01", "amount": "50", "currency": "XYZ"}, path="p.jsonl"))
    buyer = world.subject(records)
    report = rank(store, RankSettings(as_of=date(2012, 6, 20)), actor="test")
    view = assessment(store, buyer)
    volume = factor(view, "volume")
    assert volume is not None
    assert volume["detail"].startswith("13 order(s)") and "1,110.00 EUR" in volume["detail"]
    assert "active 3.4 year(s)" in volume["detail"]
    assert volume["points"] == 14 + 10 + 6  # 10+ orders, 1,000+ EUR, 2+ years
    assert volume["evidence_total"] == 13 and volume["evidence"][0]["file"] == "orders.xlsx"
    assert report.unconverted_currencies == {"XYZ": 1} and report.as_of == "2012-06-20"
    recency = factor(view, "recency")
    assert recency is not None and recency["points"] == 10 and "19 day(s) before 2012-06-20" in recency["detail"]


def test_recency_is_measured_from_the_latest_activity_in_the_data(store: Store) -> None:
    world = World(store)
    old = world.subject([world.record("order", {"date": "2010-01-01"}, path="orders.xlsx")])
    recent = world.subject([world.record("order", {"date": "2013-12-01"}, path="orders.xlsx")])
    report = rank(store, RankSettings(), actor="test")
    assert report.as_of == "2013-12-01"
    assert factor(assessment(store, old), "recency") is None
    assert factor(assessment(store, recent), "recency")["points"] == 10  # type: ignore[index]


def test_attachments_the_subject_sent_are_production_and_a_known_one_is_severity(store: Store) -> None:
    world = World(store)
    known_sha = hashlib.sha256(b"media/stock/k.jpg").hexdigest()
    world.media("media/stock/k.jpg", "known-exact", category="1")
    message = {
        "message_id": "<m1@shop>",
        "date": "2013-03-01T10:00:00+01:00",
        "sender": ["eve@example.org"],
        "attachments": [
            {"filename": "new.jpg", "content_type": "image/jpeg", "size": 10, "sha256": "ab" * 32},
            {"filename": "k.jpg", "content_type": "image/jpeg", "size": 10, "sha256": known_sha},
            {"filename": "invoice.pdf", "content_type": "application/pdf", "size": 10, "sha256": "cd" * 32},
        ],
    }
    msg = world.record("message", message, path="mail.mbox", locator="message 1")
    sender = world.record(
        "contact", {"email": ["eve@example.org"], "role": "sender", "message_id": "<m1@shop>"}, path="mail.mbox",
        locator="message 1 sender 1",
    )  # fmt: skip
    recipient = world.record(
        "contact", {"email": ["shop@example.org"], "role": "recipient", "message_id": "<m1@shop>"}, path="mail.mbox",
        locator="message 1 recipient 1",
    )  # fmt: skip
    eve = world.subject([customer(world, "engineer"), sender])
    shop = world.subject([recipient])
    rank(store, RankSettings(), actor="test")
    view = assessment(store, eve)
    production = factor(view, "production")
    assert production is not None and production["detail"] == "1 attachments sent, not in any known set"
    assert production["evidence"][0]["record_id"] == msg and "new.jpg" in production["evidence"][0]["text"]
    severity = factor(view, "severity")
    assert severity is not None and severity["points"] == 27 and "k.jpg" in severity["evidence"][0]["text"]
    assert view["tier"] == "very_high"
    assert factor(assessment(store, shop), "production") is None  # receiving is not sending


def test_identifiers_seen_in_another_operation_are_earlier_operation_hits(store: Store) -> None:
    world = World(store)
    before = world.record("customer", {"email": ["rex@example.org"]}, operation="Spade")
    world.subject([before], email=["rex@example.org"])
    now = world.record("customer", {"email": ["rex@example.org"], "occupation": "engineer"}, operation="Icarus")
    rex = world.subject([now], email=["rex@example.org"])
    with store.session() as session:
        session.execute(
            Operation.__table__.update().where(Operation.name == "Spade").values(created_at=_utc(2011, 1, 1))
        )
        session.execute(
            Operation.__table__.update().where(Operation.name == "Icarus").values(created_at=_utc(2014, 1, 1))
        )
    from threadline.model import Identifier

    with store.session() as session:
        session.add_all([Identifier(record_id=before, kind="email", value="rex@example.org"),
                         Identifier(record_id=now, kind="email", value="rex@example.org")])  # fmt: skip
    report = rank(store, RankSettings(operation="Icarus"), actor="test")
    assert report.subjects == 1 and report.operation == "Icarus"
    earlier = factor(assessment(store, rex), "earlier_operations")
    assert earlier is not None and earlier["points"] == 25 and "'Spade' (2011-01-01)" in earlier["detail"]
    assert earlier["evidence"][0]["record_id"] == before and "email rex@example.org" in earlier["evidence"][0]["text"]
    with store.session() as session:
        run = session.scalars(select(StageRun).where(StageRun.stage == "rank")).one()
        assert run.status == "done" and run.operation_id is not None and run.report["subjects"] == 1


def _utc(y: int, m: int, d: int) -> Any:
    from datetime import UTC, datetime

    return datetime(y, m, d, tzinfo=UTC)


def test_reruns_are_idempotent_and_retired_subjects_lose_their_assessment(store: Store) -> None:
    world = World(store)
    a = world.subject([customer(world, "teacher"), world.record("order", {"date": "2012-01-01"}, path="o.xlsx")])
    b = world.subject([customer(world, "plumber")])

    def snapshot() -> dict[int, tuple[str, float, Any, str | None]]:
        with store.session() as session:
            return {
                r.subject_id: (r.tier, r.score, r.factors, r.summary)
                for r in session.scalars(select(RiskAssessment)).all()
            }

    first = rank(store, RankSettings(), actor="test")
    before = snapshot()
    second = rank(store, RankSettings(), actor="test")
    assert snapshot() == before and second.tiers == first.tiers and second.removed == 0
    with store.session() as session:
        session.get(Subject, b).status = "retired"  # type: ignore[union-attr]
    third = rank(store, RankSettings(), actor="test")
    assert third.removed == 1 and set(snapshot()) == {a}
    with store.session() as session:
        assert assessment_view(session, b) is None
        assert session.scalar(select(func.count()).select_from(StageRun).where(StageRun.status == "done")) == 3
        assert session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "rank.run")) == 3
        assert session.scalar(select(func.count()).select_from(RuleSet)) == 1


def test_a_refused_rules_file_stops_the_run_and_keeps_the_ranking(store: Store, tmp_path: Path) -> None:
    world = World(store)
    s = world.subject([customer(world, "teacher")])
    rank(store, RankSettings(), actor="test")
    before = assessment(store, s)
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        default_rules_text().replace("  recency:\n", "  astrology:\n    points: 3\n  recency:\n"), encoding="utf-8"
    )
    with pytest.raises(InputError, match="unknown factor 'astrology'"):
        rank(store, RankSettings(rules=bad), actor="test")
    assert assessment(store, s) == before
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(RuleSet)) == 1
        assert session.scalar(select(func.count()).select_from(StageRun)) == 1


def test_an_operation_run_replaces_only_its_subjects(store: Store) -> None:
    world = World(store)
    here = world.subject([world.record("customer", {"occupation": "teacher"}, operation="A")])
    there = world.subject([world.record("customer", {"occupation": "teacher"}, operation="B")])
    rank(store, RankSettings(), actor="test")
    with store.session() as session:
        first_there = session.scalars(select(RiskAssessment).where(RiskAssessment.subject_id == there)).one().run_id
    report = rank(store, RankSettings(operation="A"), actor="test")
    assert report.subjects == 1
    with store.session() as session:
        runs = dict(session.execute(select(RiskAssessment.subject_id, RiskAssessment.run_id)).all())
    assert runs[there] == first_there and runs[here] == report.run_id


def test_a_file_matching_a_split_person_counts_for_both_parts_and_reruns_agree(store: Store) -> None:
    world = World(store)
    big = world.subject([customer(world, "engineer", username="fox"), customer(world, "engineer")], username=["fox"])
    small = world.subject([customer(world, "engineer", username="fox")], username=["fox"])
    chosen = world.subject([customer(world, "plumber")])
    split = world.media("media/uploads/fox/1.jpg", "novel", custodian="fox")
    by_hand = world.media("media/uploads/fox/2.jpg", "novel", custodian="fox", owner=chosen)
    first = rank(store, RankSettings(), actor="test")
    assert first.media_ambiguous == 2
    with store.session() as session:
        owners = dict(session.execute(select(MediaItem.id, MediaItem.owner_subject_id)).all())
    assert owners == {split: big, by_hand: chosen}  # the larger part; an owner set by hand stays
    tiers = {s: assessment(store, s)["tier"] for s in (big, small, chosen)}
    assert tiers == {big: "very_high", small: "very_high", chosen: "very_high"}
    second = rank(store, RankSettings(), actor="test")
    assert second.tiers == first.tiers and second.media_owners_set == 0
    assert {s: assessment(store, s)["tier"] for s in (big, small, chosen)} == tiers
