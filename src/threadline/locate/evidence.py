"""Every piece of locating evidence in one record, as claims with a weight.

A claim says "this record points to country X (and perhaps region Y)", why, and how strongly. The weights are
points on one scale (see README.md): an address country field or a shipping address is strong; a phone number
written in international form is strong, one written in national form was read in the record's own country by
ingest and so only corroborates it; a postal code is worth as much as its format is rare; a city name as much as
it is unique; an e-mail country-code domain is weak. Private and reserved IP addresses give nothing."""

from __future__ import annotations

import email.utils
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import phonenumbers
import pycountry

from threadline.locate import places
from threadline.locate.ipgeo import IPPlace, public_address

# Points for one claim of each kind (before the adjustments named where they are applied).
WEIGHTS: dict[str, float] = {
    "address_country": 3.0,
    "shipping": 3.0,
    "payment": 2.0,
    "phone": 2.0,
    "region": 1.5,
    "ip": 1.5,
    "postal_code": 1.5,
    "city": 1.0,
    "email_domain": 0.5,
    # A bank account's country (an IBAN's first two letters) on a bank transfer: most people bank where they live,
    # but online banks (Lithuanian, German, Belgian IBANs) serve customers all over Europe.
    "bank": 1.0,
    # Found in the body of a mail the subject sent: a number the sender gives ("you can reach me on +44 …") is
    # usually the sender's own, but may be someone else's, so it counts for less than a number in a customer row.
    "mail_phone": 1.5,
    "mail_email": 0.25,
    # The Date header's UTC offset of a mail the subject sent: a consistency check only (see `clock_claims`).
    "mail_clock": 0.5,
    # A number written in national form on a record with no country, valid in the numbering plan of a few
    # countries only; split over them.
    "phone_national": 1.0,
    # A city named in an address-book nickname ("Cato Capelle aan den IJssel"): half a city field.
    "alias_city": 0.5,
    # A record named by key in the subject line of a mail this address received or sent ("Your order O123 is
    # confirmed"): that record's evidence, at this share (the recipient of an order's confirmation is nearly always
    # who placed it, or someone of the household; resolve did not join them, so names or addresses differ).
    "mention": 0.75,
}
# A national-form number was parsed in the record's country: it shows the number exists there, nothing more.
PHONE_NATIONAL = 0.5
# Toll-free, premium, shared-cost, VoIP, personal and UAN numbers are not tied to where anyone lives.
NON_GEOGRAPHIC = 0.5
ANONYMOUS_IP = 0.25
# A region, or a unique city, found only outside the record's stated country.
OUTSIDE_STATED_COUNTRY = 0.5
# At most this many candidate countries are claimed for an ambiguous city, region or postal code.
MAX_CANDIDATES = 3

_NON_GEOGRAPHIC_TYPES = frozenset(
    {
        phonenumbers.PhoneNumberType.TOLL_FREE,
        phonenumbers.PhoneNumberType.PREMIUM_RATE,
        phonenumbers.PhoneNumberType.SHARED_COST,
        phonenumbers.PhoneNumberType.VOIP,
        phonenumbers.PhoneNumberType.PERSONAL_NUMBER,
        phonenumbers.PhoneNumberType.UAN,
        phonenumbers.PhoneNumberType.PAGER,
    }
)
_PHONEISH = re.compile(r"(?:\+|(?<!\d)00)?[\d(][\d\s().\-/]{4,}\d")
_NON_DIGIT = re.compile(r"\D")


@dataclass(frozen=True, slots=True)
class Evidence:
    source: str
    value: str
    country: str
    region: str | None
    weight: float
    ambiguous: bool = False
    note: str | None = None


IPLookup = Callable[[str], IPPlace | None]


def country_source(record_type: str) -> str:
    """What a record's country field is: a shipping address on an order, a payer's country on a payment."""
    return {"order": "shipping", "payment": "payment"}.get(record_type, "address_country")


def record_evidence(
    record_type: str,
    fields: dict[str, Any],
    raw: dict[str, Any] | None = None,
    *,
    ip_lookup: IPLookup | None = None,
) -> list[Evidence]:
    """Claims from one record's canonical fields (and its verbatim row, to see how phones were written)."""
    out: list[Evidence] = []
    country = fields.get("country") if isinstance(fields.get("country"), str) else None
    if country:
        source = country_source(record_type)
        out.append(Evidence(source, str(fields.get("country_raw") or country), country, None, WEIGHTS[source]))
    out.extend(_region(fields, country))
    out.extend(_postal(fields, country))
    out.extend(_city(fields, country))
    out.extend(_phones(fields, raw or {}, country))
    out.extend(_emails(fields))
    if not country:
        out.extend(_national_phones(fields))
        if record_type == "contact":
            out.extend(_alias_cities(fields))
    if record_type == "payment":
        out.extend(_bank(fields))
    if ip_lookup is not None:
        out.extend(_ips(fields, ip_lookup))
    return out


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str) and v.strip()]
    return []


