"""Keys named in e-mail subjects: "Your order O00012345 is confirmed" is sent to the person who placed that order.

A distributor's mailbox is full of order confirmations and payment reminders whose subject names the order. The
recipient's mail record often holds nothing else (a display name and a webmail address typed with a slip), so
Splink alone leaves it apart, and nobody can place it. An analyst follows the order number; so does this module.

A token of a message's subject is a mention when it equals the record key of exactly one record of the same
seizure (in another file than the mailbox). Each named participant of that message (sender, recipients, copy,
reply-to: the contact records ingest made of its headers) whose name is compatible with the mentioned record's
name is joined to it (`names_compatible`: the shop's own "Azura Media" sender is not the customer, and stays
apart). Participants without a name are never joined: nothing could tell the shop's bare address from the
customer's. Edges carry `PROBABILITY`, like the seizure's other keys; judgements still win.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.ingest.readers.mail import message_locator
from threadline.model import SourceFile, SourceRecord

PROBABILITY = 0.99
MIN_TOKEN = 4
_TOKEN = re.compile(r"[0-9A-Za-z][0-9A-Za-z_\-/.]*[0-9A-Za-z]")
_CHUNK = 900


@dataclass
class Mentions:
    edges: list[tuple[int, int, float]] = field(default_factory=list)
    messages: int = 0  # messages whose subject names a record
    name_conflicts: int = 0  # participants left apart because their name is not the mentioned record's

    def to_dict(self) -> dict[str, Any]:
        return {"edges": len(self.edges), "messages": self.messages, "name_conflicts": self.name_conflicts}


def subject_tokens(subject: str) -> set[str]:
    """The words of a subject line that could be a record key: at least four characters, one a digit."""
    return {t for t in _TOKEN.findall(subject or "") if len(t) >= MIN_TOKEN and any(c.isdigit() for c in t)}


_NAME_KEYS = (
    SourceRecord.fields["full_name_key"].as_string(),
    SourceRecord.fields["given_name_key"].as_string(),
    SourceRecord.fields["family_name_key"].as_string(),
)


def _name(full: str | None, given: str | None, family: str | None) -> str | None:
    """The record's name as `references` compares names: sorted words of the matching keys."""
    key = full or " ".join(part for part in (given, family) if part)
    return " ".join(sorted(key.split())) or None


def find_mentions(session: Session) -> Mentions:
    """Edges from mail participants to the records their messages' subjects name (see the module's docstring)."""
    from threadline.resolve.references import names_compatible

    found = Mentions()
    # Messages with a subject that holds a key-like token: (file, locator) -> tokens; and each file's seizure.
    seizure_of = {
        file_id: seizure_id for file_id, seizure_id in session.execute(select(SourceFile.id, SourceFile.seizure_id))
    }
    mentioned: dict[tuple[int, str], set[str]] = {}
    wanted: set[str] = set()
    # Only the JSON members needed, extracted by the database (json_extract / ->>), not whole records decoded.
    messages = session.execute(
        select(SourceRecord.source_file_id, SourceRecord.locator, SourceRecord.fields["subject"].as_string())
        .where(SourceRecord.record_type == "message")
        .execution_options(yield_per=20000)
    )
    for file_id, locator, subject in messages:
        tokens = subject_tokens(subject or "")
        if tokens and locator:
            mentioned[(file_id, locator)] = tokens
            wanted |= tokens
    if not mentioned:
        return found

    # The records those tokens name, by seizure: a key must name one record of its seizure, or it names nobody.
    targets: dict[tuple[int, str], int | None] = {}
    target_file: dict[int, int] = {}
    target_name: dict[int, str | None] = {}
    # One pass over the keys (record_key has no index: looking the tokens up 900 at a time scanned the table once
    # per chunk, 47 s at a million records), then the names of the records named, by primary key.
    keyed = session.execute(
        select(SourceRecord.id, SourceRecord.source_file_id, SourceRecord.record_key)
        .where(SourceRecord.record_key.is_not(None))
        .execution_options(yield_per=50000)
    )
    for record_id, file_id, record_key in keyed:
        if record_key in wanted:
            slot = (seizure_of.get(file_id, -1), record_key)
            targets[slot] = None if slot in targets else record_id
            target_file[record_id] = file_id
    ids = sorted(target_file)
    for start in range(0, len(ids), _CHUNK):
        named = session.execute(
            select(SourceRecord.id, *_NAME_KEYS).where(SourceRecord.id.in_(ids[start : start + _CHUNK]))
        )
        for record_id, *name_keys in named:
            target_name[record_id] = _name(*name_keys)

    # The participants of those messages, joined to the record their message names when the names agree.
    participants = session.execute(
        select(SourceRecord.id, SourceRecord.source_file_id, SourceRecord.locator, *_NAME_KEYS)
        .where(SourceRecord.record_type == "contact", SourceRecord.locator.like("message %"))
        .execution_options(yield_per=20000)
    )
    counted: set[tuple[int, str]] = set()
    for record_id, file_id, locator, *name_keys in participants:
        message = message_locator(locator)
        found_tokens = mentioned.get((file_id, message)) if message else None
        if not found_tokens:
            continue
        name = _name(*name_keys)
        seizure = seizure_of.get(file_id, -1)
        for token in sorted(found_tokens):
            target = targets.get((seizure, token))
            if target is None or target_file.get(target) == file_id:
                continue
            if (file_id, str(message)) not in counted:
                counted.add((file_id, str(message)))
                found.messages += 1
            other = target_name.get(target)
            if not name or not other:
                continue
            if not names_compatible(name, other):
                found.name_conflicts += 1
                continue
            found.edges.append((record_id, target, PROBABILITY))
    return found
