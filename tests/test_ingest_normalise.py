"""Normalised forms beside verbatim values: names, e-mail, phones, dates, countries, postal codes, IPs, money."""

from __future__ import annotations

import ipaddress
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadline.ingest.normalise import (
    DateOrderVote,
    ParsedDate,
    countries_consistent,
    find_emails,
    find_phones,
    name_key,
    normalise_amount,
    normalise_country,
    normalise_currency,
    normalise_email,
    normalise_ip,
    normalise_national_id,
    normalise_phone,
    normalise_postal_code,
    normalise_username,
    parse_date,
    split_full_name,
)

# Any text a seized spreadsheet could hold: every plane, control characters included, no lone surrogates.
any_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=60)
fast = settings(max_examples=150, deadline=None)


# --------------------------------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Юрий", "yuriy"),
        ("Ελένη", "eleni"),
        ("山田", "shantian"),
        ("  José   MARÍA ", "jose maria"),
        ("Müller", "muller"),
        ("Straße", "strasse"),
        ("O'Brien", "obrien"),
        ("O’Brien", "obrien"),
        ("Meyer-Lansky", "meyer lansky"),
        ("Łukasz Żółć", "lukasz zolc"),
        ("Ｊｏｈｎ", "john"),
        ("Jo\u200bhn", "john"),
        ("!!!", ""),
    ],
)
def test_name_key_folds_script_case_accents_and_punctuation(text: str, key: str) -> None:
    assert name_key(text) == key


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("Smith, John", ("John", "Smith")),
        ("John Smith", ("John", "Smith")),
        ("John Ronald Tolkien", ("John Ronald", "Tolkien")),
        ("Dr. Jane Doe Jr.", ("Jane", "Doe")),
        ("Ludwig van Beethoven", ("Ludwig", "van Beethoven")),
        ("MÜLLER Hans", ("Hans", "MÜLLER")),
        ("Иванов Иван Иванович", ("Иван", "Иванов")),
        ("Bob", ("Bob", None)),
        ("   ", (None, None)),
    ],
)
def test_split_full_name_handles_comma_particles_capitals_and_patronymics(
    text: str, parts: tuple[str | None, str | None]
) -> None:
    assert split_full_name(text) == parts


@fast
@given(any_text)
def test_name_key_is_ascii_and_idempotent(text: str) -> None:
    key = name_key(text)
    assert key.isascii()
    assert name_key(key) == key
    split_full_name(text)


@settings(max_examples=2000, deadline=None)
@given(any_text, any_text)
def test_name_key_of_two_parts_is_their_keys_joined(given_name: str, family_name: str) -> None:
    """build_fields keys a full name it made from given and family names by joining their keys."""
    parts = [k for k in (name_key(given_name), name_key(family_name)) if k]
    assert name_key(f"{given_name} {family_name}") == " ".join(parts)


# --------------------------------------------------------------------------------------------------- e-mail


@pytest.mark.parametrize(
    ("text", "value", "canonical"),
    [
        ("Bob.Smith@Example.com", "bob.smith@example.com", "bob.smith@example.com"),
        ('"Bob" <Bob.Smith+news@GMail.com>', "bob.smith+news@gmail.com", "bobsmith@gmail.com"),
        ("j.o.h.n@googlemail.com", "j.o.h.n@googlemail.com", "john@gmail.com"),
        ("mailto:jane.doe@gmail.com?subject=hi", "jane.doe@gmail.com", "janedoe@gmail.com"),
        ("anna+shop@outlook.de", "anna+shop@outlook.de", "anna@outlook.de"),
        ("anna+shop@hotmail.co.uk", "anna+shop@hotmail.co.uk", "anna@hotmail.co.uk"),
        ("kim+x@me.com", "kim+x@me.com", "kim@icloud.com"),
        ("ivan+1@ya.ru", "ivan+1@ya.ru", "ivan@yandex.ru"),
        ("base-keyword@yahoo.fr", "base-keyword@yahoo.fr", "base@yahoo.fr"),
        ("first.last+tag@example.org", "first.last+tag@example.org", "first.last+tag@example.org"),
        ("bob[at]example(dot)com", "bob@example.com", "bob@example.com"),
        ("Alice Example alice@example.org", "alice@example.org", "alice@example.org"),
        ("<carol@example.net>;", "carol@example.net", "carol@example.net"),
        ("ｄａｖｅ＠example.com", "dave@example.com", "dave@example.com"),
    ],
)
def test_normalise_email_cleans_and_canonicalises(text: str, value: str, canonical: str) -> None:
    email = normalise_email(text)
    assert email is not None
    assert (email.value, email.canonical, email.valid) == (value, canonical, True)


