"""Keys named in e-mail subjects: a confirmation's recipient is joined to the order it names when the names agree;
the shop's own sender, a recipient without a name, a key two records share and a key in the mailbox's own file
join nothing."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from threadline.core.db import Store
from threadline.ingest.pipeline import ingest
from threadline.ingest.readers.mail import message_locator
from threadline.model import SourceRecord
from threadline.resolve.mentions import find_mentions, subject_tokens

ORDERS = """order_id,customer_id,ship_name,amount
O1001,C1,Marta Kowalczyk,10.00
O1002,C2,Jonas Lindqvist,9.99
O1003,C3,Aiko Tanabe,20.00
"""
# O1003 is also a refund's key: a key two records share names nobody.
REFUNDS = """refund_id,name,amount
O1003,Aiko Tanabe,20.00
"""


def _mail(sender: str, to: str, subject: str, n: int) -> str:
    return (
        f"From shop@azura.example Mon Jan  5 10:0{n}:00 2009\n"
        f"From: {sender}\nTo: {to}\nSubject: {subject}\nDate: Mon, 05 Jan 2009 10:0{n}:00 +0000\n"
        f"Message-ID: <m{n}@azura.example>\n\nThank you for your order.\n\n"
    )


MBOX = (
    _mail("Azura Media <orders@azura.example>", "Marta Kowalczyk <marta.kowalczk@gmial.com>", "Your order O1001", 1)
    + _mail("Azura Media <orders@azura.example>", "Greta Nilsson <greta@example.se>", "Your order O1002", 2)
    + _mail("Azura Media <orders@azura.example>", "aiko@example.jp", "Your order O1003 is confirmed", 3)
    + _mail("Azura Media <orders@azura.example>", "Jonas Lindqvist <jl@example.net>", "Invoice 2009 for you", 4)
)


def test_a_confirmation_recipient_joins_the_order_it_names(store: Store, tmp_path: Path) -> None:
    seizure = tmp_path / "seizure"
    seizure.mkdir()
    (seizure / "orders.csv").write_text(ORDERS, encoding="utf-8")
    (seizure / "refunds.csv").write_text(REFUNDS, encoding="utf-8")
    (seizure / "mail.mbox").write_text(MBOX, encoding="utf-8")
    ingest(store, seizure)
    with store.session() as session:
        found = find_mentions(session)
        names = {
            record_id: (fields or {}).get("full_name") or (fields or {}).get("email")
            for record_id, fields in session.execute(select(SourceRecord.id, SourceRecord.fields))
        }
        keys = {rid: key for rid, key in session.execute(select(SourceRecord.id, SourceRecord.record_key))}
    joined = {(names[a], keys[b]) for a, b, _ in found.edges}
    # Marta (a typo in her address, nothing else in common) joins O1001; the shop's sender joins nothing;
    # Greta is not the O1002 customer; the nameless recipient and the shared key O1003 join nothing.
    assert joined == {("Marta Kowalczyk", "O1001")}
    assert found.messages == 2  # O1001 and O1002 name one record each; O1003 names two; "2009" is no key here
    assert found.name_conflicts == 3  # the shop twice, Greta once
    assert all(p == 0.99 for *_, p in found.edges)


def test_message_locators_and_key_like_tokens() -> None:
    assert message_locator("message 12 to 1") == "message 12"
    assert message_locator("card 3") is None
    assert subject_tokens("Re: Payment reminder for order O00012345!") == {"O00012345"}
    assert subject_tokens("Please send the files") == set()


@given(st.text(max_size=200))
def test_any_subject_gives_only_key_like_tokens(subject: str) -> None:
    for token in subject_tokens(subject):
        assert len(token) >= 4 and any(c.isdigit() for c in token) and token in subject


def test_resolve_puts_the_recipient_with_the_order_it_names(store: Store, tmp_path: Path) -> None:
    from threadline.model import SubjectMember
    from threadline.resolve import ResolveSettings, resolve

    seizure = tmp_path / "seizure"
    seizure.mkdir()
    (seizure / "orders.csv").write_text(ORDERS, encoding="utf-8")
    (seizure / "mail.mbox").write_text(MBOX, encoding="utf-8")
    ingest(store, seizure)
    report = resolve(store, ResolveSettings(), actor="test")
    assert report.references["mentions"]["edges"] == 1
    with store.session() as session:
        rows = session.execute(
            select(
                SourceRecord.record_type, SourceRecord.record_key, SourceRecord.fields, SubjectMember.subject_id
            ).join(SubjectMember, SubjectMember.record_id == SourceRecord.id)
        ).all()
    subject = {(kind, key or (fields or {}).get("full_name")): s for kind, key, fields, s in rows}
    assert subject[("contact", "Marta Kowalczyk")] == subject[("order", "O1001")]
    assert subject[("contact", "Greta Nilsson")] != subject[("order", "O1002")]
