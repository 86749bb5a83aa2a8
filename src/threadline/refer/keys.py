"""Agency keys: Ed25519 to sign, age (X25519) to encrypt; private halves only in owner-only files.

Each agency has two kinds of key. Its **signing key** (Ed25519, RFC 8032) signs what it sends: the manifest of a
referral package, a status file. Its **age identity** decrypts what is sent to it; the matching public "age1…"
recipient is what others encrypt to. An installation generates keys for the agencies it acts as and imports the
public keys of the agencies it exchanges with.

Private keys live only under ``THREADLINE_HOME/keys/<agency code>/`` (folder 0700, files 0600), in standard
formats so other tools read them too: the signing key as unencrypted PKCS#8 PEM (``openssl pkey`` reads it), the
age identity in ``age-keygen``'s format (``age -d -i FILE`` uses it). The database holds the public keys and the
file's path relative to the home, never key material, so a database dump exposes nothing secret.

Public keys travel as a small text file (``keys export``, ``keys import``)::

    # Threadline public keys
    agency: DE
    ed25519: 3q2+7w…=          (base64 of the 32-byte Ed25519 public key; "ssh-ed25519 AAAA…" is accepted too)
    age: age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq

A signing key's fingerprint is ``SHA256:`` and the unpadded base64 of the SHA-256 of its 32 raw bytes; an age key's
fingerprint is its recipient string.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyrage
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pyrage import x25519
from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.core import audit
from threadline.core.errors import ConflictError, InputError, NotFoundError, ThreadlineError
from threadline.core.settings import Settings
from threadline.model import Agency, AgencyKey, utcnow

SIGNING = "signing"
AGE = "age"
SIGNING_PREFIX = "ed25519:"
AGE_HEADER = b"age-encryption.org/v1"
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


class SignatureError(ThreadlineError):
    """A signature does not verify with any of the keys it should come from."""


@dataclass(frozen=True)
class GeneratedKeys:
    """What `generate_keys` made: public halves, fingerprints and where the private halves were written."""

    agency: str
    signing_fingerprint: str
    signing_public_key: str
    age_recipient: str
    signing_key_file: str
    age_identity_file: str
    revoked: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "agency": self.agency,
            "signing_fingerprint": self.signing_fingerprint,
            "signing_public_key": self.signing_public_key,
            "age_recipient": self.age_recipient,
            "signing_key_file": self.signing_key_file,
            "age_identity_file": self.age_identity_file,
            "revoked": self.revoked,
        }


@dataclass
class KeyImport:
    """What `import_keys` did, by fingerprint."""

    agency: str
    file: str
    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "agency": self.agency,
            "file": self.file,
            "added": self.added,
            "unchanged": self.unchanged,
            "revoked": self.revoked,
        }


# --- the public key text forms -------------------------------------------------------------------------------


def signing_public_text(public_key: Ed25519PublicKey) -> str:
    """``ed25519:`` and the standard base64 of the 32 raw public key bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return SIGNING_PREFIX + base64.b64encode(raw).decode("ascii")