# Places repeat across a seizure's records (the same city, region or postal code in thousands of rows): each
# distinct (value, stated country) is looked up once per process. Evidence is immutable, so sharing is safe.
_PLACE_CACHE = 200_000


def _region(fields: dict[str, Any], country: str | None) -> tuple[Evidence, ...]:
    texts = _texts(fields.get("region"))
    return _region_claims(texts[0], country) if texts else ()


@lru_cache(maxsize=_PLACE_CACHE)
def _region_claims(text: str, country: str | None) -> tuple[Evidence, ...]:
    return tuple(_region_evidence(text, country))


def _region_evidence(text: str, country: str | None) -> Iterator[Evidence]:
    found = places.find_regions(text, country)
    if not found:
        return
    weight = WEIGHTS["region"]
    if country and country not in found:
        weight *= OUTSIDE_STATED_COUNTRY
    if len(found) > MAX_CANDIDATES:
        return
    ambiguous = len(found) > 1
    for candidate in sorted(found):
        codes = found[candidate]
        region = next(iter(codes)) if len(codes) == 1 else places.lowest_common(codes)
        note = None
        if ambiguous:
            note = "a region of that name exists in " + ", ".join(sorted(found))
        elif country and candidate != country:
            note = f"not a region of {country}"
        yield Evidence("region", text, candidate, region, _w(weight / len(found)), ambiguous, note)


def _postal(fields: dict[str, Any], country: str | None) -> tuple[Evidence, ...]:
    code = fields.get("postal_code")
    if not isinstance(code, str) or not code.strip():
        return ()
    return _postal_claims(code, country)


@lru_cache(maxsize=_PLACE_CACHE)
def _postal_claims(code: str, country: str | None) -> tuple[Evidence, ...]:
    return tuple(_postal_evidence(code, country))


def _postal_evidence(code: str, country: str | None) -> Iterator[Evidence]:
    fits = places.postal_countries(code)
    if country and country in fits:
        # Worth as much as the format is rare: "SW1A 1AA" only fits GB; "80331" fits some sixty countries.
        note = None if len(fits) == 1 else f"format shared by {len(fits)} countries"
        weight = WEIGHTS["postal_code"] / math.sqrt(len(fits))
        yield Evidence("postal_code", code, country, places.postal_region(code, country), _w(weight), False, note)
        return
    if len(fits) == 1:
        only = next(iter(fits))
        note = f"fits only {only}'s format" + (f", not {country}'s" if country else "")
        yield Evidence("postal_code", code, only, places.postal_region(code, only), WEIGHTS["postal_code"], False, note)
    elif not country and 1 < len(fits) <= MAX_CANDIDATES:
        for candidate in sorted(fits):
            note = "format of " + ", ".join(sorted(fits))
            yield Evidence("postal_code", code, candidate, None, _w(WEIGHTS["postal_code"] / len(fits)), True, note)


def _city(fields: dict[str, Any], country: str | None) -> tuple[Evidence, ...]:
    texts = _texts(fields.get("city"))
    return _city_claims(texts[0], country) if texts else ()


@lru_cache(maxsize=_PLACE_CACHE)
def _city_claims(text: str, country: str | None) -> tuple[Evidence, ...]:
    return tuple(_city_evidence(text, country))


def _city_evidence(text: str, country: str | None) -> Iterator[Evidence]:
    match = places.find_city(text)
    if match is None:
        return
    found = match.countries
    others = [c for c in found if c != country]
    if country and country in found:
        note = ("also a city in " + ", ".join(others[:5])) if others else None
        yield Evidence("city", text, country, None, _w(WEIGHTS["city"] / len(found)), bool(others), note)
    elif len(found) == 1:
        weight = WEIGHTS["city"] * (OUTSIDE_STATED_COUNTRY if country else 1.0)
        note = f"not a known city of {country}" if country else None
        yield Evidence("city", text, found[0], None, _w(weight), False, note)
    elif not country and len(found) <= MAX_CANDIDATES:
        for candidate in sorted(found):
            note = "a city of that name exists in " + ", ".join(found)
            yield Evidence("city", text, candidate, None, _w(WEIGHTS["city"] / len(found)), True, note)


def _raw_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _raw_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _raw_strings(v)


