"""Edges between subjects for the link chart, each with the records that prove it.

- a shared identifier (e-mail, phone, username, IP, national id) held by records of two subjects; one held by
  very many subjects (an office mailbox, a carrier-grade NAT address) links nobody and is left out;
- messages: the sender of a message and each of its recipients (their contact records in the same mailbox);
- payments: the payer and the subject the money went to, where the counterparty names a subject.
Links are rebuilt from the current subjects on every run, inside the run's transaction."""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations
from typing import Any

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
    query = select(Identifier.kind, Identifier.value, SubjectMember.subject_id, Identifier.record_id).join(
        SubjectMember, SubjectMember.record_id == Identifier.record_id
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
