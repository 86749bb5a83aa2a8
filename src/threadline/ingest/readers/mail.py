"""E-mail: mbox files (streamed, one message at a time) and single .eml messages.

Each message becomes a `message` record (sender, recipients, date, subject, message id, the SHA-256 and length of
its body, and the e-mail addresses and phone numbers found in the body) and one `contact` record per address in
From/To/Cc/Reply-To with its display name. Bodies and attachments are never stored: only their hashes and sizes."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from email import policy
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from threadline.ingest.items import Item, printable
from threadline.ingest.sources import SeizedFile

_PARSER = BytesParser(policy=policy.compat32)
_ADDRESS_HEADERS = (("From", "sender"), ("Reply-To", "reply_to"), ("To", "recipient"), ("Cc", "cc"))
_MBOX_FROM = re.compile(rb"^From \S*")
Finder = Callable[[str], tuple[list[str], list[str]]]


def mbox_messages(file: SeizedFile) -> Iterator[tuple[int, bytes]]:
    """(line number of the 'From ' line, message bytes) for each message, reading line by line."""
    current: list[bytes] = []
    start = 0
    previous_blank = True
    with file.open() as handle:
        for line_no, line in enumerate(handle, start=1):
            if previous_blank and _MBOX_FROM.match(line):
                if current:
                    yield start, b"".join(current)
                current = []
                start = line_no
                previous_blank = False
                continue
            if line.startswith(b">From "):
                line = line[1:]  # mboxrd escaping
            current.append(line)
            previous_blank = not line.strip()
    if current or start:
        yield start, b"".join(current)


def decoded(text: str) -> str:
    """An RFC 2047 encoded header value ("=?utf-8?b?…?=") as the text it stands for."""
    if "=?" not in text:
        return text
    try:
        return str(make_header(decode_header(text)))
    except (HeaderParseError, LookupError, UnicodeDecodeError, ValueError):
        return text


def _addresses(message: Any, header: str) -> list[tuple[str, str]]:
    values = [str(v) for v in message.get_all(header, [])]
    if not values:
        return []
    try:
        pairs = getaddresses(values)
    except (TypeError, ValueError, IndexError):
        return []
    return [(printable(decoded(name).strip()), addr.strip()) for name, addr in pairs if addr.strip() or name.strip()]


def _body(message: Any) -> tuple[bytes, str, list[dict[str, Any]]]:
    """Raw body bytes (for the hash), the decoded text parts (for finding identifiers), attachment facts."""
    texts: list[str] = []
    attachments: list[dict[str, Any]] = []
    parts = message.walk() if message.is_multipart() else [message]
    for part in parts:
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename or part.get_content_maintype() not in ("text",):
            attachments.append(
                {
                    "filename": printable(str(filename or "")),
                    "content_type": part.get_content_type(),
                    "size": len(payload),
                    "sha256": hashlib.sha256(payload).hexdigest(),
                }
            )
            continue
        charset = part.get_content_charset() or "utf-8"
        try:
            texts.append(payload.decode(charset, errors="replace"))
        except LookupError:
            texts.append(payload.decode("utf-8", errors="replace"))
    return _raw_body(message), "\n".join(texts), attachments


def _raw_body(message: Any) -> bytes:
    payload = message.get_payload()
    if isinstance(payload, list):
        return b"".join(part.as_bytes() for part in payload)
    return str(payload).encode("utf-8", "surrogateescape")


def message_locator(participant_locator: str | None) -> str | None:
    """The message a participant record belongs to: `message_items` names the message "message N" and each of its
    participants "message N <role> K"."""
    parts = (participant_locator or "").split()
    if len(parts) >= 4 and parts[0] == "message":
        return f"message {parts[1]}"
    return None


def message_items(seq: int, line: int, index: int, data: bytes, find: Finder) -> Item:
    """One message as a `message` item, with its participants as `contact` items attached."""
    locator = f"message {index}"
    try:
        message = _PARSER.parsebytes(data)
    except Exception as exc:  # the stdlib parser is lenient; anything it still rejects is quarantined
        return Item(
            seq,
            line,
            locator,
            raw_text=printable(data[:65536].decode("utf-8", "replace")),
            error=f"unreadable message: {exc}",
        )
    participants: dict[str, list[tuple[str, str]]] = {role: _addresses(message, h) for h, role in _ADDRESS_HEADERS}
    if not participants["sender"] and not participants["recipient"]:
        return Item(
            seq,
            line,
            locator,
            raw_text=printable(data[:65536].decode("utf-8", "replace")),
            error="message without From or To headers",
        )
    body, text, attachments = _body(message)
    date_header = str(message.get("Date", "") or "")
    try:
        sent = parsedate_to_datetime(date_header).isoformat() if date_header else None
    except (TypeError, ValueError, IndexError):
        sent = None
    emails, phones = find(text)
    fields: dict[str, Any] = {
        "message_id": printable(str(message.get("Message-ID", "") or "").strip()) or None,
        "date": sent,
        "subject": printable(decoded(str(message.get("Subject", "") or ""))),
        "sender": [a for _, a in participants["sender"] if a],
        "recipients": [a for _, a in participants["recipient"] + participants["cc"] if a],
        "reply_to": [a for _, a in participants["reply_to"] if a],
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "body_length": len(body),
        "body_emails": emails,
        "body_phones": phones,
        "attachments": attachments,
    }
    raw = {
        header: printable(", ".join(str(v) for v in message.get_all(header, [])))
        for header in ("From", "To", "Cc", "Reply-To", "Date", "Subject", "Message-ID")
        if message.get_all(header)
    }
    item = Item(seq, line, locator, raw=raw, fields=fields, record_type="message")
    for role, pairs in participants.items():
        for n, (name, address) in enumerate(pairs, start=1):
            contact = {
                "full_name": name or None,
                "email": address or None,
                "role": role,
                "message_id": fields["message_id"],
            }
            item.extra_records.append(
                Item(
                    seq,
                    line,
                    f"{locator} {role} {n}",
                    raw={"name": name, "address": address},
                    fields=contact,
                    record_type="contact",
                )
            )
    return item


def read_mbox(file: SeizedFile, find: Finder) -> Iterator[Item]:
    for index, (line, data) in enumerate(mbox_messages(file), start=1):
        yield message_items(index, line, index, data, find)


def read_eml(file: SeizedFile, find: Finder) -> Iterator[Item]:
    with file.open() as handle:
        data = handle.read()
    yield message_items(1, 1, 1, data, find)