def written_form(raw: dict[str, Any], number: phonenumbers.PhoneNumber) -> str | None:
    """How the seized record wrote a number: "international" (+CC or 00CC), "national", or None if not found."""
    nsn = phonenumbers.national_significant_number(number)
    code = str(number.country_code)
    national = False
    for text in _raw_strings(raw):
        for match in _PHONEISH.finditer(text):
            written = match.group().lstrip("( ")
            digits = _NON_DIGIT.sub("", written)
            if not digits.endswith(nsn):
                continue
            if written.startswith("+") or (written.startswith("00") and digits[2:].startswith(code)):
                return "international"
            if digits == code + nsn:  # "4915125389830": the country code written without a plus
                return "international"
            national = True
    return "national" if national else None


def _phones(fields: dict[str, Any], raw: dict[str, Any], country: str | None) -> Iterator[Evidence]:
    for e164 in _texts(fields.get("phone")):
        parsed = _phone(e164)
        if parsed is None:
            continue
        number, region, non_geographic = parsed
        weight = WEIGHTS["phone"]
        notes = []
        form = written_form(raw, number)
        if form != "international":
            weight *= PHONE_NATIONAL
            notes.append("written in national form, read in the record's country" if form else "as written not found")
        if non_geographic:
            weight *= NON_GEOGRAPHIC
            notes.append("not a geographic or mobile number")
        yield Evidence("phone", e164, region, None, _w(weight), False, "; ".join(notes) or None)