def test_normalise_email_encodes_idn_domains() -> None:
    email = normalise_email("kunde@bücher.example")
    assert email is not None
    assert email.value == "kunde@bücher.example"
    assert email.domain == "xn--bcher-kva.example"
    assert email.canonical == "kunde@xn--bcher-kva.example"
    assert email.valid


@pytest.mark.parametrize("text", ["not an address", "a@b", "john..doe@example.com", "@example.com", "x@-bad.com"])
def test_normalise_email_flags_bad_syntax(text: str) -> None:
    email = normalise_email(text)
    assert email is not None
    assert not email.valid


@pytest.mark.parametrize("text", ["", "   ", "<>", "mailto:"])
def test_normalise_email_empty_is_none(text: str) -> None:
    assert normalise_email(text) is None


def test_find_emails_keeps_order_and_dedupes() -> None:
    body = "Write to Bob@Example.com or bob@example.com, then carol.x@example.invalid. Not x@y."
    assert find_emails(body) == ["bob@example.com", "carol.x@example.invalid"]


@fast
@given(any_text)
def test_normalise_email_is_idempotent(text: str) -> None:
    email = normalise_email(text)
    if email is not None:
        again = normalise_email(email.value)
        assert again is not None
        assert again.value == email.value
        assert again.canonical == email.canonical


@fast
@given(
    st.from_regex(r"[a-z][a-z0-9._+-]{0,15}[a-z0-9]", fullmatch=True),
    st.sampled_from(["gmail.com", "googlemail.com", "outlook.com", "yahoo.com", "example.com", "example.invalid"]),
    st.integers(min_value=0),
)
def test_canonical_email_is_stable_under_case_changes(local: str, domain: str, mask: int) -> None:
    address = f"{local}@{domain}"
    mixed = "".join(c.upper() if mask >> (i % 60) & 1 else c for i, c in enumerate(address))
    a, b = normalise_email(address), normalise_email(mixed)
    assert a is not None and b is not None
    assert a.canonical == b.canonical
    assert a.valid == b.valid


@settings(max_examples=1000, deadline=None)
@given(st.from_regex(r"[A-Za-z0-9._%+@-]{1,30}", fullmatch=True))
def test_plain_address_shortcut_agrees_with_full_cleaning(text: str) -> None:
    """normalise_email skips _email_text for plain addresses: it must give what _email_text gives."""
    from threadline.ingest.normalise import _PLAIN_EMAIL, _email_text

    if _PLAIN_EMAIL.fullmatch(text) and not text.endswith("."):
        assert _email_text(text) == text.lower()


@fast
@given(any_text)
def test_find_emails_never_raises(text: str) -> None:
    for found in find_emails(text):
        email = normalise_email(found)
        assert email is not None and email.valid


# --------------------------------------------------------------------------------------------------- phones


@pytest.mark.parametrize(
    ("text", "region", "e164", "country", "kind"),
    [
        ("030 901820", "DE", "+4930901820", "DE", "fixed"),
        ("+49 (0)30 901820", None, "+4930901820", "DE", "fixed"),
        ("0049 30 901820", None, "+4930901820", "DE", "fixed"),
        ("0049 30 901820", "US", "+4930901820", "DE", "fixed"),
        ("0170 1234567", "Deutschland", "+491701234567", "DE", "mobile"),
        ("020 7946 0018", "GB", "+442079460018", "GB", "fixed"),
        ("+44 (0)20 7946 0018", "FR", "+442079460018", "GB", "fixed"),
        ("07400 123456", "GB", "+447400123456", "GB", "mobile"),
        ("06 12 34 56 78", "FR", "+33612345678", "FR", "mobile"),
        ("0033 6 12 34 56 78", "DE", "+33612345678", "FR", "mobile"),
        ("8 (495) 123-45-67", "RU", "+74951234567", "RU", "fixed"),
        ("+7 912 345-67-89", None, "+79123456789", "RU", "mobile"),
        ("0612345678", "nl", "+31612345678", "NL", "mobile"),
        ("612 345 678", "ES", "+34612345678", "ES", "mobile"),
        ("(202) 555-0143", "US", "+12025550143", "US", "fixed_or_mobile"),
        ("011 49 30 901820", "US", "+4930901820", "DE", "fixed"),
        ("512 345 678", "PL", "+48512345678", "PL", "mobile"),
    ],
)
def test_normalise_phone_national_and_international(
    text: str, region: str | None, e164: str, country: str, kind: str
) -> None:
    phone = normalise_phone(text, region)
    assert phone is not None
    assert (phone.e164, phone.valid, phone.region, phone.kind) == (e164, True, country, kind)
    assert phone.raw == text


