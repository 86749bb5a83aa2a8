"""Referral packages: one signed, encrypted file of leads for one agency.

A package is an age-encrypted zip archive (see README.md in this folder for the format). Writing one reads the
leads' subjects, renders every file, lists their SHA-256 in ``manifest.json``, signs the manifest's bytes with the
sender's Ed25519 key (``manifest.sig``), zips, encrypts to the recipient's age recipients, writes the file, records
a `ReferralPackage` and appends a "sent" event to every lead in it."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import re
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.core import audit
from threadline.core.bulk import collector_paused
from threadline.core.errors import ConflictError, NotFoundError
from threadline.core.settings import Settings
from threadline.model import HANDLING_CODES, TIER_LABELS, Agency, Lead, LeadEvent, Operation, ReferralPackage, utcnow
from threadline.refer import pages
from threadline.refer.casejsonld import case_graph
from threadline.refer.clocks import agency_clocks
from threadline.refer.events import send_leads_bulk
from threadline.refer.keys import (
    age_recipients,
    encrypt_bytes,
    load_signing_private,
    sign_bytes,
    signing_key_path,
)
from threadline.refer.snapshot import build_snapshots

FORMAT = "threadline.referral-package"
FORMAT_VERSION = 1
SCHEMA_VERSION = "1.0"
SUFFIX = ".tlref.age"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
# The columns of leads.csv: the `export leads` contract, then what a reader of one package also needs.
CSV_COLUMNS = (
    "lead_id", "subject_id", "country", "region", "agency", "tier", "score", "status", "sla_due",
    "handling_code", "ack_due_at", "action_due_at", "full_name", "date_of_birth",
)  # fmt: skip
_SAFE = re.compile(r"[^A-Za-z0-9._-]")
_README = """Threadline referral package {uid}