@lru_cache(maxsize=_PLACE_CACHE)
def _phone(e164: str) -> tuple[phonenumbers.PhoneNumber, str, bool] | None:
    """A number's region and whether it is non-geographic; None for no country (+800, +882…) or unparseable."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(number)
    if not region or region in ("ZZ", "001"):
        return None
    return number, region, phonenumbers.number_type(number) in _NON_GEOGRAPHIC_TYPES


def _emails(fields: dict[str, Any]) -> Iterator[Evidence]:
    seen: set[str] = set()
    for address in _texts(fields.get("email")):
        country = places.email_country(address)
        if country is None or country in seen:
            continue
        seen.add(country)
        domain = address.rpartition("@")[2]
        yield Evidence("email_domain", domain, country, None, WEIGHTS["email_domain"])


def _national_phones(fields: dict[str, Any]) -> Iterator[Evidence]:
    """Numbers ingest could not read because the record names no country ("0611 168 705" on an address-book
    card): the countries whose numbering plan makes them a valid number, when there are at most three."""
    for text in _texts(fields.get("phone_invalid")):
        found = _national_countries(text)
        if not found:
            continue
        note = f"written in national form, a valid number in {', '.join(found)}"
        for candidate in found:
            weight = _w(WEIGHTS["phone_national"] / len(found))
            yield Evidence("phone_national", text, candidate, None, weight, len(found) > 1, note)


_NATIONAL_DIGITS = re.compile(r"^\(?0?[\d\s().\-/]{5,}$")


@lru_cache(maxsize=_PLACE_CACHE)
def _national_countries(text: str) -> tuple[str, ...]:
    written = text.strip()
    if written.startswith("+") or not _NATIONAL_DIGITS.match(written) or len(_NON_DIGIT.sub("", written)) < 6:
        return ()
    found = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        try:
            number = phonenumbers.parse(written, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.region_code_for_number(number) == region and phonenumbers.is_valid_number(number):
            found.append(region)
            if len(found) > MAX_CANDIDATES:
                return ()
    return tuple(found)


def _alias_cities(fields: dict[str, Any]) -> Iterator[Evidence]:
    """A city in an address-book nickname of the form "<name> <city>": the words after the first, when they are a
    city's name. A nickname that is the card's own "given family" name is not read (families named Lincoln); a card
    whose only name is the nickname is."""
    given, family = fields.get("given_name"), fields.get("family_name")
    own = f"{given} {family}".casefold() if given and family else None
    seen: set[tuple[str, str]] = set()
    for alias in _texts(fields.get("aliases")):
        words = alias.split()
        if len(words) < 2 or alias.strip().casefold() == own:
            continue
        place = " ".join(words[1:])
        for e in _alias_city_claims(place):
            if (e.country, e.value) not in seen:
                seen.add((e.country, e.value))
                yield e


@lru_cache(maxsize=_PLACE_CACHE)
def _alias_city_claims(place: str) -> tuple[Evidence, ...]:
    match = places.find_city(place)
    if match is None or len(match.countries) > MAX_CANDIDATES:
        return ()
    found = match.countries
    note = "a city named in a nickname"
    if len(found) > 1:
        note += f"; a city of that name exists in {', '.join(found)}"
    weight = _w(WEIGHTS["alias_city"] / len(found))
    return tuple(Evidence("alias_city", place, c, None, weight, len(found) > 1, note) for c in found)


_IBAN = re.compile(r"^([A-Z]{2})\d{2}[A-Z0-9]{10,30}$")


def _bank(fields: dict[str, Any]) -> Iterator[Evidence]:
    """A bank account's country: an IBAN (its country letters, when its check digits are right) or a column
    naming the IBAN's or bank's country."""
    extra = fields.get("extra")
    if not isinstance(extra, dict):
        return
    for key, value in sorted(extra.items()):
        named = key.lower()
        if ("iban" not in named and "bank_country" not in named) or not isinstance(value, str):
            continue
        text = value.replace(" ", "").upper()
        if len(text) == 2 and text.isalpha():
            country = text
        elif (m := _IBAN.match(text)) and _iban_checks(text):
            country = m.group(1)
        else:
            continue
        if pycountry.countries.get(alpha_2=country) is None:
            continue
        yield Evidence("bank", value, country, None, WEIGHTS["bank"], False, f"bank account country ({key})")


def _iban_checks(iban: str) -> bool:
    moved = iban[4:] + iban[:4]
    digits = "".join(str(int(c, 36)) for c in moved)
    return int(digits) % 97 == 1


# --------------------------------------------------------------------------------------------------- mail


def sent_mail_evidence(message: dict[str, Any]) -> list[Evidence]:
    """Claims from the body of a mail the subject sent: the phone numbers and country-domain addresses it names.
    Ingest keeps only numbers written with their country code (the body's country is unknown), so each number's
    region is its own; a sender may quote someone else's number, hence the lower weight."""
    out: list[Evidence] = []
    for e164 in _texts(message.get("body_phones")):
        parsed = _phone(e164)
        if parsed is None:
            continue
        _number, region, non_geographic = parsed
        weight = WEIGHTS["mail_phone"] * (NON_GEOGRAPHIC if non_geographic else 1.0)
        note = "named in the body of a mail the subject sent" + ("; not geographic" if non_geographic else "")
        out.append(Evidence("mail_phone", e164, region, None, _w(weight), False, note))
    seen: set[str] = set()
    for address in _texts(message.get("body_emails")):
        country = places.email_country(address)
        if country is None or country in seen:
            continue
        seen.add(country)
        note = "an address named in the body of a mail the subject sent"
        domain = address.rpartition("@")[2]
        out.append(Evidence("mail_email", domain, country, None, WEIGHTS["mail_email"], False, note))
    return out


def clock_offset(date_header: str | None) -> tuple[int, int] | None:
    """(UTC offset in minutes, year) of a Date header ("Tue, 3 Mar 2009 19:11:01 -0500"); None when it has no
    usable offset ("-0000" means unknown, by RFC 5322)."""
    if not date_header or "-0000" in date_header:
        return None
    try:
        when = email.utils.parsedate_to_datetime(date_header)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    offset = when.utcoffset()
    if offset is None or abs(offset.total_seconds()) > 14 * 3600:
        return None
    return int(offset.total_seconds() // 60), when.year


def clock_claims(offset_minutes: int, year: int, candidates: set[str]) -> list[Evidence]:
    """The Date header's UTC offset as a consistency check: a claim for each country already claimed by other
    evidence whose clocks showed that offset (in winter or summer) that year, never a new candidate."""
    fits = places.clock_countries(offset_minutes, year)
    sign = "+" if offset_minutes >= 0 else "-"
    value = f"UTC{sign}{abs(offset_minutes) // 60:02d}:{abs(offset_minutes) % 60:02d}"
    note = f"the Date header's offset fits this country's clocks ({len(fits)} countries fit)"
    weight = WEIGHTS["mail_clock"]
    return [Evidence("mail_clock", value, c, None, weight, False, note) for c in sorted(candidates & fits)]


def _ips(fields: dict[str, Any], lookup: IPLookup) -> Iterator[Evidence]:
    flags = fields.get("ip_flags")
    private: dict[str, Any] = flags if isinstance(flags, dict) else {}
    for text in _texts(fields.get("ip")):
        if text in private or public_address(text) is None:
            continue
        place = lookup(text)
        if place is None:
            continue
        weight = WEIGHTS["ip"] * (ANONYMOUS_IP if place.anonymous else 1.0)
        note = "an anonymising proxy, VPN or Tor exit" if place.anonymous else None
        yield Evidence("ip", text, place.country, place.region, _w(weight), False, note)


def _w(weight: float) -> float:
    return round(weight, 4)
