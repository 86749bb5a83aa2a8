"""Edges between subjects for the link chart, each with the records that prove it.

- a shared identifier (e-mail, phone, username, IP, national id) held by records of two subjects; one held by
  very many subjects (an office mailbox, a carrier-grade NAT address) links nobody and is left out;
- messages: the sender of a message and each of its recipients (their contact records in the same mailbox);
- payments: the payer and the subject the money went to, where the counterparty names a subject.
Links are rebuilt from the current subjects on every run, inside the run's transaction.

`subject_links_in` is what resolve runs: the identifiers, message participants and payments read as plain
columns, the pairing done in DuckDB against the run's membership table, the rows sent to the driver in bulk.
`subject_links` does the same over the store in plain Python: the twin the tests compare it with."""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations
from typing import Any

import duckdb
import orjson
import pyarrow as pa  # type: ignore[import-untyped]
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from threadline.ingest.normalise import name_key
from threadline.model import Identifier, SourceRecord, Subject, SubjectLink, SubjectMember

# An identifier shared by more subjects than this is shared infrastructure, not a relationship.
MAX_SUBJECTS_PER_IDENTIFIER = 25
MAX_PROOF = 50

LinkKey = tuple[int, int, str, str]


def _add(found: dict[LinkKey, list[int]], a: int, b: int, kind: str, value: str, proof: list[int]) -> None:
    if a == b:
        return
    key = (min(a, b), max(a, b), kind, value[:320])
    records = found.setdefault(key, [])
    records.extend(proof)


