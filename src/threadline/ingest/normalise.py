"""Normalised forms that sit beside each verbatim value, never in its place.

Every function here is pure, cheap and total: it accepts any ``str`` and answers with a value, a flagged result
or ``None``; it never raises. Ingest stores the verbatim text and these forms side by side, so a reviewer can
always see what the seized file said and what Threadline made of it. Lookups that repeat across millions of rows
(countries, month names, phone numbers, names) are cached.

Decisions worth knowing (each function's docstring says more):

- Names fold to lower-case ASCII (anyascii): apostrophes vanish (O'Brien = obrien), hyphens become spaces
  (Meyer-Lansky = meyer lansky), other punctuation becomes a space.
- E-mail ``canonical`` merges only what a provider documents as one mailbox (gmail dots and +tags, googlemail,
  +tags at Microsoft, Apple, Proton, Fastmail, Yandex, Zoho, -tags at Yahoo). Unknown domains keep their +tags.
- Two-digit years resolve to the latest year not after the current year (``05`` → 2005, ``85`` → 1985).
- Undecided numeric dates read day first (most of the world writes DMY) and are flagged ``ambiguous``.
"""

from __future__ import annotations

import gettext
import ipaddress
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache

import phonenumbers
import pycountry
from anyascii import anyascii

__all__ = [
    "IP",
    "DateOrderVote",
    "Email",
    "ParsedDate",
    "Phone",
    "PostalCode",
    "countries_consistent",
    "find_emails",
    "find_phones",
    "name_key",
    "normalise_amount",
    "normalise_country",
    "normalise_currency",
    "normalise_email",
    "normalise_ip",
    "normalise_national_id",
    "normalise_phone",
    "normalise_postal_code",
    "normalise_username",
    "parse_date",
    "split_full_name",
]

# Zero-width characters, soft hyphens and byte-order marks hide in exported spreadsheets and break equality.
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff\x00-\x1f\x7f-\x9f]")
_APOSTROPHES = re.compile("['’‘`´ʼʻ]")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


