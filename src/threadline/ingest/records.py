"""From verbatim values to canonical, normalised fields and indexed identifiers.

The verbatim row is stored untouched beside what is built here; normalisation only adds matching forms."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from threadline.ingest import normalise as norm
from threadline.ingest.phones import valid_e164

_ASCII_DIGIT = re.compile("[0-9]")
_SPLIT_MULTI = re.compile(r"\s*[;,]\s*|\s+/\s+|\s*\n\s*")
# Where dates are written month first. Elsewhere day first is the rule.
MONTH_FIRST_COUNTRIES = frozenset({"US", "PH", "FM", "MH", "PW", "BZ", "AS", "GU", "MP", "PR", "VI", "UM"})
_TEXT_FIELDS = ("street", "city", "region", "occupation", "organisation", "counterparty", "record_id")


def clean(text: str) -> str:
    return " ".join(text.split())


def _values(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple):
        out = []
        for v in value:
            if v:
                text = " ".join(str(v).split())
                if text:
                    out.append(text)
        return out
    text = " ".join(str(value).split())
    return [text] if text else []


def _split(values: Iterable[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        if ";" in value or "," in value or "/" in value or "\n" in value:
            out.extend(p for p in _SPLIT_MULTI.split(value) if p)
        elif value:
            out.append(value)
    return out


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


# Dates repeat across a file (a few tens of thousands of birth dates); parsing one is dearer than the look-up.
_parse_date = lru_cache(maxsize=1 << 17)(norm.parse_date)


def build_fields(
    values: dict[str, Any],
    *,
    default_country: str | None = None,
    date_orders: dict[str, str | None] | None = None,
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Canonical fields and (kind, value) identifiers for one record.

    `values` maps canonical field names to a verbatim string or a list of them (several source columns).
    This runs once per record of a million-row file, so the common cases go first and absent fields cost
    nothing."""
    fields: dict[str, Any] = {}
    flags: list[str] = []
    identifiers: list[tuple[str, str]] = []
    orders = date_orders or {}
    # Only the fields this record has: most rows fill a handful of the canonical fields.
    present: dict[str, list[str]] = {}
    for name, value in values.items():
        if value.__class__ is str:
            if value:
                text = " ".join(value.split())
                if text:
                    present[name] = [text]
        else:
            found = _values(value)
            if found:
                present[name] = found
    get = present.get

    country = None
    country_raw = get("country")
    if country_raw:
        for raw in country_raw:
            country = norm.normalise_country(raw)
            if country:
                break
        fields["country_raw"] = country_raw[0]
        if country:
            fields["country"] = country
        else:
            flags.append("country_unknown")
    home = country or default_country

    for name in _TEXT_FIELDS:
        texts = get(name)
        if texts:
            fields[name] = texts[0] if len(texts) == 1 else "; ".join(texts)

    given = get("given_name")
    family = get("family_name")
    full = get("full_name")
    if given:
        fields["given_name"] = given[0] if len(given) == 1 else " ".join(given)
    if family:
        fields["family_name"] = family[0] if len(family) == 1 else " ".join(family)
    if full:
        fields["full_name"] = full[0]
        if not given and not family:
            split_given, split_family = norm.split_full_name(full[0])
            if split_given:
                fields["given_name"] = split_given
            if split_family:
                fields["family_name"] = split_family
    elif given or family:
        fields["full_name"] = " ".join(p for p in (fields.get("given_name"), fields.get("family_name")) if p)
    keys = []
    for part, part_key in (("given_name", "given_name_key"), ("family_name", "family_name_key")):
        if part in fields:
            key = norm.name_key(fields[part])
            keys.append(key)
            if key:
                fields[part_key] = key
    if "full_name" in fields:
        # name_key works character by character and a space stays a boundary, so a full name made here from
        # its parts has their keys joined: no transliterating of every distinct full name.
        key = " ".join(k for k in keys if k) if not full else norm.name_key(fields["full_name"])
        if key:
            fields["full_name_key"] = key

    if "aliases" in present:
        aliases = _unique(_split(present["aliases"]))
        if aliases:
            fields["aliases"] = aliases
            fields["aliases_key"] = _unique(k for k in (norm.name_key(a) for a in aliases) if k)

    for name in ("date_of_birth", "date"):
        texts = get(name)
        if not texts:
            continue
        parsed = _parse_date(texts[0], orders.get(name))
        if parsed is not None and parsed.ambiguous and home:
            parsed = _parse_date(texts[0], "MDY" if home in MONTH_FIRST_COUNTRIES else "DMY")
        if parsed is None:
            fields[f"{name}_raw"] = texts[0]
            flags.append(f"{name}_unparsed")
            continue
        fields[name] = parsed.iso
        if parsed.precision != "day":
            flags.append(f"{name}_{parsed.precision}_only")
        if parsed.ambiguous:
            flags.append(f"{name}_ambiguous")

    if "email" in present:
        emails: list[str] = []
        canonical: list[str] = []
        for text in _split(present["email"]):
            email = norm.normalise_email(text)
            if email is None:
                continue
            if not email.valid:
                fields.setdefault("email_invalid", []).append(text)
                continue
            emails.append(email.value)
            canonical.append(email.canonical)
        if emails:
            fields["email"] = emails if len(emails) == 1 else _unique(emails)
            fields["email_canonical"] = canonical if len(canonical) == 1 else _unique(canonical)
            identifiers.extend(("email", c) for c in fields["email_canonical"])

    if "phone" in present:
        phones: list[str] = []
        for text in _split(present["phone"]):
            e164 = valid_e164(text, home)
            if e164:
                phones.append(e164)
            elif _ASCII_DIGIT.search(text) if text.isascii() else any(c.isdigit() for c in text):
                fields.setdefault("phone_invalid", []).append(text)
        if phones:
            fields["phone"] = phones if len(phones) == 1 else _unique(phones)
            identifiers.extend(("phone", p) for p in fields["phone"])

    postal = get("postal_code")
    if postal:
        code = norm.normalise_postal_code(postal[0], home)
        if code is not None:
            fields["postal_code"] = code.value
            if code.valid_for_country is False:
                flags.append("postal_code_unusual_for_country")

    if "ip" in present:
        ips: list[str] = []
        for text in _split(present["ip"]):
            ip = norm.normalise_ip(text)
            if ip is None:
                fields.setdefault("ip_invalid", []).append(text)
                continue
            ips.append(ip.value)
            if not ip.public:
                fields.setdefault("ip_flags", {})[ip.value] = list(ip.flags)
        if ips:
            fields["ip"] = _unique(ips)
            identifiers.extend(("ip", v) for v in fields["ip"])

    if "username" in present:
        usernames = [u for u in (norm.normalise_username(t) for t in present["username"]) if u]
        if usernames:
            fields["username"] = usernames[0]
            identifiers.extend(("username", u) for u in _unique(usernames))
    if "national_id" in present:
        national = [n for n in (norm.normalise_national_id(t) for t in present["national_id"]) if n]
        if national:
            fields["national_id"] = national[0]
            identifiers.extend(("national_id", n) for n in _unique(national))

    amounts = get("amount")
    if amounts:
        amount = norm.normalise_amount(amounts[0])
        if amount is None:
            fields["amount_raw"] = amounts[0]
            flags.append("amount_unparsed")
        else:
            fields["amount"] = str(amount)
    currencies = get("currency")
    if currencies:
        currency = norm.normalise_currency(currencies[0])
        if currency:
            fields["currency"] = currency
        else:
            fields["currency_raw"] = currencies[0]
    elif amounts:
        currency = norm.normalise_currency(amounts[0])
        if currency:
            fields["currency"] = currency

    if flags:
        fields["flags"] = flags
    return fields, identifiers