def _identifier_links(session: Session, found: dict[LinkKey, list[int]]) -> None:
    holders: dict[tuple[str, str], dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    query = (
        select(Identifier.kind, Identifier.value, SubjectMember.subject_id, Identifier.record_id)
        .join(SubjectMember, SubjectMember.record_id == Identifier.record_id)
        .order_by(Identifier.record_id, Identifier.id)
    )
    for kind, value, subject, record in session.execute(query.execution_options(yield_per=50000)):
        holders[(kind, value)][subject].append(record)
    for (kind, value), subjects in holders.items():
        if not 2 <= len(subjects) <= MAX_SUBJECTS_PER_IDENTIFIER:
            continue
        for a, b in combinations(sorted(subjects), 2):
            _add(found, a, b, kind, value, subjects[a][:3] + subjects[b][:3])


def _message_links(session: Session, found: dict[LinkKey, list[int]]) -> None:
    messages: dict[tuple[int, str], dict[str, Any]] = defaultdict(lambda: {"senders": [], "recipients": []})
    query = (
        select(
            SourceRecord.id,
            SourceRecord.source_file_id,
            SourceRecord.locator,
            SourceRecord.record_type,
            SourceRecord.fields,
            SubjectMember.subject_id,
        )
        .outerjoin(SubjectMember, SubjectMember.record_id == SourceRecord.id)
        .where(SourceRecord.locator.like("message %"))
    )
    for record_id, file_id, locator, record_type, fields, subject in session.execute(query):
        message = " ".join(locator.split()[:2])
        entry = messages[(file_id, message)]
        if record_type == "message":
            entry["record"] = record_id
            entry["message_id"] = (fields or {}).get("message_id") or message
        elif subject is not None:
            role = (fields or {}).get("role")
            side = "senders" if role == "sender" else "recipients"
            entry[side].append((subject, record_id))
    for entry in messages.values():
        proof_message = [entry["record"]] if "record" in entry else []
        for sender, sender_record in entry["senders"]:
            for recipient, recipient_record in entry["recipients"]:
                _add(found, sender, recipient, "message", "", [*proof_message, sender_record, recipient_record])


def _payment_links(session: Session, found: dict[LinkKey, list[int]]) -> None:
    by_name: dict[str, int] = {}
    for subject_id, full_name in session.execute(
        select(Subject.id, Subject.full_name).where(Subject.status == "active", Subject.full_name.is_not(None))
    ):
        by_name.setdefault(name_key(full_name), subject_id)
    query = (
        select(SourceRecord.id, SourceRecord.fields, SubjectMember.subject_id)
        .join(SubjectMember, SubjectMember.record_id == SourceRecord.id)
        .where(SourceRecord.record_type == "payment")
    )
    for record_id, fields, payer in session.execute(query.execution_options(yield_per=20000)):
        counterparty = str((fields or {}).get("counterparty") or "").strip()
        payee = by_name.get(name_key(counterparty)) if counterparty else None
        if payee is not None:
            _add(found, payer, payee, "payment", counterparty, [record_id])


def links_found(session: Session) -> list[tuple[int, int, str, str, list[int], int]]:
    """Every link as (subject a, subject b, kind, value, proving record ids, evidence count), from the store."""
    session.flush()
    found: dict[LinkKey, list[int]] = {}
    _identifier_links(session, found)
    _message_links(session, found)
    _payment_links(session, found)
    return [
        (a, b, kind, value, sorted(set(proof))[:MAX_PROOF], len(set(proof)))
        for (a, b, kind, value), proof in sorted(found.items())
    ]


def subject_links(session: Session, run_id: int) -> int:
    """Rebuild every SubjectLink from the current subjects; returns how many there are."""
    session.flush()
    found: dict[LinkKey, list[int]] = {}
    _identifier_links(session, found)
    _message_links(session, found)
    _payment_links(session, found)
    session.execute(delete(SubjectLink))
    rows = [
        {
            "subject_a_id": a,
            "subject_b_id": b,
            "kind": kind,
            "value": value,
            "record_ids": sorted(set(proof))[:MAX_PROOF],
            "evidence_count": len(set(proof)),
            "run_id": run_id,
        }
        for (a, b, kind, value), proof in sorted(found.items())
    ]
    for start in range(0, len(rows), 10000):
        session.execute(insert(SubjectLink), rows[start : start + 10000])
    return len(rows)


def _columns(rows: Any, names: tuple[str, ...], types: tuple[pa.DataType, ...]) -> pa.Table:
    fetched = rows if isinstance(rows, list) else rows.fetchall()
    lists = list(zip(*fetched, strict=True)) if fetched else [() for _ in names]
    return pa.table({n: pa.array(v, type=t) for n, v, t in zip(names, lists, types, strict=True)})


def links_found_in(session: Session, con: duckdb.DuckDBPyConnection, members: str) -> None:
    """`links_found` into table `links` (subject_a, subject_b, kind, value, record_ids, evidence_count) of `con`,
    with `members` (record_id, subject_id) the table of every record's subject."""
    connection = session.connection()
    identifiers = connection.execute(select(Identifier.kind, Identifier.value, Identifier.record_id))
    con.register(
        "identifier_rows",
        _columns(identifiers, ("kind", "value", "record_id"), (pa.string(), pa.string(), pa.int64())),
    )
    participants = connection.execute(
        select(
            SourceRecord.id,
            SourceRecord.source_file_id,
            SourceRecord.locator,
            SourceRecord.record_type,
            SourceRecord.fields["role"].as_string(),
        ).where(SourceRecord.locator.like("message %"))
    )
    con.register(
        "message_rows",
        _columns(
            participants,
            ("record_id", "file_id", "locator", "record_type", "role"),
            (pa.int64(), pa.int64(), pa.string(), pa.string(), pa.string()),
        ),
    )
    by_name: dict[str, int] = {}
    for subject_id, full_name in connection.execute(
        select(Subject.id, Subject.full_name)
        .where(Subject.status == "active", Subject.full_name.is_not(None))
        .order_by(Subject.id)
    ):
        by_name.setdefault(name_key(full_name), subject_id)
    payments = connection.execute(
        select(SourceRecord.id, SourceRecord.fields["counterparty"].as_string())
        .where(SourceRecord.record_type == "payment")
        .execution_options(yield_per=100_000)
    )
    payees: dict[str, int | None] = {}
    paid: list[tuple[int, str, int]] = []
    for record_id, counterparty in payments:
        counterparty = str(counterparty or "").strip()
        if not counterparty:
            continue
        if counterparty not in payees:
            payees[counterparty] = by_name.get(name_key(counterparty))
        payee = payees[counterparty]
        if payee is not None:
            paid.append((record_id, counterparty, payee))
    con.register(
        "payment_rows",
        _columns(paid, ("record_id", "counterparty", "payee"), (pa.int64(), pa.string(), pa.int64())),
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE link_proofs AS
        WITH held AS (
            SELECT i.kind, i.value, m.subject_id, list(i.record_id ORDER BY i.record_id) AS records
            FROM identifier_rows i JOIN {members} m USING (record_id) GROUP BY ALL
        ), shared AS (
            SELECT kind, value FROM held GROUP BY ALL HAVING count(*) BETWEEN 2 AND {MAX_SUBJECTS_PER_IDENTIFIER}
        ), messages AS (
            SELECT r.file_id, split_part(r.locator, ' ', 1) || ' ' || split_part(r.locator, ' ', 2) AS message,
                   r.record_id, r.record_type, r.role, m.subject_id
            FROM message_rows r LEFT JOIN {members} m USING (record_id)
        ), message_records AS (
            SELECT file_id, message, any_value(record_id) AS record_id FROM messages
            WHERE record_type = 'message' GROUP BY ALL
        ), sides AS (
            SELECT file_id, message, record_id, subject_id, role IS NOT DISTINCT FROM 'sender' AS sender
            FROM messages WHERE record_type <> 'message' AND subject_id IS NOT NULL
        )
        SELECT a.subject_id AS subject_a, b.subject_id AS subject_b, a.kind, left(a.value, 320) AS value,
               a.records[1:3] || b.records[1:3] AS proof
        FROM held a JOIN held b USING (kind, value) SEMI JOIN shared USING (kind, value)
        WHERE a.subject_id < b.subject_id
        UNION ALL
        SELECT least(s.subject_id, r.subject_id), greatest(s.subject_id, r.subject_id), 'message', '',
               CASE WHEN mr.record_id IS NULL THEN [s.record_id, r.record_id]
                    ELSE [mr.record_id, s.record_id, r.record_id] END
        FROM sides s JOIN sides r ON r.file_id = s.file_id AND r.message = s.message AND NOT r.sender
        LEFT JOIN message_records mr ON mr.file_id = s.file_id AND mr.message = s.message
        WHERE s.sender AND s.subject_id <> r.subject_id
        UNION ALL
        SELECT least(m.subject_id, p.payee), greatest(m.subject_id, p.payee), 'payment', left(p.counterparty, 320),
               [p.record_id]
        FROM payment_rows p JOIN {members} m USING (record_id)
        WHERE m.subject_id <> p.payee
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TABLE links AS
        SELECT subject_a, subject_b, kind, value,
               list_sort(list_distinct(flatten(list(proof))))[1:{MAX_PROOF}] AS record_ids,
               len(list_distinct(flatten(list(proof)))) AS evidence_count
        FROM link_proofs GROUP BY ALL ORDER BY subject_a, subject_b, kind, value
        """
    )
    for name in ("identifier_rows", "message_rows", "payment_rows"):
        con.unregister(name)


def subject_links_in(session: Session, con: duckdb.DuckDBPyConnection, members: str, run_id: int) -> int:
    """Rebuild every SubjectLink (see `links_found_in`); returns how many there are."""
    links_found_in(session, con, members)
    session.execute(delete(SubjectLink))
    connection = session.connection()
    style = connection.dialect.paramstyle
    marks = ", ".join("?" if style == "qmark" else "%s" for _ in range(7))
    statement = (
        "INSERT INTO subject_link (subject_a_id, subject_b_id, kind, value, record_ids, evidence_count, run_id) "
        f"VALUES ({marks})"
    )
    rows = con.execute("SELECT * FROM links").fetchall()
    batch = [
        (a, b, kind, value, orjson.dumps(records).decode(), count, run_id) for a, b, kind, value, records, count in rows
    ]
    for start in range(0, len(batch), 20000):
        connection.exec_driver_sql(statement, batch[start : start + 20000])
    return len(batch)
