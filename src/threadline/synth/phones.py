"""Phone numbers that phonenumbers accepts as valid for their country, and the ways people write them.

Numbers are built from a per-country pool of validated prefixes plus random trailing digits, which is fast and
keeps the locate stage honest (a number's country is recoverable only if the number is plausible).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType

_TAIL = 4  # trailing digits drawn freely after a validated prefix


@dataclass(frozen=True, slots=True)
class Phone:
    country_code: int
    national: str  # national significant number, digits only
    trunk: str  # national (trunk) prefix, e.g. "0", "8", "1", or ""

    @property
    def e164(self) -> str:
        return f"+{self.country_code}{self.national}"


class PhonePlan:
    """Draws unique, valid-looking numbers for one country."""

    def __init__(self, alpha2: str, rng: random.Random, size_hint: int) -> None:
        self.alpha2 = alpha2
        self._rng = rng
        meta = phonenumbers.PhoneMetadata.metadata_for_region(alpha2)
        self.country_code = phonenumbers.country_code_for_region(alpha2)
        self.trunk = (meta.national_prefix or "") if meta is not None else ""
        self._prefixes: dict[int, list[str]] = {}
        self._used: set[str] = set()
        self._n_prefixes = max(8, min(300, size_hint // 30 + 8))

    def _prefix_pool(self, kind: int) -> list[str]:
        pool = self._prefixes.get(kind)
        if pool is not None:
            return pool
        example = phonenumbers.example_number_for_type(self.alpha2, kind) or phonenumbers.example_number(self.alpha2)
        nsn = phonenumbers.national_significant_number(example) if example else "2015550123"
        keep = max(1, len(nsn) - 7)
        found: set[str] = set()
        for _ in range(self._n_prefixes * 6):
            head = nsn[:keep] + "".join(self._rng.choice("0123456789") for _ in range(len(nsn) - keep - _TAIL))
            candidate = head + "0" * _TAIL
            num = phonenumbers.PhoneNumber(country_code=self.country_code, national_number=int(candidate))
            if phonenumbers.is_valid_number_for_region(num, self.alpha2):
                found.add(head)
                if len(found) >= self._n_prefixes:
                    break
        pool = sorted(found) or [nsn[:-_TAIL]]
        self._prefixes[kind] = pool
        return pool

    def draw(self, landline: bool = False) -> Phone:
        kind = PhoneNumberType.FIXED_LINE if landline else PhoneNumberType.MOBILE
        pool = self._prefix_pool(kind)
        for _ in range(20):
            nsn = f"{self._rng.choice(pool)}{self._rng.randrange(10**_TAIL):0{_TAIL}d}"
            if nsn not in self._used:
                break
        self._used.add(nsn)
        return Phone(self.country_code, nsn, self.trunk)


def _group(digits: str) -> str:
    """Space-group a national number the way people often do (3-3-rest or 4-rest)."""
    if len(digits) <= 6:
        return digits
    if len(digits) <= 9:
        return f"{digits[:3]} {digits[3:6]} {digits[6:]}"
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}" if len(digits) == 10 else f"{digits[:4]} {digits[4:]}"


PHONE_STYLES: tuple[str, ...] = ("e164", "international", "national", "national_compact", "double_zero", "no_trunk")


def format_phone(phone: Phone, style: str) -> str:
    """Write ``phone`` in one of PHONE_STYLES; every style keeps all national digits."""
    n = phone.national
    if style == "e164":
        return phone.e164
    if style == "international":
        return f"+{phone.country_code} {_group(n)}"
    if style == "national":
        if phone.country_code == 1:
            return f"({n[:3]}) {n[3:6]}-{n[6:]}" if len(n) == 10 else n
        return phone.trunk + _group(n) if phone.trunk else _group(n)
    if style == "national_compact":
        return phone.trunk + n
    if style == "double_zero":
        return f"00{phone.country_code} {n}"
    if style == "no_trunk":
        return _group(n)
    raise ValueError(f"unknown phone style {style!r}")
