"""The audit chain: one function records an event, one verifies the whole chain.

Each event's hash covers its own content and the previous event's hash, so an edit, a deletion or a
reordering anywhere shows up as the first event whose hash or link no longer holds. The single-row
`audit_head` names the last event, which exposes events cut from the end of the chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from threadline.model import AuditEvent, AuditHead

GENESIS = "0" * 64


def canonical_json(value: Any) -> str:
    """Stable JSON: sorted keys, no spaces, non-JSON values (dates, paths) as strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _timestamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(
    *,
    seq: int,
    at: datetime,
    actor: str,
    agency_id: int | None,
    action: str,
    object_type: str | None,
    object_id: str | None,
    details: Mapping[str, Any],
    prev_hash: str,
) -> str:
    content = {
        "seq": seq,
        "at": _timestamp(at),
        "actor": actor,
        "agency_id": agency_id,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "details": details,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


def _stored_hash(event: AuditEvent) -> str:
    return event_hash(
        seq=event.seq,
        at=event.at,
        actor=event.actor,
        agency_id=event.agency_id,
        action=event.action,
        object_type=event.object_type,
        object_id=event.object_id,
        details=event.details,
        prev_hash=event.prev_hash,
    )


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    object_type: str | None = None,
    object_id: str | int | None = None,
    agency_id: int | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction (it commits or rolls back with the
    work it describes). Writers are serialised on the head row."""
    if session.get_bind().dialect.name == "sqlite":
        # SQLite ignores FOR UPDATE and pysqlite reads outside a transaction until the first write: take the
        # database's write lock first (waiting out the busy timeout), so the head read below is the latest one.
        session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq))
    head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one_or_none()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS)
        session.add(head)
    # Round-trip details through canonical JSON so what is hashed is exactly what the database returns.
    clean_details: dict[str, Any] = json.loads(canonical_json(dict(details or {})))
    at = datetime.now(UTC)
    event = AuditEvent(
        seq=head.seq + 1,
        at=at,
        actor=actor,
        agency_id=agency_id,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        details=clean_details,
        prev_hash=head.hash,
    )
    event.hash = _stored_hash(event)
    session.add(event)
    head.seq = event.seq
    head.hash = event.hash
    session.flush()
    return event


@dataclass(frozen=True)
class ChainReport:
    """The result of verifying the chain: OK, or the first broken event and what is wrong with it."""

    ok: bool
    events: int
    head_hash: str
    broken_seq: int | None = None
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "head_hash": self.head_hash,
            "broken_seq": self.broken_seq,
            "problem": self.problem,
        }


def verify(session: Session, *, batch: int = 5000) -> ChainReport:
    """Walk the chain in order (streaming, so millions of events fit in memory)."""
    expected_seq = 1
    prev_hash = GENESIS
    count = 0
    rows = session.execute(select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=batch)).scalars()
    for event in rows:
        count += 1
        if event.seq != expected_seq:
            missing = expected_seq if event.seq > expected_seq else event.seq
            return ChainReport(False, count, prev_hash, missing, f"event {missing} is missing (deleted)")
        if event.prev_hash != prev_hash:
            return ChainReport(
                False,
                count,
                prev_hash,
                event.seq,
                f"event {event.seq} does not link to event {event.seq - 1}: "
                "one of them was edited and re-hashed, reordered, replaced or inserted",
            )
        if _stored_hash(event) != event.hash:
            return ChainReport(
                False,
                count,
                prev_hash,
                event.seq,
                f"event {event.seq} was edited (content does not match its hash)",
            )
        prev_hash = event.hash
        expected_seq += 1
    head = session.get(AuditHead, 1)
    last_seq = expected_seq - 1
    if head is not None and (head.seq != last_seq or head.hash != prev_hash):
        if head.seq > last_seq:
            problem = f"events {last_seq + 1} to {head.seq} are missing from the end of the chain (deleted)"
            return ChainReport(False, count, prev_hash, last_seq + 1, problem)
        return ChainReport(False, count, prev_hash, head.seq, "the chain's head record does not match its last event")
    if head is None and count:
        return ChainReport(False, count, prev_hash, 1, "the chain's head record is missing")
    return ChainReport(True, count, prev_hash)