def _clean(text: str) -> str:
    """NFKC with invisible and control characters removed: the first step of every normaliser."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))


# --------------------------------------------------------------------------------------------------- names


@lru_cache(maxsize=1 << 18)  # a million customers bring a hundred thousand distinct names and more
def name_key(text: str) -> str:
    """The matching form of a name: lower-case ASCII words separated by single spaces.

    NFKC, transliteration to Latin with anyascii (Юрий → yuriy, Ελένη → eleni, 山田 → shantian; accents drop),
    casefold. Apostrophes are deleted so O'Brien, O’Brien and OBrien agree; hyphens and all other punctuation
    become spaces so "Meyer-Lansky" and "Meyer Lansky" agree. Digits are kept. Empty for text without letters.
    """
    folded = _clean(text)
    if not folded.isascii():
        folded = anyascii(folded)
    folded = _APOSTROPHES.sub("", folded.casefold())
    return _NOT_ALNUM.sub(" ", folded).strip()


_TITLES = _word_set(
    "mr mrs ms miss mx dr prof sir madam herr frau fr hr m mme mlle monsieur madame sr sra srta don dona "
    "sig sigra dhr mevr pan pani ing dipl"
)
_SUFFIXES = _word_set("jr sr ii iii iv phd md esq")
_PARTICLES = _word_set("van von der den de del della di da das dos du la le ten ter zu al el bin ibn bint mac st saint")
_PATRONYMIC = re.compile(r"(?:вич|вна|ична|ьич|оглы|кызы)$", re.IGNORECASE)
_CYRILLIC = re.compile("[\u0400-\u04ff]")


def split_full_name(text: str) -> tuple[str | None, str | None]:
    """Best-effort (given, family) from a whole name, verbatim words kept (run name_key on them to match).

    - "Family, Given" when a comma is present.
    - Russian order "Фамилия Имя Отчество": three Cyrillic words ending in a patronymic → (Имя, Фамилия).
    - One word in CAPITALS among mixed-case words is the family name ("MÜLLER Hans", a common European habit).
    - Otherwise the family name starts at a particle (van, von, de, da, al, bin, …) after the first word, or is
      the last word: "Ludwig van Beethoven" → (Ludwig, van Beethoven). Double Spanish surnames are not detected.
    - Courtesy titles (Mr, Dr, Frau, Mme, …) and suffixes (Jr, III) are dropped.
    - A single word is taken as a given name (contact books say "Bob"); nothing usable → (None, None).
    """
    clean = " ".join(_clean(text).split())
    if "," in clean:
        family, _, given = clean.partition(",")
        return _strip_titles(given) or None, _strip_titles(family) or None
    words = _strip_titles(clean).split()
    if not words:
        return None, None
    if len(words) == 1:
        return words[0], None
    if len(words) == 3 and all(_CYRILLIC.search(w) for w in words) and _PATRONYMIC.search(words[2]):
        return words[1], words[0]
    capitals = [i for i, w in enumerate(words) if w.isupper() and len(w) > 1]
    if len(capitals) == 1 and len(words) > 1 and any(not w.isupper() for w in words):
        i = capitals[0]
        return " ".join(words[:i] + words[i + 1 :]) or None, words[i]
    for i in range(1, len(words) - 1):
        if name_key(words[i]) in _PARTICLES:
            return " ".join(words[:i]), " ".join(words[i:])
    return " ".join(words[:-1]), words[-1]


def _strip_titles(text: str) -> str:
    words = text.split()
    while words and name_key(words[0]) in _TITLES and len(words) > 1:
        words.pop(0)
    while words and name_key(words[-1]) in _SUFFIXES and len(words) > 1:
        words.pop()
    return " ".join(words)


# --------------------------------------------------------------------------------------------------- e-mail


@dataclass(frozen=True, slots=True)
class Email:
    """An address as written (cleaned, lower-cased) and the form that identifies the mailbox."""

    value: str
    canonical: str
    local: str
    domain: str  # ASCII (IDNA) form; "" when the text has no "@"
    valid: bool


_ANGLE = re.compile(r"<([^<>]*)>")
_MAILTO = re.compile(r"^mailto:", re.IGNORECASE)
_OBFUSCATED_AT = re.compile(r"\s*[\[({]\s*at\s*[\])}]\s*", re.IGNORECASE)
_OBFUSCATED_DOT = re.compile(r"\s*[\[({]\s*dot\s*[\])}]\s*", re.IGNORECASE)
_EDGE = " \t\"'()[]{},;:<>"
_LOCAL_OK = re.compile(
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~\u0080-\U0010ffff-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~\u0080-\U0010ffff-]+)*$"
)
_PLAIN_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+")
_LABEL_OK = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_TLD_OK = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")

# Providers whose mailboxes ignore a "+tag" after the local part. Domains are matched on their first label so
# country variants (hotmail.de, live.co.uk, yahoo.fr) are covered.
_PLUS_TAG_LABELS = _word_set(
    "gmail googlemail outlook hotmail live msn windowslive icloud me mac protonmail proton pm fastmail yandex ya zoho"
)
# Yahoo's disposable addresses are "base-keyword@yahoo.*"; Yahoo IDs cannot contain "-", so cut at it.
_DASH_TAG_LABELS = _word_set("yahoo ymail rocketmail")
# Domains that are one mailbox system under several names: the provider says the same username reaches it.
# fmt: off
_DOMAIN_ALIASES = {
    "googlemail.com": "gmail.com", "me.com": "icloud.com", "mac.com": "icloud.com", "protonmail.ch": "protonmail.com",
    "proton.me": "protonmail.com", "pm.me": "protonmail.com", "ya.ru": "yandex.ru", "yandex.com": "yandex.ru",
    "yandex.by": "yandex.ru", "yandex.kz": "yandex.ru", "yandex.ua": "yandex.ru",
}
# fmt: on


def _email_text(text: str) -> str:
    """The address part of a cell: display names, angle brackets, mailto: and ?query removed."""
    s = _clean(text).strip()
    for _ in range(len(s) + 1):  # each pass only removes wrapping, so this reaches the fixed point
        before = s
        brackets = _ANGLE.findall(s)
        if brackets:
            s = next((b for b in reversed(brackets) if "@" in b), brackets[-1])
        s = _OBFUSCATED_DOT.sub(".", _OBFUSCATED_AT.sub("@", s))
        s = _MAILTO.sub("", s.strip(_EDGE.replace(":", ""))).split("?", 1)[0].strip(_EDGE)
        if any(c.isspace() for c in s):
            tokens = [t for t in s.split() if "@" in t]
            s = tokens[-1].strip(_EDGE) if tokens else " ".join(s.split())
        s = s.rstrip(".")
        if s == before:
            break
    return s.lower()


def _ascii_domain(domain: str) -> str | None:
    if domain.isascii():
        return domain
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None


def _email_syntax_ok(local: str, domain: str) -> bool:
    if not local or len(local) > 64 or not domain or len(domain) > 253:
        return False
    if not _LOCAL_OK.match(local):
        return False
    return _domain_ok(domain)


@lru_cache(maxsize=8192)
def _domain_ok(domain: str) -> bool:
    labels = domain.split(".")
    return len(labels) >= 2 and all(_LABEL_OK.match(label) for label in labels) and bool(_TLD_OK.match(labels[-1]))


def _canonical_local(local: str, domain: str) -> str:
    label = domain.split(".", 1)[0]
    if label in _PLUS_TAG_LABELS:
        local = local.split("+", 1)[0] or local
    elif label in _DASH_TAG_LABELS:
        local = local.split("-", 1)[0] or local
    if domain == "gmail.com":
        local = local.replace(".", "") or local
    return local


def normalise_email(text: str) -> Email | None:
    """Parse an address from a cell; None when nothing remains after cleaning.

    ``value`` is the address as written, lower-cased, without display name, ``mailto:``, angle brackets or
    "[at]"/"(dot)" obfuscation. ``domain`` is IDNA-encoded (ASCII) when possible, so Unicode and punycode
    spellings meet in ``canonical``. Text without "@" still answers, flagged ``valid=False``, domain "".
    """
    # A plain address (the usual cell) is what _email_text would make of it, lower-cased; skip its cleaning.
    value = text.lower() if _PLAIN_EMAIL.fullmatch(text) and text[-1] != "." else _email_text(text)
    if not value:
        return None
    local, at, domain = value.rpartition("@")
    if not at:
        return Email(value=value, canonical=value, local=value, domain="", valid=False)
    ascii_domain = _ascii_domain(domain)
    if ascii_domain is None:
        return Email(value=value, canonical=value, local=local, domain=domain, valid=False)
    mailbox_domain = _DOMAIN_ALIASES.get(ascii_domain, ascii_domain)
    canonical = f"{_canonical_local(local, mailbox_domain)}@{mailbox_domain}"
    return Email(
        value=value, canonical=canonical, local=local, domain=ascii_domain, valid=_email_syntax_ok(local, ascii_domain)
    )


_EMAIL_IN_TEXT = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")


def find_emails(text: str) -> list[str]:
    """Valid addresses in free text (message bodies, notes), as ``Email.value``, first occurrence order."""
    found: dict[str, None] = {}
    for match in _EMAIL_IN_TEXT.finditer(_clean(text)):
        email = normalise_email(match.group(0).strip("."))
        if email is not None and email.valid:
            found.setdefault(email.value, None)
    return list(found)


# --------------------------------------------------------------------------------------------------- phones


@dataclass(frozen=True, slots=True)
class Phone:
    """A phone number as written and, when phonenumbers can read it, its E.164 form."""

    raw: str
    e164: str | None  # set for valid numbers, and for invalid ones that are still a possible length
    valid: bool
    region: str | None
    kind: str | None
    extension: str | None = None


_PHONE_KINDS = {
    phonenumbers.PhoneNumberType.FIXED_LINE: "fixed",
    phonenumbers.PhoneNumberType.MOBILE: "mobile",
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_or_mobile",
    phonenumbers.PhoneNumberType.TOLL_FREE: "toll_free",
    phonenumbers.PhoneNumberType.PREMIUM_RATE: "premium_rate",
    phonenumbers.PhoneNumberType.SHARED_COST: "shared_cost",
    phonenumbers.PhoneNumberType.VOIP: "voip",
    phonenumbers.PhoneNumberType.PERSONAL_NUMBER: "personal",
    phonenumbers.PhoneNumberType.PAGER: "pager",
    phonenumbers.PhoneNumberType.UAN: "uan",
    phonenumbers.PhoneNumberType.VOICEMAIL: "voicemail",
}
_TRUNK_IN_INTERNATIONAL = re.compile(r"^(\+\d{1,3})\s*[(\[]0[)\]]")
_SUPPORTED_REGIONS = frozenset(phonenumbers.SUPPORTED_REGIONS)
_MIN_POSSIBLE_DIGITS = 6


@lru_cache(maxsize=512)
def _phone_region(default_region: str | None) -> str | None:
    if not default_region:
        return None
    region = default_region.strip().upper()
    if len(region) != 2:
        region = normalise_country(default_region) or ""
    return region if region in _SUPPORTED_REGIONS else None


def _parse_phone(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    except Exception:  # phonenumbers is not total on arbitrary Unicode; a cell must never stop an ingest
        return None


@lru_cache(maxsize=65536)
def normalise_phone(text: str, default_region: str | None) -> Phone | None:
    """Read a phone number, national numbers in ``default_region`` (the record's country, code or name).

    Tries the text as written, then with a leading "00" read as "+" (an international number written from a
    country whose exit code is not 00), and drops a "(0)" trunk digit after a country code. The first valid
    reading wins; if none is valid the first readable one is kept with ``valid=False`` (``e164`` only when its
    length is possible). None when the text has no digit.
    """
    raw = " ".join(_clean(text).split())
    if not any(c.isdigit() for c in raw):
        return None
    region = _phone_region(default_region)
    candidates = [_TRUNK_IN_INTERNATIONAL.sub(r"\1 ", raw)]
    stripped = candidates[0].lstrip("([ ")
    if stripped.startswith("00") and not stripped.startswith("000"):
        candidates.append("+" + stripped[2:])
    first: phonenumbers.PhoneNumber | None = None
    for candidate in candidates:
        number = _parse_phone(candidate, region)
        if number is None:
            continue
        if phonenumbers.is_valid_number(number):
            return _phone(raw, number, valid=True)
        first = first or number
    if first is None:
        return Phone(raw=raw, e164=None, valid=False, region=None, kind=None)
    return _phone(raw, first, valid=False)


def _phone(raw: str, number: phonenumbers.PhoneNumber, *, valid: bool) -> Phone:
    # A "possible" number needs enough digits to identify a line; phonenumbers calls "+49 12" possible.
    possible = valid or (
        phonenumbers.is_possible_number(number)
        and len(phonenumbers.national_significant_number(number)) >= _MIN_POSSIBLE_DIGITS
    )
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) if possible else None
    region = phonenumbers.region_code_for_number(number) if valid else None
    kind = _PHONE_KINDS.get(phonenumbers.number_type(number)) if valid else None
    return Phone(
        raw=raw,
        e164=e164,
        valid=valid,
        region=region if region and region != "ZZ" else None,
        kind=kind,
        extension=number.extension or None,
    )


def _valid(number: phonenumbers.PhoneNumber) -> bool:
    """is_valid_number, trying the country code's main region first: checking one region is much cheaper
    than phonenumbers' search through every region sharing the code (+1 has 25)."""
    main = phonenumbers.region_code_for_country_code(number.country_code or 0)
    if main != "ZZ" and phonenumbers.is_valid_number_for_region(number, main):
        return True
    return bool(phonenumbers.is_valid_number(number))


@lru_cache(maxsize=65536)
def phone_e164(text: str, default_region: str | None) -> tuple[str | None, bool]:
    """(E.164 or None, valid) — what ingest stores, without the region and line-type lookups of
    `normalise_phone`, which cost more than the parse itself."""
    raw = " ".join(_clean(text).split())
    if not any(c.isdigit() for c in raw):
        return None, False
    region = _phone_region(default_region)
    candidates = [_TRUNK_IN_INTERNATIONAL.sub(r"\1 ", raw)]
    stripped = candidates[0].lstrip("([ ")
    if stripped.startswith("00") and not stripped.startswith("000"):
        candidates.append("+" + stripped[2:])
    for candidate in candidates:
        number = _parse_phone(candidate, region)
        if number is not None and _valid(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), True
    phone = normalise_phone(text, default_region)
    return (phone.e164 if phone else None), False


def find_phones(text: str, default_region: str | None) -> list[str]:
    """Valid phone numbers in free text as E.164, first occurrence order (phonenumbers' VALID leniency)."""
    region = _phone_region(default_region)
    cleaned = _clean(text)
    if region is None and "+" not in cleaned:
        # Without a region only numbers written with their country code (+44 ...) can be read, and NFKC has
        # turned every other plus sign into "+": a body without one holds none (most bodies; the matcher is slow).
        return []
    found: dict[str, None] = {}
    try:
        for match in phonenumbers.PhoneNumberMatcher(cleaned, region, leniency=phonenumbers.Leniency.VALID):
            found.setdefault(phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164), None)
    except Exception:  # see _parse_phone: a message body must never stop an ingest
        pass
    return list(found)


