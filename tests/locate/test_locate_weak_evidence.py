"""Weak evidence read from single records: national-form numbers on records without a country, cities named in
address-book nicknames, bank account countries, and a mail's body and Date header (see locate/README.md)."""

from __future__ import annotations

import pytest

from threadline.locate.decide import HIGH_CONFIDENCE, decide
from threadline.locate.evidence import (
    WEIGHTS,
    Evidence,
    clock_claims,
    clock_offset,
    record_evidence,
    sent_mail_evidence,
)
from threadline.locate.places import clock_countries


def _by(found: list[Evidence], source: str) -> list[Evidence]:
    return [e for e in found if e.source == source]


def test_a_national_number_without_a_country_is_read_in_the_few_countries_where_it_is_valid() -> None:
    found = _by(
        record_evidence("contact", {"full_name": "Xiumei", "phone_invalid": ["1312 6658248"]}), "phone_national"
    )
    assert 1 < len(found) <= 3 and "CN" in {e.country for e in found}
    assert all(
        e.ambiguous and e.weight == pytest.approx(WEIGHTS["phone_national"] / len(found), abs=1e-3) for e in found
    )
    # Valid in some twenty numbering plans: no sign of any one country.
    assert _by(record_evidence("contact", {"phone_invalid": ["0611 168 705"]}), "phone_national") == []
    # A record with a country: ingest already read its numbers there; what it could not read is no evidence.
    with_country = record_evidence("customer", {"country": "AT", "phone_invalid": ["1312 6658248"]})
    assert _by(with_country, "phone_national") == []
    assert _by(record_evidence("contact", {"phone_invalid": ["hello 12"]}), "phone_national") == []


def test_a_city_named_in_a_nickname_counts_for_half_a_city_field() -> None:
    card = {"family_name": "Cato Capelle aan den IJssel", "aliases": ["Cato Capelle aan den IJssel"]}
    (found,) = _by(record_evidence("contact", card), "alias_city")
    assert (found.country, found.value, found.weight, found.ambiguous) == ("NL", "Capelle aan den IJssel", 0.5, False)
    # A city of that name in two countries: split and flagged.
    lima = _by(record_evidence("contact", {"family_name": "Matteo Lima", "aliases": ["Matteo Lima"]}), "alias_city")
    assert {e.country for e in lima} >= {"PE"} and all(e.ambiguous and e.weight < 0.5 for e in lima)
    # The card's own "given family" as nickname: a family named like a city is not a place.
    own = {"given_name": "Tammy", "family_name": "Lincoln", "aliases": ["Tammy Lincoln"]}
    assert _by(record_evidence("contact", own), "alias_city") == []
    # One word (a username or a given name), a nickname with no city, or a card with an address: nothing.
    assert _by(record_evidence("contact", {"aliases": ["Rotterdam"]}), "alias_city") == []
    assert _by(record_evidence("contact", {"aliases": ["Cato Koeman"]}), "alias_city") == []
    with_country = {"country": "NL", "aliases": ["Cato Capelle aan den IJssel"]}
    assert _by(record_evidence("contact", with_country), "alias_city") == []
    # Only address-book contacts: a customer row's alias column is something else.
    assert _by(record_evidence("customer", card), "alias_city") == []


def test_a_nickname_city_alone_does_not_place_anyone() -> None:
    card = {"family_name": "Cato Capelle aan den IJssel", "aliases": ["Cato Capelle aan den IJssel"]}
    assert decide(record_evidence("contact", card)).status == "unplaced"


def test_a_bank_transfer_names_the_account_country() -> None:
    found = record_evidence("payment", {"country": "GB", "extra": {"method": "bank transfer", "iban_country": "US"}})
    assert [(e.source, e.country) for e in found] == [("payment", "GB"), ("bank", "US")]
    # A payer country and a bank elsewhere disagree: nobody is placed on that.
    assert decide(found).status == "unplaced"
    iban = _by(record_evidence("payment", {"extra": {"iban": "DE89 3704 0044 0532 0130 00"}}), "bank")
    assert [(e.country, e.weight) for e in iban] == [("DE", WEIGHTS["bank"])]
    assert _by(record_evidence("payment", {"extra": {"iban": "DE88 3704 0044 0532 0130 00"}}), "bank") == []  # check
    assert _by(record_evidence("payment", {"extra": {"iban_country": "XX"}}), "bank") == []
    assert _by(record_evidence("customer", {"extra": {"iban_country": "DE"}}), "bank") == []


def test_a_senders_own_mail_body_gives_its_numbers_and_country_domains_weakly() -> None:
    found = sent_mail_evidence(
        {"body_phones": ["+447407365845", "+800 1234 5678"], "body_emails": ["ann@web.de", "ann@gmail.com"]}
    )
    phones = _by(found, "mail_phone")
    assert [(e.country, e.weight) for e in phones] == [("GB", WEIGHTS["mail_phone"])]  # +800 has no country
    assert WEIGHTS["mail_phone"] < WEIGHTS["phone"]
    assert [(e.country, e.value) for e in _by(found, "mail_email")] == [("DE", "web.de")]
    assert sent_mail_evidence({"body_phones": [], "body_emails": []}) == []
    # A number alone is not enough to place anyone; two countries named split it.
    assert decide(phones).status == "unplaced"


def test_the_date_header_offset_only_confirms_countries_other_evidence_names() -> None:
    assert clock_offset("Tue, 03 Mar 2009 19:11:01 +0900") == (540, 2009)
    assert clock_offset("Tue, 03 Mar 2009 19:11:01 -0500") == (-300, 2009)
    assert clock_offset("Tue, 03 Mar 2009 19:11:01 -0000") is None  # "unknown", by RFC 5322
    assert clock_offset("Mon, 32 Foo 2012 25:61:00 +9900") is None
    assert clock_offset("yesterday") is None and clock_offset(None) is None
    assert {"JP", "KR"} <= clock_countries(540, 2011) and "DE" not in clock_countries(540, 2011)
    assert "DE" in clock_countries(60, 2011) and "DE" in clock_countries(120, 2011)  # winter and summer time
    assert "IN" in clock_countries(330, 2011) and "IN" not in clock_countries(300, 2011)
    claims = clock_claims(540, 2011, {"JP", "DE"})
    assert [(e.source, e.country, e.value) for e in claims] == [("mail_clock", "JP", "UTC+09:00")]
    assert clock_claims(540, 2011, set()) == []  # never a candidate of its own
    assert clock_claims(-300, 2011, {"JP"}) == []


def test_weak_mail_evidence_places_with_low_confidence_never_high() -> None:
    phone = sent_mail_evidence({"body_phones": ["+447407365845"]})
    claims = [*phone, *clock_claims(0, 2011, {"GB"})]
    decision = decide(claims)
    assert decision.status == "placed" and decision.country == "GB"
    assert decision.confidence < HIGH_CONFIDENCE
    # The same number with a clock that does not fit: no confirmation, unplaced.
    assert decide([*phone, *clock_claims(540, 2011, {"GB"})]).status == "unplaced"