def signing_fingerprint(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode("ascii").rstrip("=")


def parse_signing_public(text: str) -> Ed25519PublicKey:
    """An Ed25519 public key from ``ed25519:<base64>`` or an OpenSSH ``ssh-ed25519 AAAA…`` line."""
    value = text.strip()
    if value.startswith("ssh-ed25519 "):
        try:
            key = serialization.load_ssh_public_key(value.encode("ascii"))
        except (ValueError, UnicodeEncodeError) as exc:
            raise InputError(f"not a valid ssh-ed25519 public key: {exc}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise InputError("the ssh key is not an Ed25519 key")
        return key
    if not value.startswith(SIGNING_PREFIX):
        raise InputError(f"expected an Ed25519 public key written as '{SIGNING_PREFIX}<base64>'")
    try:
        raw = base64.b64decode(value[len(SIGNING_PREFIX) :].strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InputError("the Ed25519 public key is not valid base64") from None
    if len(raw) != 32:
        raise InputError(f"an Ed25519 public key has 32 bytes, this one has {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def parse_age_recipient(text: str) -> x25519.Recipient:
    value = text.strip()
    try:
        return x25519.Recipient.from_str(value)
    except Exception:  # pyrage raises its own RecipientError or ValueError depending on the defect
        raise InputError(f"not a valid age recipient: {value[:20]}… (expected 'age1…' from age-keygen)") from None


# --- files and permissions ----------------------------------------------------------------------------------------


def keys_dir(settings: Settings) -> Path:
    """``THREADLINE_HOME/keys``, created owner-only."""
    home = settings.ensure_home()
    folder = home / "keys"
    folder.mkdir(mode=0o700, exist_ok=True)
    folder.chmod(0o700)
    return folder


def _write_private(path: Path, data: bytes) -> None:
    """Create a new owner-only file; never overwrite one (a key file is never silently replaced)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    path.chmod(0o600)


def _check_private_permissions(path: Path) -> None:
    if os.name != "posix":
        return
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise InputError(f"private key file is readable by others (mode {mode:o}); run: chmod 600 {path}", file=path)


def private_path(settings: Settings, stored: str) -> Path:
    """A private key file named in an `AgencyKey` row: relative paths are relative to THREADLINE_HOME."""
    path = Path(stored)
    return path if path.is_absolute() else settings.resolved_home / path


def load_signing_private(path: Path) -> Ed25519PrivateKey:
    """An Ed25519 private key from a PKCS#8 PEM file (owner-only permissions required)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the signing key: {exc.strerror}", file=path) from None
    _check_private_permissions(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise InputError(f"not an unencrypted PEM private key: {exc}", file=path) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError("the private key is not an Ed25519 key", file=path)
    return key


def load_identity(path: Path) -> list[x25519.Identity]:
    """The age identities in a file in ``age-keygen`` format (``AGE-SECRET-KEY-1…`` lines; ``#`` comments)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not a text file"
        raise InputError(f"cannot read the age identity file: {reason}", file=path) from None
    identities: list[x25519.Identity] = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not stripped.startswith("AGE-SECRET-KEY-1"):
            raise InputError(
                "expected an age identity (AGE-SECRET-KEY-1…) as written by age-keygen or `threadline keys generate`",
                file=path,
                line=number,
            )
        try:
            identities.append(x25519.Identity.from_str(stripped))
        except Exception:
            raise InputError("the age identity is damaged", file=path, line=number) from None
    if not identities:
        raise InputError("no age identity (AGE-SECRET-KEY-1…) in the file", file=path)
    return identities


# --- sign, verify, encrypt, decrypt --------------------------------------------------------------------------------


def sign_bytes(private_key: Ed25519PrivateKey, data: bytes) -> bytes:
    """A 64-byte Ed25519 signature of `data` (pure Ed25519, no pre-hash: the signature covers the bytes as given)."""
    return private_key.sign(data)


def verify_bytes(public_keys: Iterable[AgencyKey | Ed25519PublicKey], data: bytes, signature: bytes) -> str:
    """The fingerprint of the key that made `signature` over `data`; SignatureError when none of them did.

    Give the keys of the agency the data claims to come from (`verify_keys`), never every key known: a
    signature is only worth something when it comes from the expected signer."""
    for entry in public_keys:
        key = parse_signing_public(entry.public_key) if isinstance(entry, AgencyKey) else entry
        try:
            key.verify(signature, data)
        except InvalidSignature:
            continue
        return entry.fingerprint if isinstance(entry, AgencyKey) else signing_fingerprint(key)
    raise SignatureError("the signature does not match any of the expected signing keys")


def encrypt_bytes(data: bytes, recipients: Sequence[str]) -> bytes:
    """Encrypt to every age recipient given (binary age format, readable by the `age` tool)."""
    if not recipients:
        raise InputError("no age recipient to encrypt to")
    return pyrage.encrypt(data, [parse_age_recipient(r) for r in recipients])


def decrypt_bytes(data: bytes, identities: Sequence[x25519.Identity], *, file: str | Path | None = None) -> bytes:
    """Decrypt an age file; InputError when it is not one or none of the identities can open it."""
    if not data.startswith(AGE_HEADER):
        raise InputError("not an age-encrypted file (no age-encryption.org/v1 header)", file=file)
    try:
        return pyrage.decrypt(data, list(identities))
    except pyrage.DecryptError as exc:
        if "no matching keys" in str(exc).lower():
            raise InputError(
                "cannot decrypt: it is not encrypted to the identity given (wrong key, or a damaged header)", file=file
            ) from None
        raise InputError(
            f"cannot decrypt: the encrypted content is damaged or was altered ({exc})", file=file
        ) from None


# --- the store's keys ----------------------------------------------------------------------------------------------


def _active(session: Session, agency: Agency, kind: str | None = None) -> list[AgencyKey]:
    query = select(AgencyKey).where(AgencyKey.agency_id == agency.id, AgencyKey.active.is_(True))
    if kind:
        query = query.where(AgencyKey.kind == kind)
    return list(session.scalars(query.order_by(AgencyKey.id.desc())))


def generate_keys(
    settings: Settings, session: Session, agency: Agency, *, actor: str, rotate: bool = False
) -> GeneratedKeys:
    """Make a signing key and an age identity for `agency`, which this installation then acts as.

    Refused when the agency already has active keys (generated here or imported from its own installation)
    unless `rotate`, which retires them: older signatures stop verifying here, so rotate only when needed."""
    existing = _active(session, agency)
    if existing and not rotate:
        origin = "generated here" if any(k.private_key_file for k in existing) else "imported from another installation"
        raise ConflictError(
            f"agency {agency.code} already has keys ({origin}); use --rotate to retire them and make new ones"
        )
    now = utcnow()
    for key in existing:
        key.active = False
        key.revoked_at = now
    folder = keys_dir(settings) / _SAFE.sub("_", agency.code)
    folder.mkdir(mode=0o700, exist_ok=True)
    folder.chmod(0o700)
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")

    signing = Ed25519PrivateKey.generate()
    public = signing.public_key()
    fingerprint = signing_fingerprint(public)
    signing_file = folder / f"{stamp}-signing.pem"
    pem = signing.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_private(signing_file, pem)

    identity = x25519.Identity.generate()
    recipient = str(identity.to_public())
    age_file = folder / f"{stamp}-age.txt"
    created = datetime.now(UTC).replace(microsecond=0).isoformat()
    age_text = f"# created: {created}\n# agency: {agency.code}\n# public key: {recipient}\n{identity}\n"
    _write_private(age_file, age_text.encode("ascii"))

    home = settings.resolved_home
    session.add_all(
        [
            AgencyKey(
                agency_id=agency.id,
                kind=SIGNING,
                public_key=signing_public_text(public),
                fingerprint=fingerprint,
                private_key_file=str(signing_file.relative_to(home)),
                source="generated",
                active=True,
                created_at=now,
            ),
            AgencyKey(
                agency_id=agency.id,
                kind=AGE,
                public_key=recipient,
                fingerprint=recipient,
                private_key_file=str(age_file.relative_to(home)),
                source="generated",
                active=True,
                created_at=now,
            ),
        ]
    )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="keys.generate",
        object_type="agency",
        object_id=agency.code,
        agency_id=agency.id,
        details={"signing": fingerprint, "age": recipient, "revoked": len(existing)},
    )
    return GeneratedKeys(
        agency=agency.code,
        signing_fingerprint=fingerprint,
        signing_public_key=signing_public_text(public),
        age_recipient=recipient,
        signing_key_file=str(signing_file),
        age_identity_file=str(age_file),
        revoked=len(existing),
    )


def parse_public_keys(text: str, *, file: str | Path | None = None) -> tuple[str | None, list[str], list[str]]:
    """(agency code named in the file or None, signing keys as ``ed25519:…``, age recipients) from an export."""
    agency: str | None = None
    signing: list[str] = []
    ages: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if "PRIVATE KEY" in stripped or stripped.startswith("AGE-SECRET-KEY-"):
            raise InputError(
                "this is a private key: import only public keys (`threadline keys export` writes them)",
                file=file,
                line=number,
            )
        label, sep, rest = stripped.partition(":")
        label = label.strip().lower()
        try:
            if sep and label == "agency":
                agency = rest.strip()
            elif sep and label in ("ed25519", "signing"):
                value = rest.strip()
                key = parse_signing_public(value if value.startswith("ssh-") else SIGNING_PREFIX + value)
                signing.append(signing_public_text(key))
            elif stripped.startswith("ssh-ed25519 "):
                signing.append(signing_public_text(parse_signing_public(stripped)))
            elif sep and label == "age":
                ages.append(str(parse_age_recipient(rest)))
            elif stripped.startswith("age1"):
                ages.append(str(parse_age_recipient(stripped)))
            else:
                raise InputError("expected 'agency: CODE', 'ed25519: <base64>' or 'age: age1…'")
        except InputError as exc:
            raise InputError(exc.message, file=file, line=number) from None
    if not signing and not ages:
        raise InputError("no public key found (expected 'ed25519: …' and 'age: age1…' lines)", file=file)
    return agency, signing, ages


def import_keys(session: Session, agency: Agency, path: Path, *, actor: str, replace: bool = False) -> KeyImport:
    """Record another installation's public keys for `agency`. Idempotent. With `replace`, the agency's other
    imported keys of the kinds in the file are retired (the partner rotated its keys)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not a text file"
        raise InputError(f"cannot read the key file: {reason}", file=path) from None
    named, signing, ages = parse_public_keys(text, file=path)
    if named is not None and named.upper() != agency.code.upper():
        raise ConflictError(f"the file holds the keys of agency {named}, not {agency.code}", file=path)
    existing = _active(session, agency)
    if any(k.private_key_file for k in existing):
        raise ConflictError(
            f"this installation holds agency {agency.code}'s private keys; it cannot also import keys for it"
        )
    report = KeyImport(agency=agency.code, file=str(path))
    known = {(k.kind, k.fingerprint) for k in existing}
    incoming: list[tuple[str, str, str]] = [
        (SIGNING, text_key, signing_fingerprint(parse_signing_public(text_key))) for text_key in signing
    ] + [(AGE, recipient, recipient) for recipient in ages]
    now = utcnow()
    if replace:
        kinds = {kind for kind, _, _ in incoming}
        keep = {(kind, fp) for kind, _, fp in incoming}
        for key in existing:
            if key.kind in kinds and (key.kind, key.fingerprint) not in keep:
                key.active = False
                key.revoked_at = now
                report.revoked.append(key.fingerprint)
    for kind, public, fingerprint in incoming:
        if (kind, fingerprint) in known:
            report.unchanged.append(fingerprint)
            continue
        retired = session.scalars(
            select(AgencyKey).where(
                AgencyKey.agency_id == agency.id, AgencyKey.kind == kind, AgencyKey.fingerprint == fingerprint
            )
        ).first()
        if retired is not None:
            raise ConflictError(f"key {fingerprint} of agency {agency.code} was retired here; it is not imported again")
        session.add(
            AgencyKey(
                agency_id=agency.id,
                kind=kind,
                public_key=public,
                fingerprint=fingerprint,
                private_key_file=None,
                source="imported",
                active=True,
                created_at=now,
            )
        )
        known.add((kind, fingerprint))
        report.added.append(fingerprint)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="keys.import",
        object_type="agency",
        object_id=agency.code,
        agency_id=agency.id,
        details={"file": str(path), "added": report.added, "revoked": report.revoked},
    )
    return report


def export_keys(session: Session, agency: Agency) -> str:
    """The agency's active public keys in the text form `import_keys` reads."""
    keys = _active(session, agency)
    if not keys:
        raise NotFoundError(f"agency {agency.code} has no keys: run `threadline keys generate --agency {agency.code}`")
    lines = [
        f"# Threadline public keys of {agency.name}",
        f"# import with: threadline keys import --agency {agency.code} FILE",
        f"agency: {agency.code}",
    ]
    lines += [f"ed25519: {k.public_key[len(SIGNING_PREFIX) :]}" for k in keys if k.kind == SIGNING]
    lines += [f"age: {k.public_key}" for k in keys if k.kind == AGE]
    return "\n".join(lines) + "\n"


def list_keys(session: Session, agency: Agency | None = None) -> list[dict[str, Any]]:
    query = select(AgencyKey, Agency.code).join(Agency, Agency.id == AgencyKey.agency_id)
    if agency is not None:
        query = query.where(AgencyKey.agency_id == agency.id)
    rows = session.execute(query.order_by(Agency.code, AgencyKey.kind, AgencyKey.id))
    return [
        {
            "agency": code,
            "kind": key.kind,
            "fingerprint": key.fingerprint,
            "public_key": key.public_key,
            "source": key.source,
            "private_key_here": key.private_key_file is not None,
            "active": key.active,
            "created_at": key.created_at,
            "revoked_at": key.revoked_at,
        }
        for key, code in rows
    ]


def signing_key(settings: Settings, session: Session, agency: Agency) -> tuple[Ed25519PrivateKey, AgencyKey]:
    """The private signing key this installation holds for `agency` (the newest active one) and its row."""
    path, key = signing_key_path(settings, session, agency)
    return load_signing_private(path), key


def signing_key_path(settings: Settings, session: Session, agency: Agency) -> tuple[Path, AgencyKey]:
    """Where the private signing key this installation holds for `agency` lies (the newest active one, checked
    to be private to this user) and its row."""
    for key in _active(session, agency, SIGNING):
        if key.private_key_file:
            return private_path(settings, key.private_key_file), key
    raise NotFoundError(
        f"this installation holds no signing key for agency {agency.code}: "
        f"run `threadline keys generate --agency {agency.code}`"
    )


def verify_keys(session: Session, agency: Agency) -> list[AgencyKey]:
    """The active signing keys known for `agency` (generated here or imported), for `verify_bytes`."""
    return _active(session, agency, SIGNING)


def age_recipients(session: Session, agency: Agency) -> list[str]:
    """The age recipients ("age1…") to encrypt to for `agency`; empty when none is known."""
    return [k.public_key for k in _active(session, agency, AGE)]


def local_identities(settings: Settings, session: Session, agency: Agency | None = None) -> list[x25519.Identity]:
    """The age identities this installation holds (for one agency, or all): the default for opening packages."""
    query = select(AgencyKey).where(
        AgencyKey.kind == AGE, AgencyKey.active.is_(True), AgencyKey.private_key_file.is_not(None)
    )
    if agency is not None:
        query = query.where(AgencyKey.agency_id == agency.id)
    identities: list[x25519.Identity] = []
    for key in session.scalars(query):
        assert key.private_key_file is not None
        path = private_path(settings, key.private_key_file)
        _check_private_permissions(path)
        identities.extend(load_identity(path))
    return identities