From {sender} to {recipient}, operation {operation}: {count} lead(s).

  index.html            the leads, one line each, linking to a page per lead (leads/<lead id>.html)
  leads.json            the leads as data (schema version {schema}; schema/leads.schema.json)
  leads.csv             one row per lead
  case.jsonld           the same subjects and provenance in CASE/UCO (https://caseontology.org)
  manifest.json         the SHA-256 and size of every file here, with sender and recipient
  manifest.sig          the sender's Ed25519 signature of manifest.json's bytes

Check it before relying on it: threadline package verify FILE --identity KEYFILE
(or check every SHA-256 in manifest.json and the signature with the sender's published public key).
No media, media path or media hash is included: only counts of triage verdicts.
"""


class MissingKeyError(NotFoundError):
    """An agency has no age recipient here, so no package can be encrypted to it."""


@dataclass(frozen=True)
class WrittenPackage:
    uid: str
    agency: str
    path: Path
    leads: int
    size: int
    sha256: str
    signer_fingerprint: str
    recipients: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "agency": self.agency,
            "path": str(self.path),
            "leads": self.leads,
            "size": self.size,
            "sha256": self.sha256,
            "signer_fingerprint": self.signer_fingerprint,
            "recipients": list(self.recipients),
        }


def dump_json(value: Any) -> bytes:
    """UTF-8 JSON, indented two spaces, keys in the order written (orjson: the package's files are large)."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def agency_ref(agency: Agency) -> dict[str, Any]:
    return {
        "code": agency.code,
        "name": agency.name,
        "kind": agency.kind,
        "country": agency.country,
        "region": agency.region,
    }


@cache
def schema_text() -> str:
    return (resources.files("threadline.refer") / "data" / "leads.schema.json").read_text(encoding="utf-8")


@cache
def leads_validator() -> Any:
    """The leads.json schema compiled by jsonschema-rs: validating a package's leads is part of opening it, and
    the pure-Python `jsonschema` (the reference the tests hold this to) takes ~13 ms per lead."""
    return jsonschema_rs.validator_for(json.loads(schema_text()))


def schema_errors(document: Any, limit: int = 5) -> list[str]:
    """Where `document` breaks the leads.json schema, as "path: message" lines (empty when valid)."""
    validator = leads_validator()
    if validator.is_valid(document):
        return []
    errors = sorted(validator.iter_errors(document), key=lambda e: [str(p) for p in e.instance_path])
    return [f"{'/'.join(str(p) for p in e.instance_path) or '(top)'}: {e.message}" for e in errors[:limit]]


def render_lead_page(document: dict[str, Any], lead: dict[str, Any]) -> str:
    return pages.render_lead_page(document, lead)


def render_index(document: dict[str, Any]) -> str:
    return pages.render_index(document)


def csv_rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "lead_id": lead["uid"],
            "subject_id": lead["subject"].get("originator_subject_id"),
            "country": lead["country"],
            "region": lead["region"],
            "agency": document["recipient"]["code"],
            "tier": lead["tier"],
            "score": lead["score"],
            "status": lead["status"],
            "sla_due": lead["ack_due_at"],
            "handling_code": lead["handling_code"],
            "ack_due_at": lead["ack_due_at"],
            "action_due_at": lead["action_due_at"],
            "full_name": lead["subject"].get("full_name"),
            "date_of_birth": lead["subject"].get("date_of_birth"),
        }
        for lead in document["leads"]
    ]


def render_csv(document: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in csv_rows(document):
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


def package_files(document: dict[str, Any], *, leads_json: bytes | None = None) -> dict[str, bytes]:
    """Every file of the package but the manifest and its signature, by path inside the archive (`leads_json`:
    `dump_json(document)` when the caller has it already)."""
    files: dict[str, bytes] = {
        "README.txt": _README.format(
            uid=document["package_uid"],
            sender=f"{document['sender']['name']} ({document['sender']['code']})",
            recipient=f"{document['recipient']['name']} ({document['recipient']['code']})",
            operation=document["operation"]["name"],
            count=len(document["leads"]),
            schema=document["schema_version"],
        ).encode("utf-8"),
        "leads.json": dump_json(document) if leads_json is None else leads_json,
        "leads.csv": render_csv(document).encode("utf-8"),
        "case.jsonld": dump_json(case_graph(document)),
        "schema/leads.schema.json": schema_text().encode("utf-8"),
    }
    views = pages.LeadPages(document)
    files["index.html"] = views.index().encode("utf-8")
    for lead in document["leads"]:
        files[f"leads/{lead['uid']}.html"] = views.page(lead).encode("utf-8")
    return files


def manifest_for(
    document: dict[str, Any], files: dict[str, bytes], *, signer_fingerprint: str, signer_public: str, to: Sequence[str]
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "schema_version": document["schema_version"],
        "package_uid": document["package_uid"],
        "created_at": document["created_at"],
        "operation": document["operation"]["name"],
        "sender": document["sender"],
        "recipient": document["recipient"],
        "lead_count": len(document["leads"]),
        "signature": {"algorithm": "Ed25519", "key_fingerprint": signer_fingerprint, "public_key": signer_public},
        "encrypted_to": list(to),
        "files": [
            {"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
            for name, data in sorted(files.items())
        ],
    }


def zip_package(manifest_bytes: bytes, signature_bytes: bytes, files: dict[str, bytes], when: datetime) -> bytes:
    buffer = io.BytesIO()
    stamp = when.timetuple()[:6]
    # Level 1: a third of level 6's time for a few percent more bytes (and age encrypts the result anyway).
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, data in [(MANIFEST, manifest_bytes), (SIGNATURE, signature_bytes), *sorted(files.items())]:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            archive.writestr(info, data, compresslevel=1)
    return buffer.getvalue()


def _events(session: Session, leads: Sequence[Lead], codes: dict[int, str]) -> dict[int, list[dict[str, Any]]]:
    events: dict[int, list[dict[str, Any]]] = {lead.id: [] for lead in leads}
    ids = list(events)
    for start in range(0, len(ids), 500):
        rows = session.scalars(
            select(LeadEvent).where(LeadEvent.lead_id.in_(ids[start : start + 500])).order_by(LeadEvent.id)
        )
        for event in rows:
            events[event.lead_id].append(
                {
                    "uid": event.uid,
                    "kind": event.kind,
                    "at": iso(event.at),
                    "actor": event.actor,
                    "agency": codes.get(event.agency_id) if event.agency_id else None,
                    "notes": event.notes,
                }
            )
    return events


@dataclass
class PreparedPackage:
    """A package read from the database and ready to seal: the document, who signs and who may open it."""

    document: dict[str, Any]
    lead_ids: list[int]
    sent_uids: list[str]
    clocks: list[tuple[datetime, datetime]]
    sender_id: int
    recipient_id: int
    recipient_code: str
    operation_id: int | None
    sent_at: datetime
    to: list[str]
    key_path: Path
    key_fingerprint: str
    key_public: str

    def seal_args(self) -> tuple[bytes, Path, str, str, list[str], datetime]:
        """What `seal_package` needs: plain values another process can take. The document goes as the bytes of
        leads.json: a worker process reads them back with orjson in a fraction of the time that pickling the
        document's hundreds of thousands of objects there and back took."""
        return (dump_json(self.document), self.key_path, self.key_fingerprint, self.key_public, self.to, self.sent_at)


@dataclass(frozen=True)
class SealedPackage:
    manifest: dict[str, Any]
    ciphertext: bytes


def prepare_package(
    settings: Settings,
    session: Session,
    leads: Sequence[Lead],
    *,
    sender: Agency,
    recipient: Agency,
    operation: Operation | None,
    actor: str,
    now: datetime | None = None,
) -> PreparedPackage:
    """Read what a package of `leads` (all addressed to `recipient`, none sent yet) says; nothing is written.

    Raises MissingKeyError when `recipient` has no age recipient here (never plaintext) and NotFoundError when
    this installation holds no signing key for `sender`."""
    if not leads:
        raise ConflictError(f"no leads to package for agency {recipient.code}")
    for lead in leads:
        if lead.agency_id != recipient.id:
            raise ConflictError(f"lead {lead.uid} is addressed to another agency than {recipient.code}")
        if lead.status != "created" or lead.package_id is not None:
            raise ConflictError(f"lead {lead.uid} is {lead.status}; only leads not sent yet can be packaged")
    to = age_recipients(session, recipient)
    if not to:
        raise MissingKeyError(
            f"agency {recipient.code} has no age key here: import its public keys with "
            f"`threadline keys import --agency {recipient.code} FILE` (or `threadline keys generate --agency "
            f"{recipient.code}` if this installation acts for it)"
        )
    key_path, key_row = signing_key_path(settings, session, sender)
    load_signing_private(key_path)  # a missing or unsafe key stops here, before anything is sealed
    sent_at = now or utcnow()
    package_uid = str(uuid.uuid4())
    clocks = agency_clocks(recipient)
    agency_ids = {sender.id, recipient.id} | {lead.originating_agency_id or sender.id for lead in leads}
    agencies = {a.id: a for a in session.scalars(select(Agency).where(Agency.id.in_(agency_ids)))}
    codes = {agency_id: agency.code for agency_id, agency in agencies.items()}
    with collector_paused():  # ~40% of rendering was the collector walking the whole leads document
        snapshots = build_snapshots(session, [lead.subject_id for lead in leads if lead.subject_id is not None])
    history = _events(session, leads, codes)
    parents = {
        lead_id: uid
        for lead_id, uid in session.execute(
            select(Lead.id, Lead.uid).where(Lead.id.in_({lead.parent_id for lead in leads if lead.parent_id}))
        )
    }

    entries: list[dict[str, Any]] = []
    sent_uids: list[str] = []
    due: list[tuple[datetime, datetime]] = []
    for lead in leads:
        previous = lead.subject_snapshot or {}
        if lead.subject_id is not None and lead.subject_id in snapshots:
            subject = snapshots[lead.subject_id]
        elif "subject" in previous:
            subject = previous["subject"]
        else:
            raise ConflictError(f"lead {lead.uid} has neither a subject here nor a snapshot of one to send")
        ack_due, action_due = clocks[lead.tier].due(sent_at)
        sent_uid = str(uuid.uuid4())
        events = [
            *history[lead.id],
            {"uid": sent_uid, "kind": "sent", "at": iso(sent_at), "actor": actor, "agency": sender.code, "notes": None},
        ]
        entries.append(
            {
                "uid": lead.uid,
                "hop": lead.hop,
                "parent_uid": parents.get(lead.parent_id) if lead.parent_id else None,
                "originating_agency": agency_ref(agencies[lead.originating_agency_id or sender.id]),
                "country": lead.country or recipient.country,
                "region": lead.region,
                "tier": lead.tier,
                "tier_label": TIER_LABELS.get(lead.tier, lead.tier),
                "score": lead.score,
                "handling_code": lead.handling_code,
                "handling_note": lead.handling_note,
                "status": "sent",
                "created_at": iso(lead.created_at),
                "sent_at": iso(sent_at),
                "ack_due_at": iso(ack_due),
                "action_due_at": iso(action_due),
                "route": list(previous.get("route", [])),
                "events": events,
                "subject": subject,
            }
        )
        sent_uids.append(sent_uid)
        due.append((ack_due, action_due))

    document = {
        "format": "threadline.leads",
        "schema_version": SCHEMA_VERSION,
        "package_uid": package_uid,
        "created_at": iso(sent_at),
        "operation": {
            "name": operation.name if operation else "(none)",
            "description": operation.description if operation else None,
        },
        "sender": agency_ref(sender),
        "recipient": agency_ref(recipient),
        "handling_codes": dict(HANDLING_CODES),
        "leads": entries,
    }
    return PreparedPackage(
        document=document,
        lead_ids=[lead.id for lead in leads],
        sent_uids=sent_uids,
        clocks=due,
        sender_id=sender.id,
        recipient_id=recipient.id,
        recipient_code=recipient.code,
        operation_id=operation.id if operation else None,
        sent_at=sent_at,
        to=list(to),
        key_path=key_path,
        key_fingerprint=key_row.fingerprint,
        key_public=key_row.public_key,
    )


def seal_package(
    leads_json: bytes, key_path: Path, fingerprint: str, public: str, to: list[str], sent_at: datetime
) -> SealedPackage:
    """Render every file from the package's leads.json (`dump_json` of the document), list them in the manifest,
    sign it, zip and encrypt: CPU only, no database, so a big operation seals several agencies' packages at once
    in worker processes."""
    private = load_signing_private(key_path)
    with collector_paused():  # ~40% of rendering was the collector walking the whole leads document
        document = orjson.loads(leads_json)
        files = package_files(document, leads_json=leads_json)
    manifest = manifest_for(document, files, signer_fingerprint=fingerprint, signer_public=public, to=to)
    manifest_bytes = dump_json(manifest)
    signature = {
        "algorithm": "Ed25519",
        "key_fingerprint": fingerprint,
        "signed_file": MANIFEST,
        "signature": base64.b64encode(sign_bytes(private, manifest_bytes)).decode("ascii"),
    }
    archive = zip_package(manifest_bytes, dump_json(signature), files, sent_at)
    return SealedPackage(manifest=manifest, ciphertext=encrypt_bytes(archive, to))


def finish_package(
    session: Session, prepared: PreparedPackage, sealed: SealedPackage, *, out_dir: Path, actor: str
) -> WrittenPackage:
    """Write the sealed file, record the `ReferralPackage` and a "sent" event on every lead, in `session`'s
    transaction. The leads are read again here: one that was sent or changed since it was prepared stops the
    package (ConflictError) before anything is written. The file is in place when this returns; the caller's
    transaction commits the package row and the events (remove `path` if it fails)."""
    by_id = {
        lead.id: lead
        for start in range(0, len(prepared.lead_ids), 1000)
        for lead in session.scalars(select(Lead).where(Lead.id.in_(prepared.lead_ids[start : start + 1000])))
    }
    leads = [by_id[lead_id] for lead_id in prepared.lead_ids if lead_id in by_id]
    if len(leads) != len(prepared.lead_ids):
        raise ConflictError(f"a lead for agency {prepared.recipient_code} was removed while its package was made")
    for lead in leads:
        if lead.status != "created" or lead.package_id is not None:
            raise ConflictError(f"lead {lead.uid} is {lead.status}; only leads not sent yet can be packaged")
    document = prepared.document
    package_uid = document["package_uid"]
    ciphertext = sealed.ciphertext
    sha256 = hashlib.sha256(ciphertext).hexdigest()

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{_SAFE.sub('_', prepared.recipient_code)}-{package_uid[:8]}{SUFFIX}"
    temporary = out_dir / f".{path.name}.partial"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(ciphertext)
        handle.flush()
        os.fsync(handle.fileno())

    try:
        package = ReferralPackage(
            uid=package_uid,
            direction="outgoing",
            operation_id=prepared.operation_id,
            sender_agency_id=prepared.sender_id,
            recipient_agency_id=prepared.recipient_id,
            path=str(path),
            sha256=sha256,
            size=len(ciphertext),
            lead_count=len(leads),
            manifest=sealed.manifest,
            signer_fingerprint=prepared.key_fingerprint,
            recipients=list(prepared.to),
            schema_version=SCHEMA_VERSION,
            created_at=prepared.sent_at,
        )
        session.add(package)
        session.flush()
        send_leads_bulk(
            session,
            leads,
            actor=actor,
            agency_id=prepared.sender_id,
            at=prepared.sent_at,
            uids=prepared.sent_uids,
            details={"package": package_uid, "file": path.name},
            changes=[
                {
                    "package_id": package.id,
                    "subject_snapshot": entry,
                    "ack_due_at": ack_due,
                    "action_due_at": action_due,
                }
                for (ack_due, action_due), entry in zip(prepared.clocks, document["leads"], strict=True)
            ],
        )
        audit.record(
            session,
            actor=actor,
            action="package.write",
            object_type="referral_package",
            object_id=package_uid,
            agency_id=prepared.sender_id,
            details={
                "recipient": prepared.recipient_code,
                "leads": len(leads),
                "sha256": sha256,
                "file": str(path),
                "signer": prepared.key_fingerprint,
            },
        )
        session.flush()
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return WrittenPackage(
        uid=package_uid,
        agency=prepared.recipient_code,
        path=path,
        leads=len(leads),
        size=len(ciphertext),
        sha256=sha256,
        signer_fingerprint=prepared.key_fingerprint,
        recipients=tuple(prepared.to),
    )


def write_package(
    settings: Settings,
    session: Session,
    leads: Sequence[Lead],
    *,
    sender: Agency,
    recipient: Agency,
    operation: Operation | None,
    out_dir: Path,
    actor: str,
    now: datetime | None = None,
) -> WrittenPackage:
    """Write one package of `leads` (all addressed to `recipient`, none sent yet) and mark them sent: prepare,
    seal and finish in one go (see each). Raises MissingKeyError when `recipient` has no age recipient here
    (nothing is written: never plaintext), and NotFoundError when this installation holds no signing key for
    `sender`."""
    prepared = prepare_package(
        settings, session, leads, sender=sender, recipient=recipient, operation=operation, actor=actor, now=now
    )
    sealed = seal_package(*prepared.seal_args())
    return finish_package(session, prepared, sealed, out_dir=out_dir, actor=actor)