def test_normalise_phone_keeps_extensions_apart() -> None:
    phone = normalise_phone("+1 202-555-0143 ext. 12", None)
    assert phone is not None
    assert (phone.e164, phone.extension) == ("+12025550143", "12")


@pytest.mark.parametrize(("text", "region"), [("12", "DE"), ("030 901820", None), ("+49 123", None), ("99999", "XX")])
def test_invalid_phones_are_kept_raw_and_flagged(text: str, region: str | None) -> None:
    phone = normalise_phone(text, region)
    assert phone is not None
    assert phone.raw == text
    assert not phone.valid
    assert phone.e164 is None


@pytest.mark.parametrize("text", ["", "n/a", "unknown"])
def test_normalise_phone_without_digits_is_none(text: str) -> None:
    assert normalise_phone(text, "DE") is None


def test_find_phones_in_a_message_body() -> None:
    body = "Ring +49 170 1234567 or 030 901820; again: +49 170 1234567. Order 12345."
    assert find_phones(body, "DE") == ["+491701234567", "+4930901820"]


@fast
@given(
    st.lists(
        st.one_of(
            any_text,
            st.sampled_from(["+49 170 1234567", "＋44 20 7946 0958", "0044 20 7946 0958", "030 901820", "+", "tel:"]),
        ),
        max_size=6,
    ).map(" ".join)
)
def test_finding_phones_without_a_region_skips_only_texts_that_cannot_hold_one(text: str) -> None:
    import phonenumbers

    from threadline.ingest.normalise import _clean

    slow = []
    for match in phonenumbers.PhoneNumberMatcher(_clean(text), None, leniency=phonenumbers.Leniency.VALID):
        e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        if e164 not in slow:
            slow.append(e164)
    assert find_phones(text, None) == slow


@fast
@given(any_text, st.sampled_from([None, "DE", "US", "gb", "Frankreich", "zz", ""]))
def test_phone_normalisers_never_raise(text: str, region: str | None) -> None:
    phone = normalise_phone(text, region)
    if phone is not None and phone.valid:
        assert phone.e164 is not None and phone.e164.startswith("+")
    find_phones(text, region)