# --------------------------------------------------------------------------------------------------- dates


@dataclass(frozen=True, slots=True)
class ParsedDate:
    """A date as ISO text at the precision the source gave (``1975-03-03``, ``1975-03`` or ``1975``)."""

    iso: str
    precision: str  # "day" | "month" | "year"
    ambiguous: bool = False  # day and month could be swapped and no order was decided

    @property
    def as_date(self) -> date | None:
        return date.fromisoformat(self.iso) if self.precision == "day" else None


_ORDERS = frozenset({"DMY", "MDY", "YMD"})
_MIN_YEAR, _MAX_YEAR = 1000, 2999  # outside: placeholders (0001, 9999) and typos, not dates
# Two-digit years: the latest year not after this one, so a birth date is never in the future.
TWO_DIGIT_YEAR_PIVOT = date.today().year % 100

_TIME = (
    r"(?:[T\s,]+\d{1,2}[:h.]\d{2}(?:[:.]\d{2}(?:[.,]\d+)?)?\s*(?:[ap]\.?m\.?)?\s*(?:z|utc|gmt|[+-]\d{2}(?::?\d{2})?)?)?"
)
_NUMERIC_DATE = re.compile(r"^(\d{1,4})([./\-\s])(\d{1,2})\2(\d{1,4})\.?" + _TIME + r"$", re.IGNORECASE)
_YEAR_MONTH = re.compile(r"^(\d{4})[./\-](\d{1,2})$")
_MONTH_YEAR = re.compile(r"^(\d{1,2})[./\-\s](\d{4})$")
_YEAR = re.compile(r"^(\d{4})$")
_COMPACT = re.compile(r"^(\d{8})$")
_EXCEL = re.compile(r"^(\d{1,7})(?:\.\d+)?$")
_TIME_ANYWHERE = re.compile(r"\b\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[ap]\.?m\.?)?", re.IGNORECASE)
_DATE_TOKENS = re.compile(r"[a-z]+|\d+")

