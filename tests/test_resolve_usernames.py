"""Address-book cards naming a shop account: a card whose nickname, or whose note's "username X", is one person's
username joins that person's customer records; a given name, initials, a username two people hold, a card naming
two people and a card whose own name is somebody else's join nothing."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from threadline.core.db import Store
from threadline.ingest.pipeline import ingest
from threadline.model import SourceRecord
from threadline.resolve.usernames import card_keys, card_name, compatible, find_username_cards, note_usernames

CUSTOMERS = """customer_id,first_name,last_name,username,email
C1,Bruno,Quesada,bruno20,bq@example.mx
C2,Gaetano,Petralli,gaetanopetralli,gp@example.it
C3,Amelia,Stone,amelia,amelia.stone@example.org
C4,Jonas,Lindqvist,jlind77,jonas@example.se
C5,Jonas,Lindqvist,jlind77,jonas.l@example.se
C6,Tom,Kwok,tkwok,tom@example.hk
C7,Eva,Novak,evanovak,eva@example.cz
C8,John,Doe,jd,john@example.com
C9,James,Moss,mossja,james.moss@example.co.uk
"""
# Another shop's table in the same seizure: "tkwok" there is a different person.
ACCOUNTS = """account_id,first_name,last_name,username,email
A1,Tina,Kwok,tkwok,tina@example.hk
"""


def _card(fn: str, n: str, nickname: str | None = None, note: str | None = None, tel: str = "") -> str:
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"FN:{fn}", f"N:{n}"]
    if nickname:
        lines.append(f"NICKNAME:{nickname}")
    if note:
        lines.append(f"NOTE:{note}")
    if tel:
        lines.append(f"TEL;TYPE=CELL:{tel}")
    lines.append("END:VCARD")
    return "\r\n".join(lines) + "\r\n"


CARDS = {
    # joined
    "bruno": _card("Bruno20", "Bruno20;;;;", "Bruno20", tel="+525512345678"),  # the nickname alone, case differs
    "gp": _card("GP", "GP;;;;", "GP", "username gaetanopetralli", tel="+393331234567"),  # the note names it
    "jonas": _card("jlind77", "jlind77;;;;", "jlind77"),  # one person's two customer rows
    "jimmy": _card("Jimmy Moss", "Moss;Jimmy;;;", "JM", "Username: mossja."),  # a familiar given name
    # left apart
    "amelia": _card("Amelia", "Amelia;;;;", "Amelia", tel="+447700900123"),  # a plain given name
    "jd": _card("JD", "JD;;;;", "JD", tel="+15555550100"),  # initials
    "kwok": _card("tkwok", "tkwok;;;;", "tkwok"),  # two people hold it
    "horvat": _card("Peter Horvat", "Horvat;Peter;;;", "evanovak"),  # the card's own name is somebody else's
    "two": _card("Bruno20", "Bruno20;;;;", "bruno20", "username gaetanopetralli"),  # names two people
    "near": _card("bruno2", "bruno2;;;;", "bruno2"),  # not the whole value
}


def _seizure(tmp_path: Path) -> Path:
    seizure = tmp_path / "seizure"
    seizure.mkdir()
    (seizure / "customers.csv").write_text(CUSTOMERS, encoding="utf-8")
    (seizure / "accounts.csv").write_text(ACCOUNTS, encoding="utf-8")
    (seizure / "contacts.vcf").write_text("".join(CARDS.values()), encoding="utf-8")
    return seizure


def test_cards_join_the_one_account_their_nickname_or_note_names(store: Store, tmp_path: Path) -> None:
    ingest(store, _seizure(tmp_path))
    with store.session() as session:
        found = find_username_cards(session)
        rows = session.execute(select(SourceRecord.id, SourceRecord.locator, SourceRecord.record_key)).all()
    card_of = {rid: list(CARDS)[int(locator.split()[1]) - 1] for rid, locator, _ in rows if locator.startswith("card")}
    key_of = {rid: key for rid, _, key in rows}
    joined = {(card_of[a], key_of[b]) for a, b, _ in found.edges}
    assert joined == {("bruno", "C1"), ("gp", "C2"), ("jonas", "C4"), ("jonas", "C5"), ("jimmy", "C9")}
    assert all(p == 0.99 for *_, p in found.edges)
    assert found.joined == 4
    assert found.weak_keys == 2  # "amelia", "jd"
    assert found.ambiguous == 2  # "tkwok" (Tom and Tina), the card naming Bruno and Gaetano
    assert found.name_conflicts == 1  # Peter Horvat is not Eva Novak
    assert found.cards == 9  # every card but "near" names some username


def test_card_keys_and_names() -> None:
    assert note_usernames("username gaetanopetralli") == ["gaetanopetralli"]
    assert note_usernames("Login: @Bob_99, pays by transfer") == ["bob_99"]
    assert note_usernames("User name mossja.") == ["mossja"]
    assert note_usernames("pays by transfer") == []
    assert note_usernames("regular since 2012") == []
    assert card_keys(["Bruno20", "BQ"], "username bruno20") == ["bruno20", "bq"]
    # A card stored under its nickname has no name of its own; one with a real name keeps it.
    assert card_name({"full_name_key": "holly smithmouth", "aliases_key": ["holly smithmouth"]}) is None
    assert card_name({"full_name_key": "chad wag", "aliases_key": ["chad wag"]}) is None
    assert card_name({"full_name_key": "jimmy moss", "aliases_key": ["jm"]}) == "jimmy moss"
    assert compatible("jimmy moss", "james moss")
    assert not compatible("horvat peter", "eva novak")


def test_resolve_puts_the_card_with_the_account(store: Store, tmp_path: Path) -> None:
    from threadline.model import SubjectMember
    from threadline.resolve import ResolveSettings, resolve

    ingest(store, _seizure(tmp_path))
    report = resolve(store, ResolveSettings(), actor="test")
    assert report.references["usernames"]["edges"] == 5
    with store.session() as session:
        rows = session.execute(
            select(SourceRecord.locator, SourceRecord.record_key, SubjectMember.subject_id).join(
                SubjectMember, SubjectMember.record_id == SourceRecord.id
            )
        ).all()
    subject = {
        (list(CARDS)[int(locator.split()[1]) - 1] if locator.startswith("card") else key): s for locator, key, s in rows
    }
    assert subject["bruno"] == subject["C1"]
    assert subject["gp"] == subject["C2"]
    assert subject["jimmy"] == subject["C9"]
    assert subject["amelia"] != subject["C3"]
    assert subject["jd"] != subject["C8"]
    assert subject["horvat"] != subject["C7"]
    assert subject["kwok"] not in (subject["C6"], subject["A1"])
