"""The audit chain detects edits, deletions and reorderings made behind the application's back."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from threadline.core import audit
from threadline.core.db import Store


def _record_events(store: Store, n: int) -> None:
    with store.session() as session:
        for i in range(n):
            audit.record(
                session,
                actor=f"analyst{i % 2}",
                action="lead.view",
                object_type="lead",
                object_id=i,
                details={"i": i, "note": "Прочитано", "nested": {"b": [1, 2], "a": None}},
            )


def _drop_append_only_guard(conn: Connection) -> None:
    """What an insider with owner rights could do before tampering."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only"))
    else:
        conn.execute(text("DROP TRIGGER audit_event_no_update"))
        conn.execute(text("DROP TRIGGER audit_event_no_delete"))


def _tamper(store: Store, *statements: str) -> None:
    with store.engine.begin() as conn:
        _drop_append_only_guard(conn)
        for statement in statements:
            conn.execute(text(statement))


def _verify(store: Store) -> audit.ChainReport:
    with store.session() as session:
        return audit.verify(session)


def test_intact_chain_verifies(store: Store) -> None:
    _record_events(store, 5)
    report = _verify(store)
    assert report.ok and report.events == 5 and report.broken_seq is None


def test_empty_chain_verifies(store: Store) -> None:
    assert _verify(store).ok


def test_events_link_to_their_predecessor(store: Store) -> None:
    _record_events(store, 3)
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT seq, prev_hash, hash FROM audit_event ORDER BY seq")).all()
    assert rows[0].prev_hash == audit.GENESIS
    assert rows[1].prev_hash == rows[0].hash and rows[2].prev_hash == rows[1].hash


def test_database_refuses_updates_and_deletes(store: Store) -> None:
    _record_events(store, 2)
    for statement in ("UPDATE audit_event SET actor = 'x'", "DELETE FROM audit_event"):
        with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
            conn.execute(text(statement))
    assert _verify(store).ok


def test_edited_event_is_found(store: Store) -> None:
    _record_events(store, 5)
    _tamper(store, "UPDATE audit_event SET actor = 'someone-else' WHERE seq = 3")
    report = _verify(store)
    assert not report.ok and report.broken_seq == 3 and "edited" in (report.problem or "")


def test_edited_details_are_found(store: Store) -> None:
    _record_events(store, 4)
    details = '{"i": 99}'
    _tamper(store, f"UPDATE audit_event SET details = '{details}' WHERE seq = 2")
    assert _verify(store).broken_seq == 2


def test_edited_and_rehashed_event_breaks_the_next_link(store: Store) -> None:
    _record_events(store, 4)
    _tamper(store, "UPDATE audit_event SET hash = '" + "f" * 64 + "' WHERE seq = 2")
    report = _verify(store)
    assert not report.ok and report.broken_seq == 2


def test_deleted_event_is_found(store: Store) -> None:
    _record_events(store, 5)
    _tamper(store, "DELETE FROM audit_event WHERE seq = 3")
    report = _verify(store)
    assert not report.ok and report.broken_seq == 3 and "missing" in (report.problem or "")


def test_deleted_last_event_is_found(store: Store) -> None:
    _record_events(store, 5)
    _tamper(store, "DELETE FROM audit_event WHERE seq = 5")
    report = _verify(store)
    assert not report.ok and report.broken_seq == 5


def test_reordered_events_are_found(store: Store) -> None:
    _record_events(store, 5)
    _tamper(
        store,
        "UPDATE audit_event SET seq = 100 WHERE seq = 2",
        "UPDATE audit_event SET seq = 2 WHERE seq = 3",
        "UPDATE audit_event SET seq = 3 WHERE seq = 100",
    )
    report = _verify(store)
    assert not report.ok and report.broken_seq == 2


def test_recording_continues_the_chain_across_sessions(store: Store) -> None:
    _record_events(store, 2)
    _record_events(store, 2)
    report = _verify(store)
    assert report.ok and report.events == 4


def test_event_rolled_back_with_its_work(store: Store) -> None:
    with pytest.raises(RuntimeError), store.session() as session:
        audit.record(session, actor="a", action="x")
        raise RuntimeError("work failed")
    _record_events(store, 1)
    report = _verify(store)
    assert report.ok and report.events == 1


def test_hash_is_independent_of_key_order() -> None:
    from datetime import UTC, datetime

    at = datetime(2020, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    common = {
        "seq": 1,
        "at": at,
        "actor": "a",
        "agency_id": None,
        "action": "x",
        "object_type": None,
        "object_id": None,
    }
    one = audit.event_hash(**common, details={"a": 1, "b": 2}, prev_hash=audit.GENESIS)  # type: ignore[arg-type]
    two = audit.event_hash(**common, details={"b": 2, "a": 1}, prev_hash=audit.GENESIS)  # type: ignore[arg-type]
    three = audit.event_hash(**common, details={"a": 1, "b": 3}, prev_hash=audit.GENESIS)  # type: ignore[arg-type]
    assert one == two != three