_MONTH_WORDS: dict[int, str] = {
    1: "january jan januar jaenner janner jan janvier janv enero ene gennaio gen januari janeiro styczen stycznia sty "
    "январь января янв",
    2: "february feb februar feber fevrier fevr fev febrero febbraio februari fevereiro luty lutego lut "
    "февраль февраля фев",
    3: "march mar marz maerz mrz mars marzo maart mrt marco marzec marca март марта мар",
    4: "april apr avril avr abril abr aprile kwiecien kwietnia kwi апрель апреля апр",
    5: "may mai mayo maggio mag mei maio maj maja май мая",
    6: "june jun juni juin junio giugno giu junho czerwiec czerwca cze июнь июня июн",
    7: "july jul juli juillet juil julio luglio lug julho lipiec lipca lip июль июля июл",
    8: "august aug aout agosto ago augustus sierpien sierpnia sie август августа авг",
    9: "september sep sept septembre septiembre setiembre set settembre setembro wrzesien wrzesnia wrz "
    "сентябрь сентября сен сент",
    10: "october oct oktober okt octobre octubre ottobre ott outubro out pazdziernik pazdziernika paz "
    "октябрь октября окт",
    11: "november nov novembre noviembre novembro listopad listopada lis ноябрь ноября ноя",
    12: "december dec dezember dez decembre diciembre dic dicembre dezembro grudzien grudnia gru декабрь декабря дек",
}
_DATE_FILLERS = (
    "de del of the le am den der im en el r roku g goda god st nd rd th er e o a go h "
    "monday tuesday wednesday thursday friday saturday sunday mon tue wed thu fri sat sun "
    "montag dienstag mittwoch donnerstag freitag samstag sonnabend sonntag "
    "lundi mardi mercredi jeudi vendredi samedi dimanche lunes martes miercoles jueves viernes sabado domingo "
    "lunedi martedi mercoledi giovedi venerdi domenica maandag dinsdag woensdag donderdag vrijdag zaterdag zondag "
    "segunda terca quarta quinta sexta feira poniedzialek wtorek sroda czwartek piatek sobota niedziela "
    "понедельник вторник среда четверг пятница суббота воскресенье utc gmt cet cest z"
)


def _fold_words(words: str) -> set[str]:
    return {name_key(w) for w in words.split()}


_MONTHS: dict[str, int] = {word: month for month, words in _MONTH_WORDS.items() for word in _fold_words(words)}
_FILLERS = frozenset(_fold_words(_DATE_FILLERS)) - set(_MONTHS)


def _year(digits: str) -> int:
    year = int(digits)
    if len(digits) <= 2:
        year += 2000 if year <= TWO_DIGIT_YEAR_PIVOT else 1900
    return year


def _day(year: int, month: int, day: int, ambiguous: bool = False) -> ParsedDate | None:
    if not _MIN_YEAR <= year <= _MAX_YEAR:
        return None
    try:
        return ParsedDate(date(year, month, day).isoformat(), "day", ambiguous)
    except ValueError:
        return None


def _month(year: int, month: int) -> ParsedDate | None:
    if _MIN_YEAR <= year <= _MAX_YEAR and 1 <= month <= 12:
        return ParsedDate(f"{year:04d}-{month:02d}", "month")
    return None


def _day_month_year(first: int, second: int, year: int, order: str | None) -> ParsedDate | None:
    """DMY or MDY: the value decides when one part is over 12, else the order, else day first (ambiguous)."""
    if first > 12 >= second:
        return _day(year, second, first)
    if second > 12 >= first:
        return _day(year, first, second)
    if order == "MDY":
        return _day(year, first, second)
    if order == "DMY":
        return _day(year, second, first)
    return _day(year, second, first, ambiguous=first != second)