# --------------------------------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("text", "order", "expected"),
    [
        ("1975-03-04", None, ParsedDate("1975-03-04", "day")),
        ("1975-03-04T10:20:30Z", None, ParsedDate("1975-03-04", "day")),
        ("1975-03-04 23:59:00+02:00", None, ParsedDate("1975-03-04", "day")),
        ("19750304", None, ParsedDate("1975-03-04", "day")),
        ("1975/03/04", None, ParsedDate("1975-03-04", "day")),
        ("04.03.1975", "DMY", ParsedDate("1975-03-04", "day")),
        ("04/03/1975", "DMY", ParsedDate("1975-03-04", "day")),
        ("03/04/1975", "MDY", ParsedDate("1975-03-04", "day")),
        ("04-03-1975", "DMY", ParsedDate("1975-03-04", "day")),
        ("04.03.1975 14:30", "DMY", ParsedDate("1975-03-04", "day")),
        ("12/25/1980 11:00 PM", None, ParsedDate("1980-12-25", "day")),
        ("25.12.1980", "MDY", ParsedDate("1980-12-25", "day")),
        ("04.03.85", "DMY", ParsedDate("1985-03-04", "day")),
        ("04.03.05", "DMY", ParsedDate("2005-03-04", "day")),
        ("05/05/2000", None, ParsedDate("2000-05-05", "day")),
        ("1975-03", None, ParsedDate("1975-03", "month")),
        ("03/1975", None, ParsedDate("1975-03", "month")),
        ("1975", None, ParsedDate("1975", "year")),
    ],
)
def test_parse_numeric_dates(text: str, order: str | None, expected: ParsedDate) -> None:
    assert parse_date(text, order) == expected


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("3 March 1975", "1975-03-03"),
        ("March 3, 1975", "1975-03-03"),
        ("3rd Mar 1975", "1975-03-03"),
        ("3-Mar-1975", "1975-03-03"),
        ("3 März 1975", "1975-03-03"),
        ("Montag, 3. März 1975", "1975-03-03"),
        ("12 janvier 1980", "1980-01-12"),
        ("1er août 1980", "1980-08-01"),
        ("5 de mayo de 1990", "1990-05-05"),
        ("15 settembre 1982", "1982-09-15"),
        ("5 mei 1990", "1990-05-05"),
        ("5 de maio de 1990", "1990-05-05"),
        ("1 stycznia 1980", "1980-01-01"),
        ("14 lutego 1981", "1981-02-14"),
        ("7 марта 1985", "1985-03-07"),
        ("7 марта 1985 г.", "1985-03-07"),
        ("21 сентября 1979 года", "1979-09-21"),
        ("1 декабря 2001", "2001-12-01"),
    ],
)
def test_parse_dates_with_month_names(text: str, iso: str) -> None:
    assert parse_date(text) == ParsedDate(iso, "day")


@pytest.mark.parametrize(
    ("text", "iso"), [("März 1975", "1975-03"), ("janvier 1980", "1980-01"), ("май 1990", "1990-05")]
)
def test_month_name_without_day_is_month_precision(text: str, iso: str) -> None:
    assert parse_date(text) == ParsedDate(iso, "month")


def test_day_month_swap_is_ambiguous_without_an_order() -> None:
    assert parse_date("03/04/1975") == ParsedDate("1975-04-03", "day", ambiguous=True)
    assert parse_date("03/04/1975", "MDY") == ParsedDate("1975-03-04", "day", ambiguous=False)
    assert parse_date("13/04/1975") == ParsedDate("1975-04-13", "day", ambiguous=False)
    assert parse_date("04/13/1975") == ParsedDate("1975-04-13", "day", ambiguous=False)


@pytest.mark.parametrize(
    "text", ["31.02.1980", "30/02/1980", "1975-13-01", "0000-00-00", "0001-01-01", "hello", "3 March", "", "12345"]
)
def test_impossible_or_unreadable_dates_are_none(text: str) -> None:
    assert parse_date(text) is None


def test_excel_serials_only_when_asked() -> None:
    assert parse_date("27456") is None
    assert parse_date("27456", excel_serial=True) == ParsedDate("1975-03-03", "day")
    assert parse_date("27456.75", excel_serial=True) == ParsedDate("1975-03-03", "day")
    assert parse_date("61", excel_serial=True) == ParsedDate("1900-03-01", "day")
    assert parse_date("60", excel_serial=True) is None  # Excel's imaginary 1900-02-29
    assert parse_date("1975", excel_serial=True) == ParsedDate("1975", "year")


def test_date_order_vote_decides_from_the_column() -> None:
    vote = DateOrderVote()
    for text in ["03.04.1975", "25.12.1980", "01.02.2000", "not a date"]:
        vote.observe(text)
    assert vote.decide() == ("DMY", False)

    vote = DateOrderVote()
    for text in ["12/25/1980", "01/02/2000"]:
        vote.observe(text)
    assert vote.decide() == ("MDY", False)


