"""rank's and locate's fast paths held equal to the slower twins they replaced: rows read on the driver's cursor
against SQLAlchemy's rows, the per-folder upload owner against the per-path one (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select

from threadline.core.bulk import bound, driver_rows, insert_tuples
from threadline.core.db import Store, json_dumps
from threadline.model import (
    Operation,
    RiskAssessment,
    RuleSet,
    Seizure,
    SourceFile,
    SourceRecord,
    StageRun,
    Subject,
    utcnow,
)
from threadline.rank.gather import UploadOwners, _upload_owner

FOLDERS = ("uploads", "upload", "incoming", "user_uploads")


@pytest.mark.parametrize(
    "paths",
    [
        [
            "media/uploads/anna_k/IMG_1.jpg",
            "media/uploads/anna_k/IMG_2.jpg",
            "media\\uploads\\bo\\x.png",
            "media\\uploads/bo/y.png",
            "uploads/file.jpg",  # the folder holds files, not a customer's folder
            "uploads/",
            "media/uploads/anna_k/",
            "media/uploads/anna_k",
            "a//uploads//carl//z.jpg",
            "UPLOADS/dora/one/two.jpg",
            "x.jpg",
            "",
            "/",
            "nas02/0001/IMG_0001000.jpg",
            "incoming/eve\\sub/f.jpg",
        ]
    ],
)
def test_upload_owners_match_the_per_path_answer(paths: list[str]) -> None:
    owners = UploadOwners(FOLDERS)
    for path in paths * 2:  # the second round is answered from the cache
        assert owners(path) == _upload_owner(path, FOLDERS), path


def _records(store: Store) -> None:
    with store.session() as session:
        operation = Operation(name="fast")
        session.add(operation)
        session.flush()
        seizure = Seizure(operation_id=operation.id, label="s", source_path="/s")
        session.add(seizure)
        session.flush()
        source = SourceFile(seizure_id=seizure.id, path="a.csv", sha256="0" * 64, size=1)
        session.add(source)
        session.flush()
        values = [
            {"name": "Åsa", "phone": ["+46701234567"], "extra": {"n": 1, "f": 1.5, "b": True, "z": None}},
            {},
            {"list": [1, "two", {"three": 3}], "text": "quote ' and \\ and \" and ; -- "},
        ]
        for n, fields in enumerate(itertools.islice(itertools.cycle(values), 7)):
            session.add(
                SourceRecord(
                    source_file_id=source.id,
                    row=n,
                    locator=f"row {n} 'x'",
                    record_type="contact" if n % 2 else "customer",
                    record_key=None if n % 3 else f"K{n}",
                    raw={"Row": n, "Name": "x"},
                    fields=fields,
                )
            )


def test_driver_rows_equal_sqlalchemy_rows(store: Store) -> None:
    _records(store)
    query = (
        select(
            SourceRecord.id,
            SourceRecord.record_type,
            SourceRecord.record_key,
            SourceRecord.locator,
            SourceRecord.fields,
            SourceRecord.raw,
        )
        .where(SourceRecord.record_type.in_(["contact", "customer"]), SourceRecord.locator != "row 1 'y'")
        .order_by(SourceRecord.id)
    )
    with store.session() as session:
        expected = [tuple(r) for r in session.execute(query)]
        got = list(driver_rows(session, query, json_columns=(4, 5), batch=2))
    assert len(expected) == 7
    assert got == expected


def test_insert_tuples_store_what_the_orm_stores(store: Store) -> None:
    """A row written as driver tuples (JSON as text, timestamp bound) reads back as the ORM's would."""
    now = utcnow()
    factors = [{"factor": "volume", "points": 1.5, "evidence": [{"record_id": 1, "text": "ü \" '"}]}]
    with store.session() as session:
        run = StageRun(stage="rank", status="running", inputs={}, actor="test")
        rules = RuleSet(kind="rank", version=1, content={}, source_text="x", sha256="0" * 64, actor="test")
        subjects = [Subject(attributes={}, identifiers={}) for _ in range(2)]
        session.add_all([run, rules, *subjects])
        session.flush()
        columns = ("subject_id", "rule_set_id", "tier", "score", "factors", "summary", "run_id", "assessed_at")
        stamp = bound(session, RiskAssessment.__table__.c.assessed_at, now)
        insert_tuples(
            session,
            "risk_assessment",
            columns,
            [(subjects[0].id, rules.id, "high", 2.5, json_dumps(factors), "s", run.id, stamp)],
        )
        session.add(
            RiskAssessment(
                subject_id=subjects[1].id,
                rule_set_id=rules.id,
                tier="high",
                score=2.5,
                factors=factors,
                summary="s",
                run_id=run.id,
                assessed_at=now,
            )
        )
    with store.session() as session:
        fast, orm = session.scalars(select(RiskAssessment).order_by(RiskAssessment.subject_id)).all()
        assert (fast.tier, fast.score, fast.factors, fast.summary, fast.assessed_at) == (
            orm.tier,
            orm.score,
            orm.factors,
            orm.summary,
            orm.assessed_at,
        )
