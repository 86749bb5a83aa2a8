"""Countries and their subdivisions, by ISO 3166 code or name (pycountry)."""

from __future__ import annotations

from functools import lru_cache

import pycountry

from threadline.core.errors import InputError

# Codes people use that ISO 3166-1 does not: the UK's own, and the EU's for Greece.
_ALIASES = {"UK": "GB", "EL": "GR"}


@lru_cache(maxsize=4096)
def country_code(value: str) -> str | None:
    """ISO 3166-1 alpha-2 for an alpha-2, alpha-3, numeric code or an English name; None if unknown."""
    text = value.strip()
    if not text:
        return None
    if text.upper() in _ALIASES:
        return _ALIASES[text.upper()]
    try:
        country = pycountry.countries.lookup(text)
    except LookupError:
        return None
    return str(country.alpha_2)


def require_country(value: str, *, file: str | None = None, line: int | None = None) -> str:
    code = country_code(value)
    if code is None:
        raise InputError(f"unknown country {value!r}: use an ISO 3166-1 code such as FR or FRA", file=file, line=line)
    return code


def country_name(alpha_2: str) -> str:
    """The everyday English name ("Bolivia", not "Bolivia, Plurinational State of")."""
    country = pycountry.countries.get(alpha_2=alpha_2)
    if country is None:
        return alpha_2
    return str(getattr(country, "common_name", None) or country.name)


def require_region(value: str, country: str, *, file: str | None = None, line: int | None = None) -> str:
    """An ISO 3166-2 code that belongs to `country` ("DE-BY"; "BY" alone is read within the country)."""
    text = value.strip().upper()
    code = text if "-" in text else f"{country}-{text}"
    subdivision = pycountry.subdivisions.get(code=code)  # type: ignore[no-untyped-call]
    if subdivision is None:
        raise InputError(
            f"unknown region {value!r} for {country}: use an ISO 3166-2 code such as {country}-XX",
            file=file,
            line=line,
        )
    if subdivision.country_code != country:
        raise InputError(f"region {code} is not in {country}", file=file, line=line)
    return str(subdivision.code)


def all_countries() -> list[tuple[str, str]]:
    """Every ISO 3166-1 country as (alpha-2, everyday name), sorted by code."""
    return sorted((str(c.alpha_2), country_name(str(c.alpha_2))) for c in pycountry.countries)
