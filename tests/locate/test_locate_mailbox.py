"""Locate on a seized mailbox, ingested for real: what a sender's own mail says about the sender, what the shop's
outgoing mail does not, and orders named in subject lines (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from threadline.core.db import Store
from threadline.ingest.pipeline import ingest
from threadline.locate import HIGH_CONFIDENCE, locate
from threadline.model import JurisdictionClaim, SourceRecord, Subject, SubjectJurisdiction, SubjectMember

SHOP = "orders@shop.example"
SUPPORT = "support@shop.example"


def _mail(sender: str, to: str, subject: str, date: str, body: str, reply_to: str | None = None) -> str:
    headers = [f"From: {sender}", f"To: {to}"]
    if reply_to:
        headers.append(f"Reply-To: {reply_to}")
    headers += [f"Subject: {subject}", f"Date: {date}", "Message-ID: <x@mail.example>", ""]
    address = sender.rpartition("<")[2].rstrip(">")
    return "\n".join([f"From {address} Mon Jan  3 10:00:00 2011", *headers, body, "", ""])


def _seizure(tmp_path: Path) -> Path:
    folder = tmp_path / "seized"
    folder.mkdir()
    mails = [
        # The shop's confirmations: many, so its address is the mailbox's own. The shop's own number in the body
        # is no evidence about whoever it writes to.
        _mail(
            f"Shop <{SHOP}>",
            f"Customer {i} <customer{i}@gmail.com>",
            f"Your order O-{9000 + i} is confirmed",
            "Mon, 03 Jan 2011 10:00:00 +0100",
            "Thank you for your order. Questions? Call us on +49 30 901820.",
        )
        for i in range(24)
    ]
    mails += [
        _mail(
            f"Anne Martin <{'anne.m@gmail.com'}>",
            f"Customer Service <{SUPPORT}>",
            "Question about my order",
            "Tue, 04 Jan 2011 10:00:00 +0000",
            "Hello,\n\nYou can reach me on +44 7407 365845.\n\nRegards,\nAnne Martin",
            reply_to="Anne Martin <anne.other@gmail.com>",
        ),
        _mail(
            "Ken Sato <ken.s@gmail.com>",
            f"Customer Service <{SUPPORT}>",
            "Tracking number?",
            "Tue, 04 Jan 2011 10:00:00 -0500",  # a clock that fits no country of the number
            "Hi,\n\nmy number is +81 90 1741 5568.\n\nKen",
        ),
        _mail(
            "Lea Roth <lea.r@gmail.com>",
            f"Customer Service <{SUPPORT}>",
            "Payment sent",
            "Tue, 04 Jan 2011 10:00:00 +0100",
            "Hello,\n\ncall me on +49 151 25389830 or my sister on +33 6 11 16 87 05.\n\nLea",
        ),
        _mail(
            f"Shop <{SHOP}>",
            "Tony Roe <tony.roe@gmail.com>",
            "Your order O-7001 is confirmed",
            "Wed, 05 Jan 2011 10:00:00 +0100",
            "Dear Tony,\n\nthank you for your order O-7001.",
        ),
    ]
    (folder / "mail.mbox").write_text("".join(mails), encoding="utf-8")
    (folder / "orders.csv").write_text(
        "order_id,customer_name,ship_street,ship_postcode,ship_city,ship_country\n"
        "O-7001,Anthony Roe,1 rue de la Paix,75002,Paris,FR\n",
        encoding="utf-8",
    )
    return folder


def _subjects_per_record(store: Store) -> dict[str, int]:
    """One subject per contact or order record (as if resolve had left each alone): {address or key: subject}."""
    out: dict[str, int] = {}
    with store.session() as session:
        records = session.scalars(select(SourceRecord).where(SourceRecord.record_type.in_(("contact", "order"))))
        for record in records:
            subject = Subject(status="active", member_count=1, full_name="x", attributes={}, identifiers={})
            session.add(subject)
            session.flush()
            session.add(SubjectMember(record_id=record.id, subject_id=subject.id, match_probability=None))
            email = record.fields.get("email")
            name = email if isinstance(email, str) else (email or [record.record_key])[0]
            out[f"{name} {record.locator}"] = subject.id
    return out


def _claims(store: Store, subject_id: int) -> list[tuple[str, str, str]]:
    with store.session() as session:
        rows = session.scalars(select(JurisdictionClaim).where(JurisdictionClaim.subject_id == subject_id))
        return sorted((c.source, c.country, c.value) for c in rows)


def _decision(store: Store, subject_id: int) -> SubjectJurisdiction:
    with store.session() as session:
        decision = session.get(SubjectJurisdiction, subject_id)
        assert decision is not None
        session.expunge(decision)
        return decision


def _one(subjects: dict[str, int], start: str) -> int:
    (found,) = [s for name, s in subjects.items() if name.startswith(start)]
    return found


def test_a_mailbox_locates_senders_by_their_own_mail_and_recipients_by_the_orders_named(
    store: Store, tmp_path: Path
) -> None:
    ingest(store, _seizure(tmp_path))
    subjects = _subjects_per_record(store)
    report = locate(store, actor="test")

    # Anne's own mail: her number and a clock that fits it. Placed in GB, but not with high confidence.
    anne = _one(subjects, "anne.m@gmail.com")
    assert ("mail_phone", "GB", "+447407365845") in _claims(store, anne)
    assert ("mail_clock", "GB", "UTC+00:00") in _claims(store, anne)
    decision = _decision(store, anne)
    assert (decision.status, decision.country) == ("placed", "GB") and decision.confidence < HIGH_CONFIDENCE
    # Her Reply-To address is hers too: the same body speaks for it.
    other = _one(subjects, "anne.other@gmail.com")
    assert ("mail_phone", "GB", "+447407365845") in _claims(store, other)

    # Ken's number is Japanese, his clock American: the clock confirms nothing, and one number places nobody.
    ken = _one(subjects, "ken.s@gmail.com")
    assert _claims(store, ken) == [("mail_phone", "JP", "+819017415568")]
    assert _decision(store, ken).status == "unplaced"

    # Lea names her number and her sister's: the two countries split, and she waits for a coordinator.
    lea = _one(subjects, "lea.r@gmail.com")
    assert {c for s, c, _ in _claims(store, lea) if s == "mail_phone"} == {"DE", "FR"}
    assert _decision(store, lea).status == "unplaced"

    # Support, who received those mails, is located by none of them.
    for name, subject_id in subjects.items():
        if name.startswith((SUPPORT, SHOP)):
            assert _claims(store, subject_id) == []
    # The shop's own number in its confirmations is claimed for nobody: not its recipients, not the shop.
    with store.session() as session:
        assert session.scalars(select(JurisdictionClaim).where(JurisdictionClaim.value == "+4930901820")).all() == []
        assert session.scalars(select(JurisdictionClaim).where(JurisdictionClaim.source == "mail_clock")).all()

    # Tony received the confirmation of order O-7001, which ships to Paris: placed in FR, not with high confidence,
    # with the order's row as provenance.
    tony = _one(subjects, "tony.roe@gmail.com")
    assert {c for s, c, _ in _claims(store, tony)} == {"FR"}
    assert {s for s, _, _ in _claims(store, tony)} == {"mention"}
    decision = _decision(store, tony)
    assert (decision.status, decision.country) == ("placed", "FR") and decision.confidence < HIGH_CONFIDENCE
    with store.session() as session:
        order = session.scalars(select(SourceRecord.id).where(SourceRecord.record_key == "O-7001")).one()
        claims = session.scalars(select(JurisdictionClaim).where(JurisdictionClaim.subject_id == tony)).all()
        assert {c.record_id for c in claims} == {order}
        assert all("O-7001 named in the subject of message" in (c.note or "") for c in claims)
    # The order's own subject is not located twice over by the mail that names it.
    order_subject = _one(subjects, "O-7001")
    assert {s for s, _, _ in _claims(store, order_subject)} == {"shipping", "postal_code", "city"}
    # Confirmations of orders that are not in the seizure name nothing.
    assert _claims(store, _one(subjects, "customer3@gmail.com")) == []
    assert report.claims_by_source.get("mention", 0) == len(_claims(store, tony))


def test_a_subject_holding_both_the_sender_and_reply_to_of_one_mail_counts_its_body_once(
    store: Store, tmp_path: Path
) -> None:
    ingest(store, _seizure(tmp_path))
    with store.session() as session:
        records = session.scalars(
            select(SourceRecord).where(SourceRecord.record_type == "contact", SourceRecord.locator.like("message 25 %"))
        ).all()
        assert {r.fields["role"] for r in records} >= {"sender", "reply_to"}
        subject = Subject(status="active", member_count=len(records), full_name="Anne", attributes={}, identifiers={})
        session.add(subject)
        session.flush()
        subject_id = subject.id
        for record in records:
            if record.fields["role"] in ("sender", "reply_to"):
                session.add(SubjectMember(record_id=record.id, subject_id=subject_id, match_probability=None))
    locate(store, actor="test")
    claims = _claims(store, subject_id)
    assert claims.count(("mail_phone", "GB", "+447407365845")) == 1
    assert claims.count(("mail_clock", "GB", "UTC+00:00")) == 1
