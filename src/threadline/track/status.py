"""Status files: what happened to shared leads, signed, carried between installations, applied once.

A receiving agency writes one for the originator (`threadline package status --to ORIGINATOR`): the
acknowledgements, hops (assignments, with the hop leads and the agencies they went to), investigations, actions,
outcomes and closes recorded on the leads it was sent since its last file. The originator imports it
(`threadline track import FILE`). The same format carries the originator's recalls the other way, so a recall
reaches the hops the receiving installation made too.

A file is JSON, `{"status": PAYLOAD, "signature": {"algorithm": "ed25519", "key": FINGERPRINT, "value": BASE64}}`,
the signature made with the sending agency's Ed25519 key over the canonical bytes of PAYLOAD (UTF-8 JSON, keys
sorted, no whitespace). Import refuses, with nothing applied, a file that does not verify with the sender's known
key, that names a lead not shared with the sender, or a hop under an agency that is not below the sender. Each
event keeps its uid, so a replayed or overlapping file changes nothing; an event that no longer fits the lead here
(say, an acknowledgement arriving after the lead was recalled) is kept as an "imported" event with the reason,
never dropped. The layout is described in README.md beside this file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from threadline.core import audit
from threadline.core.audit import canonical_json
from threadline.core.db import Store
from threadline.core.errors import ConflictError, InputError, NotFoundError, ThreadlineError
from threadline.core.settings import Settings
from threadline.directory import find_agency
from threadline.model import (
    AGENCY_KINDS,
    OUTCOMES,
    TERMINAL_STATUSES,
    Agency,
    AgencyKey,
    Lead,
    LeadEvent,
    StatusExchange,
    utcnow,
)
from threadline.refer.events import OUTCOME_COUNTS, append_event
from threadline.refer.keys import SIGNING, SignatureError, sign_bytes, signing_key, verify_bytes, verify_keys
from threadline.refer.receive import other_signer
from threadline.track.leads import agency_codes, agency_is_below, descendants
from threadline.track.lifecycle import new_hop

FORMAT = "threadline-status"
VERSION = 1
# What the receiving side reports on the leads it was sent and the hops it made below them.
RECEIVER_KINDS = (
    "created", "sent", "acknowledged", "assigned", "investigating", "action_taken", "outcome", "closed", "recalled",
)  # fmt: skip
# What the originator reports on the leads it sent.
ORIGINATOR_KINDS = ("recalled",)
MAX_STATUS_BYTES = 256 * 1024**2
_CHUNK = 5000


class StatusRefused(ThreadlineError):
    """The status file failed a check; nothing was applied."""


@dataclass
class StatusWritten:
    file: str
    uid: str
    sender: str
    recipient: str
    sha256: str
    after_event: int | None
    last_event: int | None
    events: int
    hop_leads: int
    signer_fingerprint: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class StatusImport:
    file: str
    uid: str
    sender: str
    recipient: str
    sha256: str
    events: int = 0
    applied: int = 0
    duplicates: int = 0
    not_applied: list[dict[str, str]] = field(default_factory=list)
    hop_leads_created: int = 0
    agencies_created: list[str] = field(default_factory=list)
    recall_reached: int = 0
    replay: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: Any, where: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise StatusRefused(f"{where}: {value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise StatusRefused(f"{where}: {value!r} has no time zone")
    return parsed


def _agency_ref(agency: Agency) -> dict[str, Any]:
    return {"code": agency.code, "name": agency.name, "country": agency.country}


def _agency_entry(agency: Agency) -> dict[str, Any]:
    return {
        "code": agency.code,
        "name": agency.name,
        "kind": agency.kind,
        "country": agency.country,
        "region": agency.region,
        "parent": agency.parent.code if agency.parent is not None else None,
    }


def _chunks(values: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _roots(session: Session, originating_agency_id: int, direction: str) -> dict[int, tuple[int, Lead]]:
    """Every lead of one direction from one originator, with the agency its chain was first sent to."""
    leads = list(
        session.scalars(
            select(Lead).where(Lead.originating_agency_id == originating_agency_id, Lead.direction == direction)
        )
    )
    by_id = {lead.id: lead for lead in leads}
    roots: dict[int, tuple[int, Lead]] = {}
    for lead in leads:
        node, seen = lead, set()
        while node.parent_id is not None and node.parent_id in by_id and node.id not in seen:
            seen.add(node.id)
            node = by_id[node.parent_id]
        roots[lead.id] = (node.agency_id, lead)
    return roots


def shared_leads(session: Session, here: Agency, there: Agency) -> tuple[list[Lead], list[Lead]]:
    """(leads `there` sent to `here`, with the hops made here below them; leads `here` sent to `there`, with the
    hops `there` reported)."""
    incoming = [lead for root, lead in _roots(session, there.id, "incoming").values() if root == here.id]
    outgoing = [lead for root, lead in _roots(session, here.id, "outgoing").values() if root == there.id]
    return incoming, outgoing


# --- writing -------------------------------------------------------------------------------------------------------


def _cursor(session: Session, sender: Agency, recipient: Agency) -> int | None:
    return session.scalar(
        select(StatusExchange.last_event_id)
        .where(
            StatusExchange.direction == "outgoing",
            StatusExchange.sender_agency_id == sender.id,
            StatusExchange.recipient_agency_id == recipient.id,
        )
        .order_by(StatusExchange.id.desc())
        .limit(1)
    )


def _events_after(session: Session, leads: list[Lead], kinds: tuple[str, ...], after: int | None) -> list[LeadEvent]:
    found: list[LeadEvent] = []
    for chunk in _chunks(sorted(lead.id for lead in leads)):
        query = select(LeadEvent).where(
            LeadEvent.lead_id.in_(chunk), LeadEvent.origin == "local", LeadEvent.kind.in_(kinds)
        )
        if after is not None:
            query = query.where(LeadEvent.id > after)
        found.extend(session.scalars(query))
    return sorted(found, key=lambda e: e.id)


def build_status(
    session: Session, sender: Agency, recipient: Agency, *, full: bool = False, now: datetime | None = None
) -> tuple[dict[str, Any], int | None, int | None]:
    """The payload of the next status file from `sender` to `recipient`, with the cursor before and after it."""
    if session.get_bind().dialect.name == "postgresql":
        # Wait for transactions writing events to finish, so no event with a lower id commits after we read.
        session.execute(text("LOCK TABLE lead_event IN SHARE MODE"))
    after = None if full else _cursor(session, sender, recipient)
    incoming, outgoing = shared_leads(session, sender, recipient)
    events = _events_after(session, incoming, RECEIVER_KINDS, after)
    events += _events_after(session, outgoing, ORIGINATOR_KINDS, after)
    events.sort(key=lambda e: e.id)
    by_id = {lead.id: lead for lead in [*incoming, *outgoing]}
    hop_ids = [e.lead_id for e in events if e.kind == "created"]
    agencies: dict[int, Agency] = {}

    def describe(agency_id: int | None) -> None:
        agency = session.get(Agency, agency_id) if agency_id is not None else None
        while agency is not None and agency.id != sender.id and agency_is_below(agency, sender.id):
            agencies.setdefault(agency.id, agency)
            agency = agency.parent

    for lead_id in hop_ids:
        describe(by_id[lead_id].agency_id)
    for event in events:
        describe(event.agency_id)
    codes = agency_codes(session, [e.agency_id for e in events] + [by_id[i].agency_id for i in hop_ids])
    hop_leads = []
    for lead_id in hop_ids:
        lead = by_id[lead_id]
        hop_leads.append(
            {
                "uid": lead.uid,
                "parent": lead.parent.uid if lead.parent is not None else None,
                "hop": lead.hop,
                "agency": codes[lead.agency_id],
                "ack_due_at": _iso(lead.ack_due_at),
                "action_due_at": _iso(lead.action_due_at),
                "created_at": _iso(lead.created_at),
            }
        )
    ordered_agencies = sorted(agencies.values(), key=lambda a: _depth(a, sender.id))
    last = events[-1].id if events else after
    payload: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "uid": str(uuid.uuid4()),
        "created_at": (now or utcnow()).isoformat(),
        "sender": _agency_ref(sender),
        "recipient": _agency_ref(recipient),
        "after_event": after,
        "last_event": last,
        "agencies": [_agency_entry(a) for a in ordered_agencies],
        "leads": hop_leads,
        "events": [
            {
                "uid": e.uid,
                "lead": by_id[e.lead_id].uid,
                "kind": e.kind,
                "from_status": e.from_status,
                "to_status": e.to_status,
                "actor": e.actor,
                "agency": codes.get(e.agency_id) if e.agency_id is not None else None,
                "at": e.at.isoformat(),
                "notes": e.notes,
                "details": e.details,
            }
            for e in events
        ],
    }
    return payload, after, last


def _depth(agency: Agency, top_id: int) -> int:
    depth, node = 0, agency
    while node.parent is not None and node.id != top_id:
        depth, node = depth + 1, node.parent
    return depth


def write_status_file(
    session: Session,
    settings: Settings,
    *,
    agency: Agency,
    to: Agency,
    out: Path,
    actor: str,
    full: bool = False,
    now: datetime | None = None,
) -> StatusWritten:
    """Write and sign the next status file from `agency` (whose private key this installation holds) to `to`,
    and move the cursor. With `full`, everything shared so far is included again (safe: import is idempotent)."""
    if agency.id == to.id:
        raise InputError(f"a status file goes to another agency, not to {agency.code} itself")
    private_key, key_row = signing_key(settings, session, agency)
    payload, after, last = build_status(session, agency, to, full=full, now=now)
    signature = sign_bytes(private_key, canonical_json(payload).encode("utf-8"))
    document = {
        "status": payload,
        "signature": {
            "algorithm": "ed25519",
            "key": key_row.fingerprint,
            "value": base64.b64encode(signature).decode("ascii"),
        },
    }
    data = (json.dumps(document, indent=1, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
    out = out.expanduser()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(partial, out)
    except OSError as exc:
        raise InputError(f"cannot write the status file: {exc.strerror}", file=out) from None
    sha256 = hashlib.sha256(data).hexdigest()
    session.add(
        StatusExchange(
            uid=payload["uid"],
            direction="outgoing",
            sender_agency_id=agency.id,
            recipient_agency_id=to.id,
            path=str(out),
            sha256=sha256,
            last_event_id=last,
            events_total=len(payload["events"]),
            events_applied=0,
        )
    )
    audit.record(
        session,
        actor=actor,
        action="status.write",
        object_type="status_exchange",
        object_id=payload["uid"],
        agency_id=agency.id,
        details={"to": to.code, "file": str(out), "sha256": sha256, "events": len(payload["events"]), "full": full},
    )
    return StatusWritten(
        file=str(out),
        uid=payload["uid"],
        sender=agency.code,
        recipient=to.code,
        sha256=sha256,
        after_event=after,
        last_event=last,
        events=len(payload["events"]),
        hop_leads=len(payload["leads"]),
        signer_fingerprint=key_row.fingerprint,
    )


# --- importing -----------------------------------------------------------------------------------------------------


@dataclass
class _Plan:
    leads: dict[str, Lead]
    new_agencies: list[dict[str, Any]]
    new_leads: list[dict[str, Any]]
    events: list[dict[str, Any]]


def _read(path: Path) -> tuple[bytes, dict[str, Any], dict[str, Any], dict[str, Any]]:
    try:
        if path.stat().st_size > MAX_STATUS_BYTES:
            raise StatusRefused(f"{path}: larger than {MAX_STATUS_BYTES // 1024**2} MiB; not a status file")
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the status file: {exc.strerror}", file=path) from None
    try:
        document = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        line = exc.lineno if isinstance(exc, json.JSONDecodeError) else None
        raise StatusRefused(f"not a status file (not JSON: {exc})", file=path, line=line) from None
    if not isinstance(document, dict) or not isinstance(document.get("status"), dict):
        raise StatusRefused("not a status file (no 'status' object)", file=path)
    payload, signature = document["status"], document.get("signature")
    if payload.get("format") != FORMAT:
        raise StatusRefused(f"not a status file (format {payload.get('format')!r}, expected {FORMAT!r})", file=path)
    if payload.get("version") != VERSION:
        raise StatusRefused(
            f"status file version {payload.get('version')!r} is not supported here (this installation reads "
            f"version {VERSION}); upgrade Threadline",
            file=path,
        )
    if not isinstance(signature, dict) or signature.get("algorithm") != "ed25519":
        raise StatusRefused("the status file is not signed (no ed25519 signature)", file=path)
    for key in ("uid", "sender", "recipient", "events", "leads", "agencies"):
        if key not in payload:
            raise StatusRefused(f"the status file has no {key!r}", file=path)
    return data, document, payload, signature


def _verify(session: Session, path: Path, sender: Agency, payload: dict[str, Any], signature: dict[str, Any]) -> str:
    try:
        raw = base64.b64decode(str(signature.get("value", "")), validate=True)
    except (binascii.Error, ValueError):
        raise StatusRefused("the signature is not valid base64", file=path) from None
    keys = verify_keys(session, sender)
    if not keys:
        raise StatusRefused(
            f"no signing key is known here for {sender.code}: import its public keys with "
            f"`threadline keys import --agency {sender.code} FILE`",
            file=path,
        )
    data = canonical_json(payload).encode("utf-8")
    try:
        return verify_bytes(keys, data, raw)
    except SignatureError:
        other = other_signer(session, sender, data, raw)
        if other is not None:
            raise StatusRefused(
                f"signed by agency {other}, not by {sender.code} whom it claims to come from", file=path
            ) from None
        raise StatusRefused(
            f"the signature does not verify with {sender.code}'s key: the file was changed after signing or was not "
            f"signed by {sender.code}",
            file=path,
        ) from None


def _plan(session: Session, path: Path, payload: dict[str, Any], sender: Agency, recipient: Agency) -> _Plan:
    """Check everything the file says before anything is written."""

    def refuse(message: str) -> StatusRefused:
        return StatusRefused(message, file=path)

    # Agencies: each already known here below the sender, or new and hung below one that is.
    file_agencies = {str(a.get("code")): a for a in payload["agencies"] if isinstance(a, dict)}
    placed: dict[str, bool] = {}
    new_agencies: list[dict[str, Any]] = []

    def place(code: str, trail: tuple[str, ...] = ()) -> None:
        if code in placed:
            return
        if code == sender.code:
            placed[code] = True
            return
        local = session.scalars(select(Agency).where(Agency.code == code)).first()
        if local is not None:
            if not agency_is_below(local, sender.id):
                raise refuse(f"agency {code} in the file is not below {sender.code} here: the sender may only "
                             "report hops under itself")  # fmt: skip
            placed[code] = True
            return
        entry = file_agencies.get(code)
        if entry is None:
            raise refuse(f"agency {code} is unknown here and the file does not describe it")
        if code in trail or not entry.get("parent"):
            raise refuse(f"agency {code} in the file does not hang below {sender.code}")
        if entry.get("kind") not in AGENCY_KINDS or entry.get("country") != sender.country or not entry.get("name"):
            raise refuse(f"agency {code} in the file is not a {sender.country} agency with a name and a known kind")
        place(str(entry["parent"]), (*trail, code))
        placed[code] = True
        new_agencies.append(entry)

    leads: dict[str, Lead] = {}
    uids = {str(e.get("lead")) for e in payload["events"] if isinstance(e, dict)}
    uids |= {str(entry.get("parent")) for entry in payload["leads"] if isinstance(entry, dict)}
    for chunk_start in range(0, len(uids), _CHUNK):
        chunk = sorted(uids)[chunk_start : chunk_start + _CHUNK]
        leads.update({lead.uid: lead for lead in session.scalars(select(Lead).where(Lead.uid.in_(chunk)))})
    incoming, outgoing = shared_leads(session, recipient, sender)
    received = {lead.uid for lead in incoming}  # leads the sender sent here
    reported = {lead.uid for lead in outgoing}  # leads sent from here to the sender, and its hops

    new_leads: list[dict[str, Any]] = []
    for entry in payload["leads"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("uid"), str):
            raise refuse("a lead in the file has no uid")
        uid, parent = entry["uid"], str(entry.get("parent"))
        if uid in leads:
            if uid not in reported:
                raise refuse(f"hop lead {uid} is already known here, and not as a hop of a lead sent to {sender.code}")
            continue
        if parent not in reported:
            raise refuse(f"hop lead {uid} hangs below lead {parent}, which was not sent to {sender.code} from here")
        place(str(entry.get("agency")))
        for key in ("ack_due_at", "action_due_at", "created_at"):
            _parse_time(entry.get(key), f"{path}: hop lead {uid} {key}")
        new_leads.append(entry)
        reported.add(uid)

    events: list[dict[str, Any]] = []
    for number, event in enumerate(payload["events"], start=1):
        where = f"event {number}"
        if not isinstance(event, dict) or not isinstance(event.get("uid"), str) or not event.get("actor"):
            raise refuse(f"{where} has no uid or actor")
        uid, kind = str(event.get("lead")), event.get("kind")
        allowed: tuple[str, ...]
        if uid in reported:
            allowed = RECEIVER_KINDS
        elif uid in received:
            allowed = ORIGINATOR_KINDS
        elif uid in leads:
            raise refuse(f"{where}: lead {uid} is not shared between {sender.code} and {recipient.code}")
        else:
            raise refuse(
                f"{where}: lead {uid} is unknown here; ask {sender.code} for a full status file (--all) or open "
                "its referral package first"
            )
        if kind not in allowed:
            raise refuse(f"{where}: {sender.code} cannot report {kind!r} on lead {uid}")
        _parse_time(event.get("at"), f"{path}: {where}")
        details = event.get("details")
        if not isinstance(details, dict):
            raise refuse(f"{where}: details must be an object")
        if kind == "outcome":
            if details.get("outcome") not in OUTCOMES:
                raise refuse(f"{where}: unknown outcome {details.get('outcome')!r}")
            for counter in OUTCOME_COUNTS:
                value = details.get(counter, 0)
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise refuse(f"{where}: {counter} must be a whole number of 0 or more")
        if event.get("agency"):
            code = str(event["agency"])
            if code in file_agencies:
                place(code)
        events.append(event)
    return _Plan(leads=leads, new_agencies=new_agencies, new_leads=new_leads, events=events)


def import_status_file(session: Session, path: Path, *, actor: str) -> StatusImport:
    """Verify a status file and apply it (see the module docstring). Raises StatusRefused with nothing written."""
    data, _document, payload, signature = _read(path)
    sha256 = hashlib.sha256(data).hexdigest()
    sender_ref, recipient_ref = payload["sender"], payload["recipient"]
    sender = session.scalars(select(Agency).where(Agency.code == str(sender_ref.get("code")))).first()
    if sender is None:
        raise StatusRefused(f"it comes from agency {sender_ref.get('code')!r}, unknown here", file=path)
    recipient = session.scalars(select(Agency).where(Agency.code == str(recipient_ref.get("code")))).first()
    if recipient is None:
        raise StatusRefused(f"it is addressed to agency {recipient_ref.get('code')!r}, unknown here", file=path)
    uid = str(payload["uid"])
    seen = session.scalars(select(StatusExchange).where(StatusExchange.uid == uid)).first()
    if seen is not None and seen.direction == "outgoing":
        raise StatusRefused("this installation wrote this status file; it is imported by its recipient", file=path)
    _verify(session, path, sender, payload, signature)
    report = StatusImport(
        file=str(path), uid=uid, sender=sender.code, recipient=recipient.code, sha256=sha256,
        events=len(payload["events"]),
    )  # fmt: skip
    if seen is not None:
        if seen.sha256 != sha256:
            raise StatusRefused(f"a different status file with the same id ({uid}) was imported before", file=path)
        report.replay = True
        report.duplicates = report.events
        return report
    plan = _plan(session, path, payload, sender, recipient)
    _apply(session, plan, sender, report, actor)
    session.add(
        StatusExchange(
            uid=uid,
            direction="incoming",
            sender_agency_id=sender.id,
            recipient_agency_id=recipient.id,
            path=str(path),
            sha256=sha256,
            last_event_id=payload.get("last_event") if isinstance(payload.get("last_event"), int) else None,
            events_total=report.events,
            events_applied=report.applied,
        )
    )
    audit.record(
        session,
        actor=actor,
        action="status.import",
        object_type="status_exchange",
        object_id=uid,
        agency_id=sender.id,
        details={
            "file": str(path),
            "sha256": sha256,
            "events": report.events,
            "applied": report.applied,
            "duplicates": report.duplicates,
            "not_applied": len(report.not_applied),
            "hop_leads": report.hop_leads_created,
        },
    )
    return report


def _apply(session: Session, plan: _Plan, sender: Agency, report: StatusImport, actor: str) -> None:
    codes: dict[str, int | None] = {}

    def agency_id(code: str | None) -> int | None:
        if not code:
            return None
        if code not in codes:
            codes[code] = session.scalars(select(Agency.id).where(Agency.code == code)).first()
        return codes[code]

    for entry in plan.new_agencies:
        parent_id = agency_id(str(entry["parent"]))
        session.add(
            Agency(
                code=str(entry["code"]),
                name=str(entry["name"]),
                kind=str(entry["kind"]),
                country=sender.country,
                region=entry.get("region"),
                parent_id=parent_id,
            )
        )
        session.flush()
        codes.pop(str(entry["code"]), None)
        report.agencies_created.append(str(entry["code"]))
    for entry in plan.new_leads:
        parent = plan.leads[str(entry["parent"])]
        target_id = agency_id(str(entry["agency"]))
        target = session.get(Agency, target_id) if target_id is not None else None
        assert target is not None
        ack_due_at = _parse_time(entry["ack_due_at"], "ack_due_at")
        action_due_at = _parse_time(entry["action_due_at"], "action_due_at")
        lead = new_hop(parent, target, entry["uid"], _parse_time(entry["created_at"], "created_at"))
        lead.ack_due_at, lead.action_due_at = ack_due_at, action_due_at
        session.add(lead)
        plan.leads[lead.uid] = lead
        report.hop_leads_created += 1
    session.flush()
    event_uids = [str(e["uid"]) for e in plan.events]
    known: set[str] = set()
    for start in range(0, len(event_uids), _CHUNK):
        chunk = event_uids[start : start + _CHUNK]
        known.update(session.scalars(select(LeadEvent.uid).where(LeadEvent.uid.in_(chunk))))
    recalled: list[Lead] = []
    for event in plan.events:
        if event["uid"] in known:
            report.duplicates += 1
            continue
        lead = plan.leads[str(event["lead"])]
        common: dict[str, Any] = {
            "actor": str(event["actor"]),
            "agency_id": agency_id(event.get("agency")),
            "notes": event.get("notes"),
            "at": _parse_time(event["at"], "at"),
            "uid": str(event["uid"]),
            "origin": "imported",
        }
        try:
            append_event(session, lead, str(event["kind"]), details=event["details"], **common)
        except ConflictError as exc:
            append_event(
                session,
                lead,
                "imported",
                details={"kind": event["kind"], "reason": exc.message, "details": event["details"]},
                **common,
            )
            report.not_applied.append({"event": str(event["uid"]), "lead": lead.uid, "reason": exc.message})
            continue
        known.add(str(event["uid"]))
        report.applied += 1
        if event["kind"] == "recalled":
            recalled.append(lead)
    # A recall reaches the hops made here that the sender does not know about.
    for lead in recalled:
        for node in descendants(session, lead):
            if node.status in TERMINAL_STATUSES and node.status != "closed":
                continue
            kind = "note" if node.status == "closed" else "recalled"
            append_event(
                session,
                node,
                kind,
                actor=actor,
                agency_id=sender.id,
                notes=f"recall of {lead.uid} by {sender.code} reached this lead",
                details={"recall_of": lead.uid, "via": "status file"},
            )
            report.recall_reached += 1


def import_status(store: Store, path: Path, *, actor: str) -> StatusImport:
    """Import a status file in its own transaction; a refusal is audited too (and nothing else is written)."""
    try:
        with store.session() as session:
            return import_status_file(session, path, actor=actor)
    except ThreadlineError as exc:
        with store.session() as session:
            audit.record(
                session,
                actor=actor,
                action="status.import.refused",
                object_type="status_exchange",
                object_id=path.name,
                details={"file": str(path), "reason": exc.one_line()},
            )
        raise


def find_local_signer(session: Session, code: str | None) -> Agency:
    """The agency a status file is signed as: the one named, or the only one this installation holds a signing key
    for."""
    if code is not None:
        return find_agency(session, code)
    agencies = list(
        session.scalars(
            select(Agency)
            .join(AgencyKey, AgencyKey.agency_id == Agency.id)
            .where(AgencyKey.kind == SIGNING, AgencyKey.active.is_(True), AgencyKey.private_key_file.is_not(None))
            .distinct()
        )
    )
    if len(agencies) == 1:
        return agencies[0]
    if not agencies:
        raise NotFoundError("this installation holds no signing key: run `threadline keys generate --agency CODE`")
    names = ", ".join(sorted(a.code for a in agencies))
    raise InputError(f"this installation signs for several agencies ({names}): choose one with --agency")