def parse_date(text: str, order: str | None = None, *, excel_serial: bool = False) -> ParsedDate | None:
    """Parse a date cell; None when it is not a possible date (31.02., years outside 1000-2999, free text).

    ``order`` ("DMY", "MDY", "YMD", usually from DateOrderVote) settles numeric dates whose first two parts
    are both ≤ 12; without it they read day-first and are flagged ``ambiguous``. A value that is only possible
    one way (13/04/1975) is read that way whatever the order. Year-first forms (ISO, 1975/03/04) are never
    ambiguous. Times and zones after a date are ignored without conversion (the date as written is kept).
    Month names in en, de, fr, es, it, nl, pt, pl, ru (with genitive and abbreviated forms) are understood.
    ``excel_serial`` reads a bare number as an Excel (1900 system) day count; off by default because a number
    in a date column is more often a mistake than a serial. Even then four digits are a year and eight a
    compact date (a serial that small or that large is not a plausible date of birth or order).
    """
    s = " ".join(_clean(text).split()).casefold()
    if not s or len(s) > 64:
        return None
    order = order.upper() if order and order.upper() in _ORDERS else None
    if m := _NUMERIC_DATE.match(s):
        return _numeric_date(m.group(1), m.group(3), m.group(4), order)
    if m := _YEAR_MONTH.match(s):
        return _month(int(m.group(1)), int(m.group(2)))
    if m := _MONTH_YEAR.match(s):
        return _month(int(m.group(2)), int(m.group(1)))
    if m := _YEAR.match(s):
        year = int(m.group(1))
        return ParsedDate(f"{year:04d}", "year") if _MIN_YEAR <= year <= _MAX_YEAR else None
    if m := _COMPACT.match(s):
        digits = m.group(1)
        compact = _day(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
        return compact or _day_month_year(int(digits[:2]), int(digits[2:4]), int(digits[4:]), order)
    if excel_serial and (m := _EXCEL.match(s)):
        return _excel_date(int(m.group(1)))
    return _named_month_date(s)


def _numeric_date(a: str, b: str, c: str, order: str | None) -> ParsedDate | None:
    if len(a) == 4:
        return _day(int(a), int(b), int(c)) if len(c) <= 2 else None
    if len(a) > 2 or len(c) == 3:
        return None
    if order == "YMD" and len(c) <= 2:
        return _day(_year(a), int(b), int(c))
    return _day_month_year(int(a), int(b), _year(c), order)


@lru_cache(maxsize=8192)
def _named_month_date(s: str) -> ParsedDate | None:
    tokens = _DATE_TOKENS.findall(name_key(_TIME_ANYWHERE.sub(" ", s)))
    months = [_MONTHS[t] for t in tokens if t in _MONTHS]
    numbers = [t for t in tokens if t.isdigit()]
    if len(months) != 1 or any(not t.isdigit() and t not in _MONTHS and t not in _FILLERS for t in tokens):
        return None
    month = months[0]
    if len(numbers) == 1:
        return _month(int(numbers[0]), month) if len(numbers[0]) == 4 else None
    if len(numbers) != 2 or any(len(n) > 4 for n in numbers):
        return None
    four = [n for n in numbers if len(n) == 4]
    if len(four) == 1:
        year_digits = four[0]
        day_digits = numbers[1] if numbers[0] == year_digits else numbers[0]
    else:
        day_digits, year_digits = numbers
    if len(day_digits) > 2 or len(year_digits) == 3:
        return None
    return _day(_year(year_digits), month, int(day_digits))


_EXCEL_EPOCH = date(1899, 12, 30)


def _excel_date(serial: int) -> ParsedDate | None:
    """Excel's 1900 system counts the non-existent 1900-02-29 as day 60; days before it are one off."""
    if serial < 1 or serial == 60 or serial > 2958465:
        return None
    day = _EXCEL_EPOCH + timedelta(days=serial + (1 if serial < 60 else 0))
    return _day(day.year, day.month, day.day)


class DateOrderVote:
    """Decides a column's day/month order from all its values, because one value rarely can.

    A value whose first part is over 12 votes DMY, second part over 12 votes MDY, a four-digit first part
    votes YMD. ``decide`` answers (order, ambiguous): the only order voted for → not ambiguous; conflicting
    DMY/MDY votes → the majority, ambiguous unless it holds at least 90% of the votes (a few typed-in swaps
    must not cast doubt on a whole column; the values that contradict it can only be read one way anyway);
    a tie → None; YMD only when every numeric value was year-first; no evidence → (None, True).
    """

    __slots__ = ("undecided", "votes")

    def __init__(self) -> None:
        self.votes: Counter[str] = Counter()
        self.undecided = 0

    def observe(self, text: str) -> None:
        m = _NUMERIC_DATE.match(" ".join(_clean(text).split()))
        if m is None:
            return
        a, b = m.group(1), m.group(3)
        if len(a) == 4:
            self.votes["YMD"] += 1
        elif len(a) <= 2 and int(a) > 12 >= int(b):
            self.votes["DMY"] += 1
        elif len(a) <= 2 and int(b) > 12 >= int(a):
            self.votes["MDY"] += 1
        else:
            self.undecided += 1

    def decide(self) -> tuple[str | None, bool]:
        dmy, mdy = self.votes["DMY"], self.votes["MDY"]
        if dmy and mdy:
            if dmy == mdy:
                return None, True
            order = "DMY" if dmy > mdy else "MDY"
            return order, max(dmy, mdy) < 0.9 * (dmy + mdy)
        if dmy or mdy:
            return ("DMY" if dmy else "MDY"), False
        if self.votes["YMD"] and not self.undecided:
            return "YMD", False
        return None, True


# --------------------------------------------------------------------------------------------------- countries

_COUNTRY_LANGUAGES = _word_set(
    "de fr es it nl pt pt_BR pl ru uk el tr sv cs ja zh_CN zh_TW ko ar da "
    "nb_NO fi hu ro bg hr sr sk sl lt lv et he hi th vi id ca"
)

# Names and codes people write that ISO 3166-1 and its translations do not (or that translations make ambiguous).
# fmt: off
_COUNTRY_ALIASES: dict[str, str] = {
    "UK": "GB", "EL": "GR", "XK": "XK", "Kosovo": "XK", "Great Britain": "GB", "Britain": "GB", "England": "GB",
    "Scotland": "GB", "Wales": "GB", "Northern Ireland": "GB", "Großbritannien": "GB", "England (UK)": "GB",
    "Grande-Bretagne": "GB", "Angleterre": "GB", "Écosse": "GB", "Inglaterra": "GB", "Gran Bretaña": "GB",
    "Gran Bretagna": "GB", "Inghilterra": "GB", "Groot-Brittannië": "GB", "Engeland": "GB", "Anglia": "GB",
    "Szkocja": "GB", "Schottland": "GB", "Великобритания": "GB", "Англия": "GB", "Шотландия": "GB", "USA": "US",
    "U.S.A.": "US", "U.S.": "US", "United States": "US", "America": "US", "Amerika": "US", "EE.UU.": "US",
    "EEUU": "US", "Stati Uniti d'America": "US", "США": "US", "Америка": "US", "Holland": "NL",
    "The Netherlands": "NL", "Holanda": "NL", "Hollande": "NL", "Olanda": "NL", "Голландия": "NL", "Russia": "RU",
    "Россия": "RU", "Russland": "RU", "Russie": "RU", "Rusia": "RU", "Rosja": "RU", "Rússia": "RU", "Росія": "RU",
    "South Korea": "KR", "Korea": "KR", "Südkorea": "KR", "Corée du Sud": "KR", "Corea del Sur": "KR",
    "Zuid-Korea": "KR", "Korea Południowa": "KR", "Южная Корея": "KR", "Coreia do Sul": "KR", "North Korea": "KP",
    "Nordkorea": "KP", "Северная Корея": "KP", "Czech Republic": "CZ", "Czechia": "CZ", "Tschechien": "CZ",
    "Tschechische Republik": "CZ", "Чехия": "CZ", "Turkey": "TR", "Türkiye": "TR", "Türkei": "TR", "Turquie": "TR",
    "Turquía": "TR", "Турция": "TR", "Macedonia": "MK", "North Macedonia": "MK", "Mazedonien": "MK",
    "Македония": "MK", "Ivory Coast": "CI", "Côte d'Ivoire": "CI", "Elfenbeinküste": "CI", "Burma": "MM",
    "Swaziland": "SZ", "Cape Verde": "CV", "Palestine": "PS", "Vatican": "VA", "Vatican City": "VA", "UAE": "AE",
    "Emirates": "AE", "DRC": "CD", "DR Congo": "CD", "Congo-Kinshasa": "CD", "Congo-Brazzaville": "CG",
    "Brunei": "BN", "Micronesia": "FM", "Republic of Ireland": "IE", "Eire": "IE", "Moldavia": "MD",
    "Byelorussia": "BY", "Белоруссия": "BY", "Беларусь": "BY", "Weißrussland": "BY", "Украина": "UA", "Україна": "UA",
}
# fmt: on
_ALPHA2 = {str(c.alpha_2): str(c.alpha_2) for c in pycountry.countries}
_ALPHA3 = {str(c.alpha_3): str(c.alpha_2) for c in pycountry.countries}
_NUMERIC = {int(c.numeric): str(c.alpha_2) for c in pycountry.countries}
_REGIONAL_INDICATOR_A = 0x1F1E6


def _country_key(text: str) -> str:
    """Country names compared with all spaces removed: "U.S.A." = "usa", "SouthKorea" = "South Korea"."""
    return name_key(text).replace(" ", "")


def _name_variants(name: str) -> list[str]:
    """A name, its part before an inverting comma ("Korea, Republic of") and parts in and out of brackets."""
    variants = [name]
    bare = re.sub(r"\s*[(（][^)）]*[)）]", "", name)
    variants.append(bare)
    variants.extend(re.findall(r"[(（]([^)）]*)[)）]", name))
    for v in list(variants):
        if "," in v:
            head, _, tail = v.partition(",")
            variants.extend([head, f"{tail} {head}"])
    return variants


@lru_cache(maxsize=1)
def _country_index() -> dict[str, str]:
    """Folded name → alpha-2. Aliases beat English names beat translations; a translated name that two
    countries share (in different languages) is dropped rather than guessed."""
    index: dict[str, str] = {}
    for name, code in _COUNTRY_ALIASES.items():
        if code:
            index[_country_key(name)] = code
    english: list[tuple[str, str]] = []
    for country in pycountry.countries:
        for attr in ("name", "official_name", "common_name"):
            if english_name := getattr(country, attr, None):
                english.append((str(english_name), str(country.alpha_2)))
    for name, code in english:
        for variant in _name_variants(name):
            index.setdefault(_country_key(variant), code)
    translated: dict[str, set[str]] = {}
    for lang in sorted(_COUNTRY_LANGUAGES):
        translation = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang], fallback=True)
        for name, code in english:
            local = translation.gettext(name)
            if local == name:
                continue
            for variant in _name_variants(local):
                translated.setdefault(_country_key(variant), set()).add(code)
    for key, codes in translated.items():
        if len(codes) == 1 and key not in index:
            index[key] = next(iter(codes))
    index.pop("", None)
    return index