def test_date_order_vote_conflict_and_no_evidence() -> None:
    vote = DateOrderVote()
    for text in ["25/12/1980", "26/12/1980", "12/25/1980"]:
        vote.observe(text)
    assert vote.decide() == ("DMY", True)

    clear = DateOrderVote()  # a few swapped values do not make a clear column ambiguous
    for text in [f"{day}/03/1980" for day in range(13, 32)] + ["03/13/1980"]:
        clear.observe(text)
    assert clear.decide() == ("DMY", False)

    tie = DateOrderVote()
    for text in ["25/12/1980", "12/25/1980"]:
        tie.observe(text)
    assert tie.decide() == (None, True)

    empty = DateOrderVote()
    empty.observe("01/02/1980")
    assert empty.decide() == (None, True)

    iso = DateOrderVote()
    for text in ["1980-12-25", "1980-01-02"]:
        iso.observe(text)
    assert iso.decide() == ("YMD", False)


dates = st.dates(min_value=date(1000, 1, 1), max_value=date(2999, 12, 31))


@fast
@given(dates)
def test_iso_and_dotted_dates_round_trip(day: date) -> None:
    assert parse_date(day.isoformat()) == ParsedDate(day.isoformat(), "day")
    dotted = f"{day.day:02d}.{day.month:02d}.{day.year:04d}"
    assert parse_date(dotted, "DMY") == ParsedDate(day.isoformat(), "day")
    slashed = f"{day.month}/{day.day}/{day.year:04d}"
    assert parse_date(slashed, "MDY") == ParsedDate(day.isoformat(), "day")


@fast
@given(any_text, st.sampled_from([None, "DMY", "MDY", "YMD", "bogus"]), st.booleans())
def test_parse_date_never_raises(text: str, order: str | None, excel: bool) -> None:
    parsed = parse_date(text, order, excel_serial=excel)
    if parsed is not None:
        assert parsed.precision in {"day", "month", "year"}
    vote = DateOrderVote()
    vote.observe(text)
    vote.decide()


# --------------------------------------------------------------------------------------------------- countries


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("DE", "DE"),
        ("de", "DE"),
        ("DEU", "DE"),
        ("276", "DE"),
        ("040", "AT"),
        ("Germany", "DE"),
        ("Deutschland", "DE"),
        ("deutschland", "DE"),
        ("Allemagne", "DE"),
        ("Alemania", "DE"),
        ("Germania", "DE"),
        ("Duitsland", "DE"),
        ("Niemcy", "DE"),
        ("Германия", "DE"),
        ("ドイツ", "DE"),
        ("Österreich", "AT"),
        ("Россия", "RU"),
        ("Russian Federation", "RU"),
        ("Russland", "RU"),
        ("UK", "GB"),
        ("U.K.", "GB"),
        ("England", "GB"),
        ("Scotland", "GB"),
        ("Wales", "GB"),
        ("Royaume-Uni", "GB"),
        ("USA", "US"),
        ("U.S.A.", "US"),
        ("United States of America", "US"),
        ("États-Unis", "US"),
        ("Holland", "NL"),
        ("the Netherlands", "NL"),
        ("Pays-Bas", "NL"),
        ("South Korea", "KR"),
        ("Corée du Sud", "KR"),
        ("Bolivia", "BO"),
        ("Türkiye", "TR"),
        ("Schweiz", "CH"),
        ("Polska", "PL"),
        ("Ελλάδα", "GR"),
        ("España", "ES"),
        ("Brasil", "BR"),
        ("中国", "CN"),
        ("Côte d’Ivoire", "CI"),
        ("🇫🇷", "FR"),
        ("Germany (DE)", "DE"),
        ("FR - France", "FR"),
    ],
)
def test_normalise_country_understands_codes_and_names_in_many_languages(text: str, code: str) -> None:
    assert normalise_country(text) == code


@pytest.mark.parametrize("text", ["", "XX", "Narnia", "999", "Korea, Something"])
def test_unknown_countries_are_none(text: str) -> None:
    assert normalise_country(text) is None


@fast
@given(any_text)
def test_normalise_country_never_raises(text: str) -> None:
    code = normalise_country(text)
    assert code is None or (len(code) == 2 and code.isupper())


# --------------------------------------------------------------------------------------------------- postal codes


