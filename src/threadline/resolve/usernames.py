"""Address-book cards that name a shop account: a card whose nickname, or whose note says "username X", is the
username of exactly one person's customer or account records is joined to those records.

The distributor's address book often knows a customer only by a nickname and a phone number: "bruno20", or a card
named "GP" with the note "username gaetanopetralli". When the nickname (or the note's username) is the customer's
login on the shop, an analyst reading the card goes to the account of that name; so does this module. Splink
cannot: the card has no username field, and its name is the nickname.

A key of a card is one of its aliases (`aliases`, from NICKNAME) or the value after "username" / "user name" /
"login" / "handle" in its note, each normalised as ingest normalises usernames (casefolded, no leading "@"). A key
joins the card to the customer and account records of the same seizure whose `username` equals it as a whole value,
unless it is weak:

- shorter than `MIN_LENGTH` characters or without a letter (initials "JD", a number);
- a plain given name (a given name key of a record of the seizure that has a family name too, or a form of
  `data/nicknames.yaml`): "amelia" is a nickname many people share, not a login;
- held by records of several people (their names are not all compatible with each other);
- pointing at different people from one card (the nickname is one account, the note another).

The card's name, when it has one, must be compatible with the account's (`references.names_compatible`, also tried
with familiar given names folded to the canonical ones: "Jimmy Moss" is "James Moss"). A card made of the nickname
alone (its name is one of its aliases, as a phone stores it) has no name of its own and is not compared. Edges
carry `PROBABILITY`, like the seizure's other keys; judgements still win.

Cards are few (about one customer in twelve), so this is one filtered pass over cards, one over records holding a
username and one over distinct given names, in plain Python; no DuckDB twin is needed.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.ingest.normalise import normalise_username
from threadline.model import SourceFile, SourceRecord
from threadline.resolve.prepare import PERSON_TYPES, nicknames
from threadline.resolve.references import names_compatible, reference_name

PROBABILITY = 0.99
MIN_LENGTH = 4
TARGET_TYPES = ("customer", "account")
_NOTE = re.compile(r"\b(?:user\s*name|user-name|login|handle)\b\s*[:=\-]?\s*(@?[^\s,;]+)", re.IGNORECASE)
_TRAILING = ".!?)]}'\""


@dataclass
class UsernameCards:
    edges: list[tuple[int, int, float]] = field(default_factory=list)
    cards: int = 0  # cards with a key equal to some username
    joined: int = 0  # cards joined to an account
    weak_keys: int = 0  # keys left alone: too short, no letter, or a plain given name
    ambiguous: int = 0  # keys held by several people, or cards whose keys name different people
    name_conflicts: int = 0  # cards whose own name is not the account's

    def to_dict(self) -> dict[str, Any]:
        return {
            "edges": len(self.edges),
            "cards": self.cards,
            "joined": self.joined,
            "weak_keys": self.weak_keys,
            "ambiguous": self.ambiguous,
            "name_conflicts": self.name_conflicts,
        }


def note_usernames(note: str | None) -> list[str]:
    """The usernames a note names: the word after "username", "user name", "login" or "handle", normalised."""
    out: list[str] = []
    for match in _NOTE.finditer(note or ""):
        value = normalise_username(match.group(1).rstrip(_TRAILING))
        if value and value not in out:
            out.append(value)
    return out


def _texts(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value if v]
    return [str(value)] if value else []


def card_keys(aliases: list[str], note: str | None) -> list[str]:
    """A card's candidate usernames: each alias and each username its note names, normalised."""
    keys = [k for k in (normalise_username(a) for a in aliases) if k]
    keys += note_usernames(note)
    return list(dict.fromkeys(keys))


def strong(key: str, given_names: set[str]) -> bool:
    return len(key) >= MIN_LENGTH and any(c.isalpha() for c in key) and key not in given_names


@cache
def _familiar_forms() -> frozenset[str]:
    table = nicknames()
    return frozenset(table) | frozenset(table.values())


def _folded(name: str) -> str:
    table = nicknames()
    return " ".join(sorted(table.get(token, token) for token in name.split()))


def compatible(a: str | None, b: str | None) -> bool:
    """`names_compatible`, or the same after familiar given names are folded to their canonical forms."""
    return names_compatible(a, b) or (a is not None and b is not None and names_compatible(_folded(a), _folded(b)))