@lru_cache(maxsize=8192)
def normalise_country(text: str) -> str | None:
    """ISO 3166-1 alpha-2 from a code (alpha-2, alpha-3, numeric), a flag emoji or a name in many languages.

    Names are matched after folding (case, accents, script, punctuation and spaces ignored), against ISO names,
    pycountry's translations in ~35 languages, and a table of everyday names (UK, USA, England → GB, Holland,
    Russia/Россия, Korea → KR). A two-letter text is read only as a code (plus UK and EL), a three-letter one as
    an alpha-3 first. "Germany (DE)" and "DE - Germany" also work. Kosovo is answered as the user-assigned XK.
    """
    clean = _clean(text).strip()
    if not clean or len(clean) > 80:
        return None
    flags = [ord(c) - _REGIONAL_INDICATOR_A for c in clean if 0 <= ord(c) - _REGIONAL_INDICATOR_A < 26]
    if len(flags) == 2:
        return _ALPHA2.get("".join(chr(ord("A") + f) for f in flags))
    if clean.isdigit():
        return _NUMERIC.get(int(clean)) if len(clean) <= 3 else None
    key = _country_key(clean)
    if len(key) == 2 and key.isalpha() and clean.replace(".", "").strip().isascii():
        upper = key.upper()
        return {"UK": "GB", "EL": "GR", "XK": "XK"}.get(upper) or _ALPHA2.get(upper)
    if len(key) == 3 and key.isalpha() and clean.replace(".", "").isascii() and key.upper() in _ALPHA3:
        return _ALPHA3[key.upper()]
    found = _country_index().get(key)
    if found is not None:
        return found
    for part in re.split(r"[()\[\]/|;]|\s[-–]\s", clean):
        part = part.strip()
        if part and part != clean:
            found = normalise_country(part)
            if found is not None:
                return found
    return None


# --------------------------------------------------------------------------------------------------- postal codes


@dataclass(frozen=True, slots=True)
class PostalCode:
    """A postal code in the country's usual written form, and whether it fits that country's format."""

    value: str
    valid_for_country: bool | None  # None when the country is unknown or not in the table


# Masks: 9 = digit, A = letter, other characters are written as shown. The compact form (no spaces or
# hyphens) must fit a mask exactly; the mask then gives the usual form. Sources: UPU addressing guides.
# fmt: off
_POSTAL_MASKS: dict[str, tuple[str, ...]] = {
    "US": ("99999", "99999-9999"), "DE": ("99999",), "FR": ("99999",), "IT": ("99999",), "ES": ("99999",),
    "FI": ("99999",), "MX": ("99999",), "KR": ("99999",), "TR": ("99999",), "UA": ("99999",), "HR": ("99999",),
    "EE": ("99999",), "TH": ("99999",), "ID": ("99999",), "MY": ("99999",), "NL": ("9999 AA",), "PL": ("99-999",),
    "PT": ("9999-999",), "JP": ("999-9999",), "BR": ("99999-999",), "RU": ("999999",), "BY": ("999999",),
    "KZ": ("999999",), "IN": ("999999",), "CN": ("999999",), "RO": ("999999",), "SG": ("999999",), "SE": ("999 99",),
    "CZ": ("999 99",), "SK": ("999 99",), "GR": ("999 99",), "AU": ("9999",), "AT": ("9999",), "BE": ("9999",),
    "CH": ("9999",), "DK": ("9999",), "NO": ("9999",), "HU": ("9999",), "NZ": ("9999",), "ZA": ("9999",),
    "PH": ("9999",), "BG": ("9999",), "SI": ("9999",), "LU": ("9999",), "LT": ("LT-99999",), "LV": ("LV-9999",),
    "IL": ("9999999",), "AR": ("A9999AAA", "9999"), "IS": ("999",), "CA": ("A9A 9A9",), "GB": (), "IE": (),
}
# fmt: on
# Extra checks the masks cannot express.
_POSTAL_RULES: dict[str, re.Pattern[str]] = {
    "CA": re.compile(r"^[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z] \d[ABCEGHJ-NPRSTV-Z]\d$"),
    "NL": re.compile(r"^[1-9]\d{3} (?!SA|SD|SS)[A-Z]{2}$"),
    "IN": re.compile(r"^[1-9]"),
    "ES": re.compile(r"^(?:0[1-9]|[1-4]\d|5[0-2])"),
}
_GB = re.compile(r"^(GIR|[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]?)(\d[ABD-HJLNP-UW-Z]{2})$")
_IE = re.compile(r"^([AC-FHKNPRTV-Y]\d{2}|D6W)([0-9AC-FHKNPRTV-Y]{4})$")
# Country prefixes written before a code ("D-80331", "CH-8001", "NL-1234 AB"): licence-plate letters or alpha-2.
# fmt: off
_POSTAL_PREFIXES = {
    "DE": ("D", "DE"), "AT": ("A", "AT"), "CH": ("CH",), "FR": ("F", "FR"), "IT": ("I", "IT"), "ES": ("E", "ES"),
    "NL": ("NL",), "BE": ("B", "BE"), "LU": ("L", "LU"), "SE": ("S", "SE"), "NO": ("N", "NO"), "DK": ("DK",),
    "FI": ("FIN", "FI"), "PL": ("PL",), "CZ": ("CZ",), "SK": ("SK",), "HU": ("H", "HU"), "PT": ("P", "PT"),
    "GR": ("GR",), "SI": ("SLO", "SI"), "HR": ("HR",), "BG": ("BG",), "RO": ("RO",), "LT": ("LT",), "LV": ("LV",),
}
# fmt: on
_POSTAL_SEPARATORS = re.compile(r"[\s\-‐–—.]+")
_ASCII_POSTAL_SEPARATORS = str.maketrans("", "", " \t\n\r\x0b\x0c-.")
_POSTAL_PREFIX = re.compile(r"^[A-Z]{1,3}-(?=\d)")


@lru_cache(maxsize=64)
def _mask_pattern(mask: str) -> tuple[re.Pattern[str], str]:
    """A mask as one pattern with a group per run between separators, and a format string that puts the
    separators back between the runs ("99-999": "{0}-{1}")."""
    parts = re.split("([ -])", mask)
    runs, separators = parts[0::2], parts[1::2]
    pieces = {"9": "[0-9]", "A": "[A-Z]"}
    pattern = "".join("(" + "".join(pieces.get(m, re.escape(m)) for m in run) + ")" for run in runs)
    form = "{0}" + "".join(f"{sep}{{{i}}}" for i, sep in enumerate(separators, start=1))
    return re.compile(pattern), form


