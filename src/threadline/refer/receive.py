"""The receiving side: check a referral package and import its leads as incoming leads.

Checks, in order, each refusing the package with one line and importing nothing: it decrypts with the identity
given; it is a zip holding a manifest and its signature; the sender it names is an agency known here with a
signing key imported beforehand (`threadline keys import`), optionally the one expected; the manifest's signature
verifies with that agency's key (a signature made with another agency's key is named as such); the package is
addressed to the agency opening it; every file is listed in the manifest with the same size and SHA-256, and
nothing else is in the archive; leads.json has a supported schema version, validates against the schema shipped
with this installation and agrees with the manifest.

Opening imports each lead once (by its uid) as an "incoming" lead holding the lead as received
(`subject_snapshot`), with the originator's created and sent events (same uids, origin "imported") and a local
"received" event. Every open, verify and refusal is audited."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypedDict, TypeVar, Unpack

from pyrage import x25519
from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.core import audit
from threadline.core.db import Store
from threadline.core.errors import ThreadlineError
from threadline.core.settings import Settings
from threadline.directory import find_agency, seed_national_agencies
from threadline.model import Agency, AgencyKey, Lead, Operation, ReferralPackage
from threadline.refer.events import append_event
from threadline.refer.keys import (
    SIGNING,
    SignatureError,
    decrypt_bytes,
    load_identity,
    local_identities,
    verify_bytes,
    verify_keys,
)
from threadline.refer.package import FORMAT, FORMAT_VERSION, MANIFEST, SCHEMA_VERSION, SIGNATURE, schema_errors

MAX_PACKAGE_BYTES = 4 * 1024**3
MAX_MANIFEST_BYTES = 64 * 1024**2
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


class PackageRefused(ThreadlineError):
    """The package failed a check; nothing was imported."""


@dataclass
class PackageCheck:
    """A package that passed every check, with what it holds."""

    path: str
    sha256: str
    size: int
    package_uid: str
    operation: str
    sender: dict[str, Any]
    recipient: dict[str, Any]
    lead_count: int
    schema_version: str
    signer_fingerprint: str
    created_at: str
    files: int
    manifest: dict[str, Any] = field(repr=False)
    document: dict[str, Any] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "size": self.size,
            "package_uid": self.package_uid,
            "operation": self.operation,
            "sender": self.sender["code"],
            "recipient": self.recipient["code"],
            "lead_count": self.lead_count,
            "schema_version": self.schema_version,
            "signer_fingerprint": self.signer_fingerprint,
            "created_at": self.created_at,
            "files": self.files,
        }


@dataclass
class OpenReport:
    check: PackageCheck
    leads_new: int = 0
    leads_existing: int = 0
    already_opened: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.check.to_dict(),
            "leads_new": self.leads_new,
            "leads_existing": self.leads_existing,
            "already_opened": self.already_opened,
        }


def _refuse(path: Path, message: str) -> PackageRefused:
    return PackageRefused(f"refused: {message}; nothing was imported", file=path)


def _identities(
    settings: Settings, session: Session, identity: Path | None, as_agency: Agency | None, path: Path
) -> list[x25519.Identity]:
    if identity is not None:
        return load_identity(identity)
    found = local_identities(settings, session, as_agency)
    if not found:
        held = f" of {as_agency.code}" if as_agency is not None else ""
        raise _refuse(path, f"this installation holds no age identity{held}: give --identity KEYFILE")
    return found


def check_package(
    settings: Settings,
    session: Session,
    path: Path,
    *,
    identity: Path | None = None,
    identities: list[x25519.Identity] | None = None,
    as_agency: Agency | None = None,
    expect_sender: Agency | None = None,
) -> PackageCheck:
    """Decrypt and check `path` (see the module's docstring); PackageRefused on the first failed check."""
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise PackageRefused("not a file: give the package file (.tlref.age)", file=path)
        if size > MAX_PACKAGE_BYTES:
            raise _refuse(path, f"the file is {size:,} bytes, more than any package Threadline writes")
        ciphertext = path.read_bytes()
    except OSError as exc:
        raise PackageRefused(f"cannot read the package: {exc.strerror}", file=path) from None
    sha256 = hashlib.sha256(ciphertext).hexdigest()
    keys = identities if identities is not None else _identities(settings, session, identity, as_agency, path)
    try:
        archive_bytes = decrypt_bytes(ciphertext, keys, file=path)
    except ThreadlineError as exc:
        raise _refuse(path, exc.message) from None
    try:
        archive = zipfile.ZipFile(io.BytesIO(archive_bytes))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError):
        raise _refuse(path, "it decrypts, but what is inside is not a Threadline package (no zip archive)") from None
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        raise _refuse(path, "the archive names a file twice")
    for name in names:
        if not _SAFE_NAME.match(name) or ".." in name.split("/"):
            raise _refuse(path, f"the archive holds a file with an unsafe name: {name[:80]!r}")
    if MANIFEST not in names or SIGNATURE not in names:
        raise _refuse(path, f"no {MANIFEST} or {SIGNATURE} in the archive: not a Threadline package")

    manifest_bytes = _read(archive, MANIFEST, MAX_MANIFEST_BYTES, path)
    signature_bytes = _read(archive, SIGNATURE, 64 * 1024, path)
    try:
        manifest = json.loads(manifest_bytes)
        signature_doc = json.loads(signature_bytes)
        signature = base64.b64decode(signature_doc["signature"], validate=True)
        sender_ref = manifest["sender"]
        recipient_ref = manifest["recipient"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise _refuse(path, "the manifest or its signature is not readable") from None
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise _refuse(
            path,
            f"unsupported package format {manifest.get('format')!r} version {manifest.get('format_version')!r} "
            f"(this installation reads {FORMAT} version {FORMAT_VERSION})",
        )

    sender_code = str(sender_ref.get("code", ""))
    sender = session.scalars(select(Agency).where(Agency.code == sender_code)).first()
    if sender is None:
        raise _refuse(path, f"it names sender {sender_code!r}, an agency unknown here (import the agency first)")
    if expect_sender is not None and sender.id != expect_sender.id:
        raise _refuse(path, f"it comes from {sender.code}, not from the expected agency {expect_sender.code}")
    known = verify_keys(session, sender)
    if not known:
        raise _refuse(
            path,
            f"no signing key of sender {sender.code} is known here: import it first with "
            f"`threadline keys import --agency {sender.code} FILE`",
        )
    try:
        fingerprint = verify_bytes(known, manifest_bytes, signature)
    except SignatureError:
        other = other_signer(session, sender, manifest_bytes, signature)
        if other is not None:
            raise _refuse(
                path, f"it names {sender.code} as sender but is signed with the key of agency {other}"
            ) from None
        raise _refuse(
            path,
            f"the manifest's signature does not verify with any known signing key of {sender.code} "
            "(the package was altered, or signed with a key not imported here)",
        ) from None

    recipient_code = str(recipient_ref.get("code", ""))
    if as_agency is not None and recipient_code != as_agency.code:
        raise _refuse(path, f"it is addressed to {recipient_code}, not to {as_agency.code}")

    listed = {}
    try:
        for entry in manifest["files"]:
            listed[str(entry["path"])] = (str(entry["sha256"]), int(entry["size"]))
    except (KeyError, TypeError, ValueError):
        raise _refuse(path, "the manifest's file list is not readable") from None
    present = set(names) - {MANIFEST, SIGNATURE}
    if present - set(listed):
        raise _refuse(path, f"the archive holds files the manifest does not list: {sorted(present - set(listed))[:5]}")
    if set(listed) - present:
        raise _refuse(path, f"files listed in the manifest are missing: {sorted(set(listed) - present)[:5]}")
    contents: dict[str, bytes] = {}
    for name, (digest, expected_size) in sorted(listed.items()):
        data = _read(archive, name, expected_size, path)
        if len(data) != expected_size or hashlib.sha256(data).hexdigest() != digest:
            raise _refuse(path, f"{name} was changed after signing (its SHA-256 does not match the manifest)")
        contents[name] = data

    try:
        document = json.loads(contents["leads.json"])
    except (KeyError, ValueError):
        raise _refuse(path, "leads.json is missing or not JSON") from None
    version = document.get("schema_version") if isinstance(document, dict) else None
    if version != SCHEMA_VERSION:
        raise _refuse(path, f"leads.json schema version {version!r} is not supported here (reads {SCHEMA_VERSION})")
    errors = schema_errors(document)
    if errors:
        raise _refuse(path, f"leads.json does not match its schema: {errors[0]}")
    if (
        document["package_uid"] != manifest.get("package_uid")
        or document["sender"]["code"] != sender.code
        or document["recipient"]["code"] != recipient_code
        or len(document["leads"]) != manifest.get("lead_count")
    ):
        raise _refuse(path, "leads.json disagrees with the signed manifest (package, sender, recipient or count)")
    return PackageCheck(
        path=str(path),
        sha256=sha256,
        size=size,
        package_uid=str(manifest["package_uid"]),
        operation=str(manifest.get("operation", "")),
        sender=document["sender"],
        recipient=document["recipient"],
        lead_count=len(document["leads"]),
        schema_version=version,
        signer_fingerprint=fingerprint,
        created_at=str(manifest.get("created_at", "")),
        files=len(names),
        manifest=manifest,
        document=document,
    )


def _read(archive: zipfile.ZipFile, name: str, limit: int, path: Path) -> bytes:
    """At most `limit` bytes of a member (a member larger than it says is caught by the size check)."""
    try:
        with archive.open(name) as handle:
            return handle.read(limit + 1)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise _refuse(path, f"{name} cannot be read from the archive ({exc})") from None


def other_signer(session: Session, sender: Agency, data: bytes, signature: bytes) -> str | None:
    """The code of another agency whose signing key verifies `signature` over `data`, if any, so that a refusal
    can name who really signed (packages here, status files in track)."""
    rows = session.execute(
        select(AgencyKey, Agency.code)
        .join(Agency, Agency.id == AgencyKey.agency_id)
        .where(AgencyKey.kind == SIGNING, AgencyKey.agency_id != sender.id)
    )
    for key, code in rows:
        try:
            verify_bytes([key], data, signature)
        except SignatureError:
            continue
        return str(code)
    return None


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _audit_refusal(store: Store, path: Path, action: str, reason: str, actor: str) -> None:
    with store.session() as session:
        audit.record(
            session,
            actor=actor,
            action=f"package.{action}.refused",
            object_type="referral_package",
            object_id=path.name,
            details={"file": str(path), "reason": reason},
        )


class Receiving(TypedDict, total=False):
    """How a package is received: the age identity to decrypt it with (by default the age keys this installation
    holds), the agency receiving it and the one it must come from (codes), and who acts (default "system")."""

    identity: Path | None
    as_agency: str | None
    expect_sender: str | None
    actor: str


def verify_package(store: Store, path: Path, **receiving: Unpack[Receiving]) -> PackageCheck:
    """Check a package without importing it (audited, refusals too)."""
    return _receive(store, path, "verify", lambda session, check, actor: (check, {}, None), **receiving)


def open_package(store: Store, path: Path, **receiving: Unpack[Receiving]) -> OpenReport:
    """Check `path` and import its leads as incoming leads (idempotent; audited, refusals too)."""

    def import_leads(
        session: Session, check: PackageCheck, actor: str
    ) -> tuple[OpenReport, dict[str, Any], int | None]:
        report = _import(session, check, path, actor)
        counts = {"leads_new": report.leads_new, "leads_existing": report.leads_existing}
        return report, counts, _code_id(session, check.recipient["code"])

    return _receive(store, path, "open", import_leads, **receiving)


Received = TypeVar("Received")


def _receive(
    store: Store,
    path: Path,
    action: str,
    then: Callable[[Session, PackageCheck, str], tuple[Received, dict[str, Any], int | None]],
    *,
    identity: Path | None = None,
    as_agency: str | None = None,
    expect_sender: str | None = None,
    actor: str = "system",
) -> Received:
    """Check the package, do `then` with it in the same transaction (it returns the result, what to add to the
    audit event and the agency to audit it under), and audit the action; a refusal is audited on its own."""
    try:
        with store.session() as session:
            seed_national_agencies(session, actor=actor)
            receiver = _agency(session, as_agency)
            sender = _agency(session, expect_sender)
            check = check_package(
                store.settings, session, path, identity=identity, as_agency=receiver, expect_sender=sender
            )
            result, details, agency_id = then(session, check, actor)
            audit.record(
                session,
                actor=actor,
                action=f"package.{action}",
                object_type="referral_package",
                object_id=check.package_uid,
                agency_id=agency_id,
                details={"file": str(path), "sha256": check.sha256, "sender": check.sender["code"], **details},
            )
            return result
    except ThreadlineError as exc:
        _audit_refusal(store, path, action, exc.one_line(), actor)
        raise


def _agency(session: Session, code: str | None) -> Agency | None:
    return find_agency(session, code) if code is not None else None


def _code_id(session: Session, code: str) -> int | None:
    return session.scalars(select(Agency.id).where(Agency.code == code)).first()


def _import(session: Session, check: PackageCheck, path: Path, actor: str) -> OpenReport:
    path_ = Path(check.path)
    report = OpenReport(check=check)
    seen = session.scalars(select(ReferralPackage).where(ReferralPackage.uid == check.package_uid)).first()
    if seen is not None and seen.direction == "outgoing":
        raise _refuse(path_, "this installation wrote this package; it is opened by its recipient")
    recipient = session.scalars(select(Agency).where(Agency.code == check.recipient["code"])).first()
    if recipient is None:
        raise _refuse(
            path_,
            f"it is addressed to agency {check.recipient['code']}, unknown here: import the agency directory "
            "(`threadline agencies import`) first",
        )
    sender = session.scalars(select(Agency).where(Agency.code == check.sender["code"])).one()
    if seen is not None:
        report.already_opened = True
        report.leads_existing = check.lead_count
        return report

    document = check.document
    operation = session.scalars(select(Operation).where(Operation.name == document["operation"]["name"])).first()
    if operation is None:
        operation = Operation(
            name=document["operation"]["name"],
            description=document["operation"].get("description"),
            originating_agency_id=sender.id,
        )
        session.add(operation)
        session.flush()
    package = ReferralPackage(
        uid=check.package_uid,
        direction="incoming",
        operation_id=operation.id,
        sender_agency_id=sender.id,
        recipient_agency_id=recipient.id,
        path=str(path),
        sha256=check.sha256,
        size=check.size,
        lead_count=check.lead_count,
        manifest=check.manifest,
        signer_fingerprint=check.signer_fingerprint,
        recipients=list(check.manifest.get("encrypted_to", [])),
        schema_version=check.schema_version,
    )
    session.add(package)
    session.flush()
    uids = [lead["uid"] for lead in document["leads"]]
    known = set(session.scalars(select(Lead.uid).where(Lead.uid.in_(uids))))
    parent_uids = {lead["parent_uid"] for lead in document["leads"] if lead.get("parent_uid")}
    parents = {
        uid: lead_id for uid, lead_id in session.execute(select(Lead.uid, Lead.id).where(Lead.uid.in_(parent_uids)))
    }
    codes: dict[str, int | None] = {}

    def agency_id(code: str) -> int | None:
        if code not in codes:
            codes[code] = _code_id(session, code)
        return codes[code]

    for entry in document["leads"]:
        if entry["uid"] in known:
            report.leads_existing += 1
            continue
        lead = Lead(
            uid=entry["uid"],
            direction="incoming",
            operation_id=operation.id,
            subject_id=None,
            subject_snapshot=entry,
            agency_id=recipient.id,
            originating_agency_id=agency_id(entry["originating_agency"]["code"]) or sender.id,
            parent_id=parents.get(entry.get("parent_uid")),
            hop=entry["hop"],
            country=entry["country"],
            region=entry.get("region"),
            tier=entry["tier"],
            score=float(entry["score"]),
            handling_code=entry["handling_code"],
            handling_note=entry.get("handling_note"),
            status="created",
            ack_due_at=_parse_time(entry["ack_due_at"]),
            action_due_at=_parse_time(entry["action_due_at"]),
            package_id=package.id,
            created_at=_parse_time(entry["created_at"]),
            updated_at=_parse_time(entry["created_at"]),
        )
        session.add(lead)
        for event in entry["events"]:
            if event["kind"] not in ("created", "sent"):
                continue
            append_event(
                session,
                lead,
                event["kind"],
                actor=event["actor"],
                agency_id=agency_id(event["agency"]) if event.get("agency") else None,
                at=_parse_time(event["at"]),
                uid=event["uid"],
                notes=event.get("notes"),
                origin="imported",
            )
        if lead.status != "sent":
            raise _refuse(path_, f"lead {entry['uid']} arrived without its 'sent' event")
        append_event(
            session,
            lead,
            "received",
            actor=actor,
            agency_id=recipient.id,
            details={"package": check.package_uid, "file": path.name, "sha256": check.sha256},
        )
        report.leads_new += 1
    session.flush()
    return report