def card_name(fields: dict[str, Any]) -> str | None:
    """The card's own name (sorted name-key tokens); None when the card is named by one of its aliases only."""
    name = reference_name(fields)
    if not name:
        return None
    alias_names = {" ".join(sorted(a.split())) for a in _texts(fields.get("aliases_key"))}
    return None if name in alias_names else name


_NAME_KEYS = (
    SourceRecord.fields["full_name_key"].as_string(),
    SourceRecord.fields["given_name_key"].as_string(),
    SourceRecord.fields["family_name_key"].as_string(),
)


def _given_names(session: Session) -> set[str]:
    """Given name keys written beside a family name anywhere in the seizure's person records, and the forms of
    the nickname list: a key equal to one of these is a first name, not a login."""
    given = SourceRecord.fields["given_name_key"].as_string()
    rows = session.execute(
        select(given)
        .where(
            SourceRecord.record_type.in_(PERSON_TYPES),
            given.is_not(None),
            SourceRecord.fields["family_name_key"].as_string().is_not(None),
        )
        .distinct()
    )
    return {str(value).casefold() for (value,) in rows if value} | _familiar_forms()


def find_username_cards(session: Session) -> UsernameCards:
    """Edges from address-book cards to the customer/account records whose username they name (module docstring)."""
    found = UsernameCards()
    seizure_of = {
        file_id: seizure_id for file_id, seizure_id in session.execute(select(SourceFile.id, SourceFile.seizure_id))
    }
    aliases = SourceRecord.fields["aliases_key"]
    note = SourceRecord.fields[("extra", "note")].as_string()
    cards = session.execute(
        select(SourceRecord.id, SourceRecord.source_file_id, SourceRecord.fields)
        .where(
            SourceRecord.record_type == "contact",
            aliases.as_string().is_not(None) | note.is_not(None),
        )
        .order_by(SourceRecord.id)
        .execution_options(yield_per=20000)
    )
    # card id -> (seizure, its keys, its own name)
    wanted: dict[int, tuple[int, list[str], str | None]] = {}
    keys_wanted: set[str] = set()
    for record_id, file_id, fields in cards:
        fields = fields or {}
        extra = fields.get("extra")
        keys = card_keys(_texts(fields.get("aliases")), extra.get("note") if isinstance(extra, dict) else None)
        if keys:
            wanted[record_id] = (seizure_of.get(file_id, -1), keys, card_name(fields))
            keys_wanted.update(keys)
    if not wanted:
        return found

    username = SourceRecord.fields["username"].as_string()
    holders: dict[tuple[int, str], list[tuple[int, str | None]]] = defaultdict(list)
    rows = session.execute(
        select(SourceRecord.id, SourceRecord.source_file_id, username, *_NAME_KEYS)
        .where(SourceRecord.record_type.in_(TARGET_TYPES), username.is_not(None))
        .order_by(SourceRecord.id)
        .execution_options(yield_per=50000)
    )
    for record_id, file_id, value, full, given, family in rows:
        key = normalise_username(str(value))
        if key in keys_wanted:
            name = " ".join(sorted((full or " ".join(p for p in (given, family) if p)).split())) or None
            holders[(seizure_of.get(file_id, -1), key)].append((record_id, name))
    if not holders:
        return found

    given_names = _given_names(session)
    one_person: dict[tuple[int, str], bool] = {}
    for slot, records in holders.items():
        names = sorted({name for _, name in records if name})
        one_person[slot] = all(compatible(a, b) for i, a in enumerate(names) for b in names[i + 1 :])

    for card_id, (seizure, keys, name) in wanted.items():
        named = [(key, holders[(seizure, key)]) for key in keys if (seizure, key) in holders]
        if not named:
            continue
        found.cards += 1
        targets: dict[int, str | None] = {}
        weak = ambiguous = False
        for key, records in named:
            if not strong(key, given_names):
                weak = True
                continue
            if not one_person[(seizure, key)]:
                ambiguous = True
                continue
            targets.update(records)
        found.weak_keys += weak
        target_names = sorted({n for n in targets.values() if n})
        if any(not compatible(a, b) for i, a in enumerate(target_names) for b in target_names[i + 1 :]):
            found.ambiguous += 1  # the nickname names one account, the note another
            continue
        found.ambiguous += ambiguous
        if not targets:
            continue
        if name and not all(compatible(name, other) for other in target_names):
            found.name_conflicts += 1
            continue
        found.joined += 1
        found.edges.extend((card_id, target, PROBABILITY) for target in sorted(targets))
    return found