def _mask_form(compact: str, mask: str) -> str | None:
    """_fit_mask with one regular expression: the same answer, without a loop over characters."""
    pattern, form = _mask_pattern(mask)
    match = pattern.fullmatch(compact)
    return None if match is None else form.format(*match.groups())


def _fit_mask(compact: str, mask: str) -> str | None:
    bare = mask.replace(" ", "").replace("-", "")
    if len(compact) != len(bare):
        return None
    out: list[str] = []
    i = 0
    for m in mask:
        if m in " -":
            out.append(m)
            continue
        c = compact[i]
        i += 1
        if (m == "9" and not c.isdigit()) or (m == "A" and not ("A" <= c <= "Z")) or (m not in "9A" and c != m):
            return None
        out.append(c)
    if not compact.isascii():
        return None
    return "".join(out)


def _postal_form(compact: str, country: str) -> str | None:
    """The usual written form of ``compact`` for ``country``, or None when it does not fit."""
    if country == "GB":
        m = _GB.match(compact)
        return f"{m.group(1)} {m.group(2)}" if m and (m.group(1) != "GIR" or m.group(2) == "0AA") else None
    if country == "IE":
        m = _IE.match(compact)
        return f"{m.group(1)} {m.group(2)}" if m else None
    candidates = [compact]
    for prefix in _POSTAL_PREFIXES.get(country, ()):
        if compact.startswith(prefix) and len(compact) > len(prefix) and compact[len(prefix)].isdigit():
            candidates.append(compact[len(prefix) :])
    for candidate in candidates:
        for mask in _POSTAL_MASKS[country]:
            if mask.startswith(("LT-", "LV-")) and candidate.isdigit():
                candidate = mask[:2] + candidate
            form = _mask_form(candidate, mask)
            rule = _POSTAL_RULES.get(country)
            if form is not None and (rule is None or rule.match(form)):
                return form
    return None


def _postal_compact(text: str) -> str:
    return _POSTAL_SEPARATORS.sub("", _clean(text).upper())


def normalise_postal_code(text: str, country: str | None) -> PostalCode | None:
    """Upper-case a postal code and, for ~50 countries, put it in the usual form ("1234ab" → "1234 AB" for NL,
    "00950" → "00-950" for PL, "sw1a1aa" → "SW1A 1AA" for GB). A country prefix ("D-80331") is dropped.
    ``valid_for_country`` is None when the country is unknown or has no entry in the table. None for empty.
    """
    value = " ".join(_clean(text).upper().split())
    if not value:
        return None
    code = _postal_country(country)
    if code is None:
        return PostalCode(value=value, valid_for_country=None)
    # Cleaned already: only ASCII text is sure to stay the same if cleaned again after upper-casing.
    compact = value.translate(_ASCII_POSTAL_SEPARATORS) if value.isascii() else _postal_compact(value)
    form = _postal_form(compact, code)
    return PostalCode(value=form or value, valid_for_country=form is not None)


def _postal_country(country: str | None) -> str | None:
    if not country:
        return None
    code = country.strip().upper() if len(country.strip()) == 2 else normalise_country(country)
    return code if code in _POSTAL_MASKS else None


@lru_cache(maxsize=16384)
def countries_consistent(text: str) -> list[str]:
    """Alpha-2 codes of the countries in the table whose format ``text`` fits (weak evidence for Locate)."""
    compact = _postal_compact(text)
    if not compact or len(compact) > 12:
        return []
    written = _POSTAL_PREFIX.sub("", " ".join(_clean(text).upper().split()))
    shape = _separator_shape(written) if _POSTAL_SEPARATORS.search(written) else None
    return sorted(
        country
        for country in _POSTAL_MASKS
        if (form := _postal_form(compact, country)) is not None
        and (shape is None or _separator_shape(_POSTAL_PREFIX.sub("", form)) == shape)
    )


def _separator_shape(text: str) -> tuple[int, ...]:
    """Where separators sit among the characters: "00-950" → (2,), so it does not fit DE's "00950"."""
    shape: list[int] = []
    count = 0
    for part in _POSTAL_SEPARATORS.split(text.strip(" -")):
        count += len(part)
        shape.append(count)
    return tuple(shape[:-1])


# --------------------------------------------------------------------------------------------------- IP


@dataclass(frozen=True, slots=True)
class IP:
    """An IP address in compressed form with the address classes that make it useless for locating a person."""

    value: str
    version: int
    flags: tuple[str, ...]
    public: bool


_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_PORT = r"(?::(?:6553[0-5]|655[0-2]\d|65[0-4]\d\d|6[0-4]\d{3}|[1-5]\d{4}|\d{1,4}))?"
_V4_WITH_PORT = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){3})" + _PORT + "$")
_V6_BRACKETED = re.compile(r"^\[([0-9a-fA-F:.]+)(?:%[^\]]*)?\]" + _PORT + "$")


def normalise_ip(text: str) -> IP | None:
    """Read an IPv4 or IPv6 address; None when it is not one.

    Ports ("1.2.3.4:8080", "[2001:db8::1]:443") and IPv6 zone ids ("%eth0") are dropped; zero-padded IPv4
    octets ("010.001.002.003", a log-file habit) are read as decimal. Flags come from ``ipaddress`` and overlap
    (a loopback address is also "private"); an IPv4-mapped IPv6 address is flagged as its IPv4 address.
    ``public`` means globally routable unicast outside carrier-grade NAT: the only addresses worth locating.
    """
    s = _clean(text).strip()
    if not s or len(s) > 64:
        return None
    if m := _V4_WITH_PORT.match(s):
        s = ".".join(str(int(octet)) for octet in m.group(1).split("."))
    elif m := _V6_BRACKETED.match(s):
        s = m.group(1)
    else:
        s = s.split("%", 1)[0]
    try:
        address = ipaddress.ip_address(s)
    except ValueError:
        return None
    probe: ipaddress.IPv4Address | ipaddress.IPv6Address = address
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        probe = address.ipv4_mapped
    flags = tuple(
        name
        for name, on in (
            ("private", probe.is_private),
            ("reserved", probe.is_reserved),
            ("loopback", probe.is_loopback),
            ("link_local", probe.is_link_local),
            ("multicast", probe.is_multicast),
            ("unspecified", probe.is_unspecified),
            ("cgnat", isinstance(probe, ipaddress.IPv4Address) and probe in _CGNAT),
        )
        if on
    )
    public = probe.is_global and not probe.is_multicast and "cgnat" not in flags
    return IP(value=address.compressed, version=address.version, flags=flags, public=public)


# --------------------------------------------------------------------------------------------------- identifiers


def normalise_username(text: str) -> str | None:
    """Casefolded handle without surrounding space or leading "@" (@Bob_99 = bob_99). None if nothing is left."""
    value = unicodedata.normalize("NFKC", _clean(text).strip().lstrip("@").strip().casefold())
    return value or None