@pytest.mark.parametrize(
    ("text", "country", "value"),
    [
        ("90210", "US", "90210"),
        ("902101234", "US", "90210-1234"),
        ("sw1a1aa", "GB", "SW1A 1AA"),
        ("EC1A 1BB", "United Kingdom", "EC1A 1BB"),
        ("k1a 0b1", "CA", "K1A 0B1"),
        ("D-80331", "DE", "80331"),
        ("75001", "FR", "75001"),
        ("1234ab", "NL", "1234 AB"),
        ("00950", "PL", "00-950"),
        ("101000", "RU", "101000"),
        ("1000001", "JP", "100-0001"),
        ("01310100", "BR", "01310-100"),
        ("28013", "ES", "28013"),
        ("00184", "IT", "00184"),
        ("2000", "AU", "2000"),
        ("11455", "SE", "114 55"),
        ("1010", "AT", "1010"),
        ("8001", "CH", "8001"),
        ("1000-001", "PT", "1000-001"),
        ("D02X285", "IE", "D02 X285"),
        ("110 00", "CZ", "110 00"),
    ],
)
def test_postal_codes_take_the_countrys_usual_form(text: str, country: str, value: str) -> None:
    code = normalise_postal_code(text, country)
    assert code is not None
    assert code.value == value
    assert code.valid_for_country is True


def test_postal_code_not_fitting_the_country_is_flagged() -> None:
    assert normalise_postal_code("12345", "NL") == normalise_postal_code("12345", "Nederland")
    code = normalise_postal_code("12345", "NL")
    assert code is not None and code.valid_for_country is False and code.value == "12345"
    unknown = normalise_postal_code(" ab  12 ", None)
    assert unknown is not None and unknown.value == "AB 12" and unknown.valid_for_country is None
    assert normalise_postal_code("  ", "DE") is None


@settings(max_examples=3000, deadline=None)
@given(st.text(st.sampled_from("0123456789ABLTVXZ- ٣ab"), max_size=10), st.data())
def test_mask_pattern_agrees_with_the_character_loop(compact: str, data: st.DataObject) -> None:
    """Postal masks are fitted with one regular expression; _fit_mask is its slow, obvious twin."""
    from threadline.ingest.normalise import _POSTAL_MASKS, _fit_mask, _mask_form

    mask = data.draw(st.sampled_from(sorted({m for masks in _POSTAL_MASKS.values() for m in masks})))
    assert _mask_form(compact, mask) == _fit_mask(compact, mask)


def test_countries_consistent_is_weak_evidence() -> None:
    assert {"DE", "FR", "US", "IT", "ES"} <= set(countries_consistent("12345"))
    assert "NL" not in countries_consistent("12345")
    assert countries_consistent("1234 AB") == ["NL"]
    assert countries_consistent("00-950") == ["PL"]
    assert countries_consistent("SW1A 1AA") == ["GB"]
    assert countries_consistent("") == []


@fast
@given(any_text, st.sampled_from([None, "DE", "GB", "NL", "CA", "Polska", "ZZ"]))
def test_postal_normalisers_never_raise(text: str, country: str | None) -> None:
    code = normalise_postal_code(text, country)
    if code is not None and code.valid_for_country:
        assert normalise_postal_code(code.value, country) == code  # the usual form is a fixed point
    countries_consistent(text)


# --------------------------------------------------------------------------------------------------- IP


@pytest.mark.parametrize(
    ("text", "value", "version", "flags", "public"),
    [
        ("8.8.8.8", "8.8.8.8", 4, (), True),
        ("1.2.3.4:8080", "1.2.3.4", 4, (), True),
        ("010.001.002.003", "10.1.2.3", 4, ("private",), False),
        ("192.168.1.20", "192.168.1.20", 4, ("private",), False),
        ("100.64.1.1", "100.64.1.1", 4, ("cgnat",), False),
        ("127.0.0.1", "127.0.0.1", 4, ("private", "loopback"), False),
        ("169.254.1.1", "169.254.1.1", 4, ("private", "link_local"), False),
        ("224.0.0.1", "224.0.0.1", 4, ("multicast",), False),
        ("0.0.0.0", "0.0.0.0", 4, ("private", "unspecified"), False),
        ("2a00:1450:4001:0000:0000:0000:0000:200e", "2a00:1450:4001::200e", 6, (), True),
        ("[2a00:1450:4001::200e]:443", "2a00:1450:4001::200e", 6, (), True),
        ("fe80::1%eth0", "fe80::1", 6, ("private", "link_local"), False),
        ("::1", "::1", 6, ("private", "reserved", "loopback"), False),
        ("fd00::1", "fd00::1", 6, ("private",), False),
        ("::ffff:10.0.0.1", "::ffff:a00:1", 6, ("private",), False),
    ],
)
def test_normalise_ip(text: str, value: str, version: int, flags: tuple[str, ...], public: bool) -> None:
    ip = normalise_ip(text)
    assert ip is not None
    assert (ip.value, ip.version, ip.flags, ip.public) == (value, version, flags, public)


