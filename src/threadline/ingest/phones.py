"""The E.164 form of a plainly written phone number, at a tenth of the cost of the general path.

`normalise.phone_e164` runs each number through phonenumbers' `parse` and `is_valid_number`: about 40 µs, most of
it spent on what a seized customer list never contains (letters, extensions, RFC 3966, full-width digits) and on
looking up and compiling the same metadata patterns again. Phone numbers in such a list are nearly all distinct,
so no cache helps; at a million rows that cost alone is most of an ingest.

`valid_e164` follows phonenumbers' own steps (libphonenumber's parse and validation, in the same order, with the
same metadata) but only for text made of ASCII digits, spaces, ``( ) . / -`` and one leading ``+``, with every
pattern compiled once per region. Anything else takes the general path. tests/test_ingest_phones.py holds the two
to the same answers on Faker's numbers for every locale and on random text of that alphabet for every region."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE
from phonenumbers.phonemetadata import PhoneMetadata, PhoneNumberDesc

from threadline.ingest import normalise as norm

__all__ = ["valid_e164"]

_NON_GEO = "001"
_MIN_NSN, _MAX_NSN, _MAX_CC, _MAX_INPUT = 2, 17, 3, 250
_PLAIN_CHARS = "0123456789 ()./+-"
_LEAD, _TAIL = " ()./-", " ()./-+"
_ASCII_DIGIT = re.compile("[0-9]")
_EXTENSION = re.compile(r"([0-9 ()./+\-]*[0-9]) ?(?:[xX]|[eE][xX][tT]\.?) ?[0-9]{1,9}")
_NOT_DIGIT = str.maketrans("", "", " ()./+-")
# ValidationResult values of phonenumbers' _test_number_length that matter here.
_TOO_SHORT, _POSSIBLE, _LOCAL_ONLY, _INVALID_LENGTH, _TOO_LONG = range(5)


class _NotANumber(Exception):
    """phonenumbers would raise NumberParseException (`invalid_country_code`: INVALID_COUNTRY_CODE)."""

    def __init__(self, invalid_country_code: bool = False) -> None:
        self.invalid_country_code = invalid_country_code


class _Unsupported(Exception):
    """Metadata this module does not follow (none seen in phonenumbers' data); the general path answers."""


@dataclass(frozen=True, slots=True)
class _Desc:
    lengths: frozenset[int]
    pattern: re.Pattern[str] | None

    def matches(self, nsn: str) -> bool:
        """phonenumbers' _is_number_matching_desc."""
        if self.lengths and len(nsn) not in self.lengths:
            return False
        return self.pattern is not None and self.pattern.fullmatch(nsn) is not None


@dataclass(frozen=True, slots=True)
class _Region:
    country_code: int
    idd: re.Pattern[str] | None
    national_prefix: re.Pattern[str] | None
    transform: str | None
    general: _Desc
    general_lengths: tuple[int, ...]
    local_lengths: frozenset[int]
    valid_by_length: dict[int, re.Pattern[str]]
    leading_digits: re.Pattern[str] | None

    def general_match(self, number: str) -> bool:
        """phonenumbers' _match_national_number against the general description (no length check)."""
        return self.general.pattern is not None and self.general.pattern.fullmatch(number) is not None

    def valid(self, nsn: str) -> bool:
        """phonenumbers' _number_type_helper(nsn) != UNKNOWN: the general description and one of a type."""
        pattern = self.valid_by_length.get(len(nsn))
        return pattern is not None and pattern.fullmatch(nsn) is not None

    def length(self, number: str) -> int:
        """phonenumbers' _test_number_length for an unknown number type."""
        n = len(number)
        if n in self.local_lengths:
            return _LOCAL_ONLY
        lengths = self.general_lengths
        if not lengths:
            raise _Unsupported
        if lengths[0] == n:
            return _POSSIBLE
        if lengths[0] > n:
            return _TOO_SHORT
        if lengths[-1] < n:
            return _TOO_LONG
        return _POSSIBLE if n in lengths[1:] else _INVALID_LENGTH

    def strip_national_prefix(self, number: str) -> str:
        """phonenumbers' _maybe_strip_national_prefix_carrier_code, the number part of its answer."""
        if not number or self.national_prefix is None:
            return number
        match = self.national_prefix.match(number)
        if match is None:
            return number
        viable = self.general_match(number)
        groups = match.groups()
        if self.transform and not groups:
            raise _Unsupported  # phonenumbers fails here with an IndexError
        if not self.transform or groups[len(groups) - 1] is None:
            stripped = number[match.end() :]
        else:
            stripped = self.national_prefix.sub(self.transform, number, count=1)
        if viable and not self.general_match(stripped):
            return number
        return stripped


def _desc(desc: PhoneNumberDesc | None) -> _Desc | None:
    if desc is None:
        return None
    pattern = desc.national_number_pattern
    return _Desc(frozenset(desc.possible_length or ()), re.compile(pattern) if pattern else None)


def _compile(metadata: PhoneMetadata | None) -> _Region | None:
    if metadata is None:
        return None
    general_desc = metadata.general_desc
    general = _desc(general_desc)
    if general_desc is None or general is None or metadata.country_code is None:
        raise _Unsupported
    kinds = [
        metadata.premium_rate,
        metadata.toll_free,
        metadata.shared_cost,
        metadata.voip,
        metadata.personal_number,
        metadata.pager,
        metadata.uan,
        metadata.voicemail,
        metadata.fixed_line,
    ]
    if not metadata.same_mobile_and_fixed_line_pattern:
        kinds.append(metadata.mobile)
    types = [d for d in (_desc(k) for k in kinds) if d is not None and d.pattern is not None]
    # One pattern per length instead of a dozen calls: the general description as a lookahead, then every
    # type description that allows the length.
    valid_by_length: dict[int, re.Pattern[str]] = {}
    if general.pattern is not None:
        lengths = general.lengths or frozenset(range(_MIN_NSN, _MAX_NSN + 1))
        for length in sorted(lengths | {n for d in types for n in d.lengths}):
            if general.lengths and length not in general.lengths:
                continue
            fitting = [
                d.pattern.pattern for d in types if d.pattern is not None and (not d.lengths or length in d.lengths)
            ]
            if fitting:
                alternatives = "|".join(f"(?:{p})" for p in fitting)
                valid_by_length[length] = re.compile(f"(?=(?:{general.pattern.pattern})$)(?:{alternatives})")
    return _Region(
        country_code=metadata.country_code,
        idd=re.compile(metadata.international_prefix) if metadata.international_prefix is not None else None,
        national_prefix=re.compile(metadata.national_prefix_for_parsing)
        if metadata.national_prefix_for_parsing
        else None,
        transform=metadata.national_prefix_transform_rule or None,
        general=general,
        general_lengths=tuple(general_desc.possible_length or ()),
        local_lengths=frozenset(general_desc.possible_length_local_only or ()),
        valid_by_length=valid_by_length,
        leading_digits=re.compile(metadata.leading_digits) if metadata.leading_digits is not None else None,
    )


@lru_cache(maxsize=512)
def _region(region: str) -> _Region | None:
    return _compile(PhoneMetadata.metadata_for_region(region, None))


@lru_cache(maxsize=512)
def _for_code(country_code: int, region: str) -> _Region | None:
    """phonenumbers' metadata_for_region_or_calling_code."""
    if region == _NON_GEO:
        return _compile(PhoneMetadata.metadata_for_nongeo_region(country_code, None))
    return _region(region)


def _country_code(digits: str) -> tuple[int, str]:
    """phonenumbers' _extract_country_code."""
    if not digits or digits[0] == "0":
        return 0, digits
    for i in range(1, min(len(digits), _MAX_CC) + 1):
        code = int(digits[:i])
        if code in COUNTRY_CODE_TO_REGION_CODE:
            return code, digits[i:]
    return 0, digits


def _extract_country_code(number: str, digits: str, region: _Region | None) -> tuple[int, str]:
    """phonenumbers' _maybe_extract_country_code for plain text (``digits``: its digits)."""
    if not number:
        return 0, ""
    international = True
    full = digits
    if number[0] != "+":
        match = region.idd.match(full) if region is not None and region.idd is not None else None
        if match is not None and not full[match.end() :].startswith("0"):
            full = full[match.end() :]
        else:
            international = False
    if international:
        if len(full) <= _MIN_NSN:
            raise _NotANumber
        code, rest = _country_code(full)
        if code:
            return code, rest
        raise _NotANumber(invalid_country_code=True)
    if region is not None:
        own = str(region.country_code)
        if full.startswith(own):
            national = region.strip_national_prefix(full[len(own) :])
            if (not region.general_match(full) and region.general_match(national)) or region.length(full) == _TOO_LONG:
                return region.country_code, national
    return 0, ""


def _parse(number: str, region_code: str | None) -> tuple[int, str]:
    """phonenumbers' parse for text that _plain_number accepted: (country code, national significant number)."""
    digits = number.translate(_NOT_DIGIT)
    if len(number) < _MIN_NSN or (len(digits) < 3 and not (len(number) == 2 and number.isdigit())):
        raise _NotANumber  # phonenumbers' _is_viable_phone_number
    if region_code is None and number[0] != "+":
        raise _NotANumber
    region = _region(region_code) if region_code is not None else None
    try:
        code, national = _extract_country_code(number, digits, region)
    except _NotANumber as exc:
        if not (exc.invalid_country_code and number[0] == "+"):
            raise
        code, national = _extract_country_code(number[1:], digits, region)
        if code == 0:
            raise _NotANumber(invalid_country_code=True) from None
    if code != 0:
        number_region = COUNTRY_CODE_TO_REGION_CODE[code][0]
        if number_region != region_code:
            region = _for_code(code, number_region)
            if region is None:
                raise _Unsupported
    else:
        assert region is not None
        national = digits
        code = region.country_code
    if len(national) < _MIN_NSN:
        raise _NotANumber
    if region is not None:
        stripped = region.strip_national_prefix(national)
        if region.length(stripped) not in (_TOO_SHORT, _LOCAL_ONLY, _INVALID_LENGTH):
            national = stripped
    if len(national) < _MIN_NSN or len(national) > _MAX_NSN:
        raise _NotANumber
    return code, national


@dataclass(frozen=True, slots=True)
class _Shared:
    """The regions sharing a country code, in phonenumbers' order, with their leading-digit patterns joined
    into one (alternatives are tried in order, so the first region whose pattern matches is the one found)."""

    regions: tuple[_Region | None, ...]
    leading: re.Pattern[str] | None  # None: some pattern has groups of its own; try the regions one by one
    leading_index: dict[str, int]  # group name -> position in regions


@lru_cache(maxsize=64)
def _shared(code: int) -> _Shared:
    regions = tuple(_region(r) for r in COUNTRY_CODE_TO_REGION_CODE[code])
    alternatives, index = [], {}
    for i, region in enumerate(regions):
        if region is not None and region.leading_digits is not None:
            if region.leading_digits.groups:
                return _Shared(regions, None, {})
            alternatives.append(f"(?P<r{i}>{region.leading_digits.pattern})")
            index[f"r{i}"] = i
    leading = re.compile("|".join(alternatives)) if alternatives else None
    return _Shared(regions, leading, index)


def _valid(code: int, nsn: str) -> bool:
    """normalise._valid: the country code's main region first, then phonenumbers' is_valid_number."""
    regions = COUNTRY_CODE_TO_REGION_CODE[code]
    main = _for_code(code, regions[0])
    if main is None:
        raise _Unsupported
    if main.valid(nsn):
        return True
    if len(regions) == 1:
        return False
    # phonenumbers' _region_code_for_number_from_list: the first region, in order, whose leading digits match
    # (its verdict stands) or, having no leading digits, that the number is valid for.
    shared = _shared(code)
    if shared.leading is None:
        for region in shared.regions:
            if region is None:
                continue
            if region.leading_digits is not None:
                if region.leading_digits.match(nsn):
                    return region.valid(nsn)
            elif region.valid(nsn):
                return True
        return False
    match = shared.leading.match(nsn)
    first = shared.leading_index[match.lastgroup] if match is not None and match.lastgroup else len(regions)
    for region in shared.regions[:first]:
        if region is not None and region.leading_digits is None and region.valid(nsn):
            return True
    if first < len(regions):
        found = shared.regions[first]
        return found is not None and found.valid(nsn)
    return False


def _plain_number(candidate: str) -> str | None:
    """What phonenumbers' parse reads of plain text (after _extract_possible_number and _maybe_strip_extension),
    or None when the text is not plain. An extension ("x123", "ext. 123") after a number that is viable by
    itself is dropped, as phonenumbers does; it is not part of the E.164 form."""
    if len(candidate) > _MAX_INPUT:
        return None
    if candidate.strip(_PLAIN_CHARS):  # not made of _PLAIN_CHARS only
        extension = _EXTENSION.fullmatch(candidate)
        if extension is None:
            return None
        candidate = extension.group(1)
        if not _viable(candidate.lstrip(_LEAD)):
            return None
    # Up to the first "+" or digit, and without the non-digits at the end.
    number = candidate.lstrip(_LEAD).rstrip(_TAIL)
    if "+" in number[1:]:
        return None
    return number


def _viable(number: str) -> bool:
    """phonenumbers' _is_viable_phone_number for plain text that starts with "+" or a digit."""
    return len(number) >= _MIN_NSN and (
        len(number.translate(_NOT_DIGIT)) >= 3 or (len(number) == 2 and number.isdigit())
    )


@lru_cache(maxsize=16384)
def valid_e164(text: str, default_region: str | None) -> str | None:
    """The E.164 form when ``text`` is a valid number (national ones read in ``default_region``), else None.

    Answers exactly as ``normalise.phone_e164(text, default_region)`` does for valid numbers, with None where that
    says invalid."""
    if text.isascii() and text.isprintable():  # what _clean would leave as it is
        raw = " ".join(text.split())
        if not _ASCII_DIGIT.search(raw):
            return None
    else:
        raw = " ".join(norm._clean(text).split())
        if not any(c.isdigit() for c in raw):
            return None
    trunk = norm._TRUNK_IN_INTERNATIONAL.match(raw)
    first = f"{trunk.group(1)} {raw[trunk.end() :]}" if trunk else raw
    number = _plain_number(first)
    if number is None:
        return _general(text, default_region)
    plain = [number]
    stripped = first.lstrip("([ ")
    if stripped.startswith("00") and not stripped.startswith("000"):
        number = _plain_number("+" + stripped[2:])
        if number is None:
            return _general(text, default_region)
        plain.append(number)
    region = norm._phone_region(default_region)
    try:
        for number in plain:
            try:
                code, nsn = _parse(number, region)
            except _NotANumber:
                continue
            if _valid(code, nsn):
                return f"+{code}{nsn}"
    except _Unsupported:
        return _general(text, default_region)
    return None


def _general(text: str, default_region: str | None) -> str | None:
    e164, valid = norm.phone_e164(text, default_region)
    return e164 if valid else None