_ID_SEPARATORS = re.compile(r"[\s.\-‐‑–—/]+")


def normalise_national_id(text: str) -> str | None:
    """Upper case without spaces, dots, dashes or slashes: "123.456.789-09" = "12345678909" (CPF);
    the slash goes too because Czech and Slovak birth numbers are written "750303/1234"."""
    value = _ID_SEPARATORS.sub("", _clean(text).upper())
    value = _ID_SEPARATORS.sub("", unicodedata.normalize("NFKC", value))  # joins "C" and a stray cedilla
    return value or None


# --------------------------------------------------------------------------------------------------- money

_AMOUNT_NUMBER = re.compile(r"\d(?:[\d.,'’ \u00a0\u202f]*\d)?")
_EVEN_AMOUNT = re.compile(r"[.,][-–—]+(?=\s|$|[^\d])")  # "12,-" and "12,–": German and Swiss for "12.00"
_GROUPED = re.compile(r"^\d{1,3}(?:[.,]\d{3})+$")


def normalise_amount(text: str) -> Decimal | None:
    """A money amount as Decimal, with either decimal convention and any currency sign or code around it.

    When both "," and "." appear the last one is the decimal mark. A single separator followed by exactly three
    digits is a thousands separator ("1,234" = 1234, "1.234" = 1234) unless the whole part is 0 ("0,500");
    repeated separators are thousands and must group by three. Spaces and apostrophes group thousands
    ("1 234,56", "1'234.56"). Negative: leading or trailing "-", or accounting brackets "(12.50)".
    None when there is no number or more than one.
    """
    s = _EVEN_AMOUNT.sub("", _clean(text).strip()).replace("−", "-")
    numbers = _AMOUNT_NUMBER.findall(s)
    if len(numbers) != 1 or len(s) > 64:
        return None
    number = re.sub(r"['’ \u00a0\u202f]", "", numbers[0])
    rest = s.replace(numbers[0], " ", 1)
    negative = "-" in rest or ("(" in rest and ")" in rest)
    commas, dots = number.count(","), number.count(".")
    if commas and dots:
        decimal_mark = "," if number.rfind(",") > number.rfind(".") else "."
        thousands = "." if decimal_mark == "," else ","
        whole, _, fraction = number.rpartition(decimal_mark)
        if decimal_mark in whole or (thousands in fraction):
            return None
        number = whole.replace(thousands, "") + "." + fraction
    elif commas + dots == 1:
        mark = "," if commas else "."
        whole, _, fraction = number.partition(mark)
        number = whole + fraction if len(fraction) == 3 and whole.strip("0") else whole + "." + fraction
    elif commas + dots > 1:
        if not _GROUPED.match(number) or (commas and dots):
            return None
        number = number.replace(",", "").replace(".", "")
    try:
        amount = Decimal(number)
    except InvalidOperation:
        return None
    return -amount if negative else amount


# fmt: off
_CURRENCY_SYMBOLS = {
    "€": "EUR", "$": "USD", "US$": "USD", "£": "GBP", "¥": "JPY", "円": "JPY", "元": "CNY", "₽": "RUB", "zł": "PLN",
    "₴": "UAH", "₹": "INR", "₺": "TRY", "₩": "KRW", "₪": "ILS", "R$": "BRL", "C$": "CAD", "CA$": "CAD", "A$": "AUD",
    "AU$": "AUD", "NZ$": "NZD", "HK$": "HKD", "S$": "SGD", "MX$": "MXN", "Kč": "CZK", "₫": "VND", "฿": "THB",
    "₱": "PHP", "₦": "NGN", "₿": "BTC", "Ξ": "ETH",
}
# fmt: on
# fmt: off
_CURRENCY_WORDS = {
    "euro": "EUR", "euros": "EUR", "evro": "EUR", "dollar": "USD", "dollars": "USD", "dollar us": "USD",
    "dollarov": "USD", "dollara": "USD", "pound": "GBP", "pounds": "GBP", "sterling": "GBP", "pfund": "GBP",
    "funt": "GBP", "yen": "JPY", "yuan": "CNY", "renminbi": "CNY", "rmb": "CNY", "rouble": "RUB", "roubles": "RUB",
    "ruble": "RUB", "rubles": "RUB", "rubel": "RUB", "rubl": "RUB", "rublei": "RUB", "rublia": "RUB", "rublya": "RUB",
    "rub": "RUB", "r": "RUB", "zloty": "PLN", "zlotych": "PLN", "zlote": "PLN", "zl": "PLN", "franken": "CHF",
    "fr": "CHF", "sfr": "CHF", "hryvnia": "UAH", "grivna": "UAH", "hryvnia uah": "UAH", "grn": "UAH", "hrn": "UAH",
    "ft": "HUF", "forint": "HUF", "lei": "RON", "kc": "CZK", "rupee": "INR", "rupees": "INR", "lira": "TRY",
    "tl": "TRY", "real": "BRL", "reais": "BRL", "bitcoin": "BTC", "btc": "BTC", "xbt": "BTC", "ether": "ETH",
    "ethereum": "ETH", "eth": "ETH", "monero": "XMR", "xmr": "XMR", "litecoin": "LTC", "ltc": "LTC", "tether": "USDT",
    "usdt": "USDT",
}
# fmt: on
_CURRENCY_STRIP = re.compile(r"[\d.,'’\s\u00a0\u202f()+\-−]+")


@lru_cache(maxsize=4096)
def normalise_currency(text: str) -> str | None:
    """ISO 4217 code from a code, symbol or name ("€", "zł", "руб.", "Euro", "12 EUR").

    "$" is read as USD and "¥" as JPY (the usual meaning in the seizures seen); "kr" is None (SEK, NOK, DKK
    and ISK all use it). Beyond ISO 4217, the cryptocurrencies distributors take are answered with their
    market tickers (BTC, ETH, XMR, LTC, USDT) because payments in them are evidence too.
    """
    s = _CURRENCY_STRIP.sub(" ", _clean(text)).strip()
    if not s or len(s) > 40:
        return None
    if s in _CURRENCY_SYMBOLS:
        return _CURRENCY_SYMBOLS[s]
    compact = s.replace(" ", "")
    if compact in _CURRENCY_SYMBOLS:
        return _CURRENCY_SYMBOLS[compact]
    if len(compact) == 3 and compact.isascii() and compact.isalpha():
        currency = pycountry.currencies.get(alpha_3=compact.upper())
        if currency is not None:
            return str(currency.alpha_3)
    key = name_key(s)
    if key in _CURRENCY_WORDS:
        return _CURRENCY_WORDS[key]
    try:
        return str(pycountry.currencies.lookup(s).alpha_3)
    except LookupError:
        return None