@pytest.mark.parametrize("text", ["", "x", "256.1.1.1", "1.2.3", "1.2.3.4:99999", "[::1]:70000"])
def test_not_an_ip_is_none(text: str) -> None:
    assert normalise_ip(text) is None


@fast
@given(st.ip_addresses())
def test_normalise_ip_returns_the_compressed_form(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    ip = normalise_ip(str(address))
    assert ip is not None
    assert ip.value == address.compressed
    assert ip.version == address.version
    assert normalise_ip(address.exploded) == ip


@fast
@given(any_text)
def test_normalise_ip_never_raises(text: str) -> None:
    normalise_ip(text)


# ------------------------------------------------------------------------------------------ identifiers and money


def test_usernames_and_national_ids() -> None:
    assert normalise_username("  @Bob_99 ") == "bob_99"
    assert normalise_username(" @ ") is None
    assert normalise_national_id("123.456.789-09") == "12345678909"
    assert normalise_national_id(" ab 12 34 56 c ") == "AB123456C"
    assert normalise_national_id("750303/1234") == "7503031234"
    assert normalise_national_id(" - ") is None


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("1.234,56", Decimal("1234.56")),
        ("1,234.56", Decimal("1234.56")),
        ("€12", Decimal("12")),
        ("12 EUR", Decimal("12")),
        ("EUR 1.234.567,89", Decimal("1234567.89")),
        ("1 234,56 zł", Decimal("1234.56")),
        ("1'234.50 CHF", Decimal("1234.50")),
        ("12,-", Decimal("12")),
        ("-3,5", Decimal("-3.5")),
        ("(12.50)", Decimal("-12.50")),
        ("12.5", Decimal("12.5")),
        ("1,234", Decimal("1234")),
        ("0,500", Decimal("0.500")),
        ("1.234.567", Decimal("1234567")),
        ("$ 0.99", Decimal("0.99")),
    ],
)
def test_normalise_amount_in_both_decimal_conventions(text: str, amount: Decimal) -> None:
    assert normalise_amount(text) == amount


@pytest.mark.parametrize("text", ["", "abc", "12 and 13", "1,2,3", "1.234,567.8"])
def test_unreadable_amounts_are_none(text: str) -> None:
    assert normalise_amount(text) is None


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("€", "EUR"),
        ("$", "USD"),
        ("£", "GBP"),
        ("¥", "JPY"),
        ("₽", "RUB"),
        ("руб.", "RUB"),
        ("zł", "PLN"),
        ("eur", "EUR"),
        ("Euro", "EUR"),
        ("12 EUR", "EUR"),
        ("US$", "USD"),
        ("Kč", "CZK"),
        ("CHF", "CHF"),
        ("Swiss Franc", "CHF"),
        ("BTC", "BTC"),
    ],
)
def test_normalise_currency(text: str, code: str) -> None:
    assert normalise_currency(text) == code


@pytest.mark.parametrize("text", ["", "kr", "xyz", "12"])
def test_unknown_or_ambiguous_currency_is_none(text: str) -> None:
    assert normalise_currency(text) is None


@fast
@given(any_text)
def test_identifier_and_money_normalisers_never_raise(text: str) -> None:
    username = normalise_username(text)
    assert username is None or normalise_username(username) == username
    national_id = normalise_national_id(text)
    assert national_id is None or normalise_national_id(national_id) == national_id
    normalise_amount(text)
    normalise_currency(text)


@fast
@given(st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False, allow_infinity=False))
def test_amounts_round_trip_in_both_conventions(amount: Decimal) -> None:
    english = f"{amount:,.2f}"
    german = english.replace(",", " ").replace(".", ",").replace(" ", ".")
    assert normalise_amount(english) == amount
    assert normalise_amount(german) == amount
