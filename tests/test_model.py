"""Round trips of every foundation entity through both databases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from threadline.core.db import Store
from threadline.model import Agency, Operation, QuarantinedRow, Seizure, SourceFile, SourceRecord, User


def test_seizure_provenance_round_trip(store: Store) -> None:
    received = datetime(2011, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
    with store.session() as session:
        national = Agency(code="CA", name="National Central Bureau — Canada", kind="national", country="CA")
        op = Operation(name="Spade", description="Test operation", originating_agency=national)
        seizure = Seizure(operation=op, label="server image 1", source_path="/evidence/1", received_at=received)
        source = SourceFile(
            seizure=seizure, path="customers.csv", sha256="a" * 64, size=12_345_678_901, format="csv", encoding="cp1252"
        )
        session.add_all([national, op, seizure, source])
        session.flush()
        session.add(
            SourceRecord(
                source_file_id=source.id,
                row=2,
                locator="2",
                record_type="customer",
                record_key="C-1",
                raw={"Vorname": "Jürgen", "Nachname": "Straße", "Телефон": "+7 495 123"},
                fields={"given_name": "Jürgen", "family_name": "Straße", "phone": ["+7495123"]},
            )
        )
        session.add(
            QuarantinedRow(source_file_id=source.id, row=3, locator="3", raw_text="a;b", reason="2 of 9 fields")
        )
    with store.session() as session:
        record = session.scalars(select(SourceRecord)).one()
        assert record.raw["Телефон"] == "+7 495 123"
        assert record.fields["phone"] == ["+7495123"]
        assert record.source_file.size == 12_345_678_901
        assert record.source_file.seizure.operation.originating_agency is not None
        assert record.source_file.seizure.received_at == received
        assert record.source_file.seizure.received_at.tzinfo is not None
        assert session.scalars(select(QuarantinedRow)).one().reason == "2 of 9 fields"


def test_timestamps_come_back_aware_utc(store: Store) -> None:
    with store.session() as session:
        session.add(Agency(code="FR", name="n", kind="national", country="FR"))
    with store.session() as session:
        agency = session.scalars(select(Agency)).one()
        assert agency.created_at.utcoffset() is not None
        assert agency.created_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_naive_timestamps_are_refused(store: Store) -> None:
    with pytest.raises(Exception, match="naive datetime"), store.session() as session:
        session.add(Operation(name="x", created_at=datetime(2020, 1, 1)))
        session.flush()


def test_agency_hierarchy_and_users(store: Store) -> None:
    with store.session() as session:
        national = Agency(code="DE", name="National", kind="national", country="DE")
        regional = Agency(code="DE-BY", name="LKA", kind="regional", country="DE", region="DE-BY", parent=national)
        session.add_all([national, regional])
        session.flush()
        session.add(User(username="a", agency_id=regional.id, roles=["investigator"], password_hash="x"))
    with store.session() as session:
        regional = session.scalars(select(Agency).where(Agency.code == "DE-BY")).one()
        assert regional.parent is not None and regional.parent.code == "DE"
        assert [u.username for u in regional.users] == ["a"]
        assert regional.users[0].roles == ["investigator"]


def test_source_record_locator_is_unique_per_file(store: Store) -> None:
    with pytest.raises(IntegrityError), store.session() as session:
        op = Operation(name="o")
        seizure = Seizure(operation=op, label="s", source_path="/s")
        source = SourceFile(seizure=seizure, path="a.csv", sha256="b" * 64, size=1)
        session.add_all([op, seizure, source])
        session.flush()
        for _ in range(2):
            session.add(
                SourceRecord(source_file_id=source.id, row=2, locator="2", record_type="customer", raw={}, fields={})
            )
        session.flush()
