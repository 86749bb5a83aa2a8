"""The countries a synthetic seizure spans, heaviest markets first.

The order is fixed so that ``countries=K`` always means the same K countries: small runs stay multi-country and
a larger K only adds smaller markets at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import pycountry


@dataclass(frozen=True, slots=True)
class Country:
    alpha2: str
    locale: str  # the Faker locale people of this country are drawn from
    weight: float  # relative share of customers
    language: str  # ISO 639-1, keys into occupations.yaml
    currency: str
    script: str  # Latin, Cyrillic, Greek, Han, Kana, Hangul, Hebrew, Arabic, Thai, Devanagari, ...


_TABLE: tuple[tuple[str, str, float, str, str, str], ...] = (
    ("US", "en_US", 20, "en", "USD", "Latin"),
    ("GB", "en_GB", 8, "en", "GBP", "Latin"),
    ("DE", "de_DE", 7, "de", "EUR", "Latin"),
    ("CA", "en_CA", 5, "en", "CAD", "Latin"),
    ("AU", "en_AU", 4, "en", "AUD", "Latin"),
    ("FR", "fr_FR", 4, "fr", "EUR", "Latin"),
    ("RU", "ru_RU", 3, "ru", "RUB", "Cyrillic"),
    ("ES", "es_ES", 3, "es", "EUR", "Latin"),
    ("IT", "it_IT", 3, "it", "EUR", "Latin"),
    ("NL", "nl_NL", 3, "nl", "EUR", "Latin"),
    ("PL", "pl_PL", 3, "pl", "PLN", "Latin"),
    ("BR", "pt_BR", 3, "pt", "BRL", "Latin"),
    ("JP", "ja_JP", 2, "ja", "JPY", "Han"),
    ("MX", "es_MX", 2, "es", "MXN", "Latin"),
    ("SE", "sv_SE", 2, "sv", "SEK", "Latin"),
    ("CH", "de_CH", 2, "de", "CHF", "Latin"),
    ("AT", "de_AT", 2, "de", "EUR", "Latin"),
    ("BE", "fr_BE", 2, "fr", "EUR", "Latin"),
    ("GR", "el_GR", 1.5, "el", "EUR", "Greek"),
    ("UA", "uk_UA", 1.5, "uk", "UAH", "Cyrillic"),
    ("KR", "ko_KR", 1.5, "ko", "KRW", "Hangul"),
    ("CN", "zh_CN", 1.5, "zh", "CNY", "Han"),
    ("IE", "en_IE", 1.5, "en", "EUR", "Latin"),
    ("NZ", "en_NZ", 1.5, "en", "NZD", "Latin"),
    ("DK", "da_DK", 1.5, "da", "DKK", "Latin"),
    ("NO", "no_NO", 1.5, "no", "NOK", "Latin"),
    ("FI", "fi_FI", 1.5, "fi", "EUR", "Latin"),
    ("CZ", "cs_CZ", 1.5, "cs", "CZK", "Latin"),
    ("TR", "tr_TR", 1.5, "tr", "TRY", "Latin"),
    ("IL", "he_IL", 1, "he", "ILS", "Hebrew"),
    ("BG", "bg_BG", 1, "bg", "BGN", "Cyrillic"),
    ("TH", "th_TH", 1, "th", "THB", "Thai"),
    ("IN", "hi_IN", 1, "hi", "INR", "Devanagari"),
    ("TW", "zh_TW", 1, "zh", "TWD", "Han"),
    ("PT", "pt_PT", 1, "pt", "EUR", "Latin"),
    ("AR", "es_AR", 1, "es", "ARS", "Latin"),
    ("CL", "es_CL", 1, "es", "CLP", "Latin"),
    ("CO", "es_CO", 1, "es", "COP", "Latin"),
    ("RO", "ro_RO", 1, "ro", "RON", "Latin"),
    ("HU", "hu_HU", 1, "hu", "HUF", "Latin"),
    ("SK", "sk_SK", 1, "sk", "EUR", "Latin"),
    ("HR", "hr_HR", 1, "hr", "EUR", "Latin"),
    ("SI", "sl_SI", 1, "sl", "EUR", "Latin"),
    ("PH", "en_PH", 1, "en", "PHP", "Latin"),
    ("ID", "id_ID", 1, "id", "IDR", "Latin"),
    ("VN", "vi_VN", 1, "vi", "VND", "Latin"),
    ("LT", "lt_LT", 0.7, "lt", "EUR", "Latin"),
    ("LV", "lv_LV", 0.7, "lv", "EUR", "Latin"),
    ("EE", "et_EE", 0.7, "et", "EUR", "Latin"),
    ("SA", "ar_SA", 0.7, "ar", "SAR", "Arabic"),
    ("CY", "el_CY", 0.5, "el", "EUR", "Greek"),
    ("LU", "de_LU", 0.5, "de", "EUR", "Latin"),
    ("IS", "is_IS", 0.5, "is", "ISK", "Latin"),
    ("IR", "fa_IR", 0.5, "fa", "IRR", "Arabic"),
    ("AM", "hy_AM", 0.5, "hy", "AMD", "Armenian"),
    ("GE", "ka_GE", 0.5, "ka", "GEL", "Georgian"),
    ("MK", "mk_MK", 0.5, "mk", "MKD", "Cyrillic"),
    ("BD", "bn_BD", 0.5, "bn", "BDT", "Bengali"),
    ("NG", "en_NG", 0.5, "en", "NGN", "Latin"),
    ("KE", "en_KE", 0.5, "en", "KES", "Latin"),
    ("MT", "mt_MT", 0.4, "mt", "EUR", "Latin"),
    ("AL", "sq_AL", 0.4, "sq", "ALL", "Latin"),
    ("AZ", "az_AZ", 0.4, "az", "AZN", "Latin"),
    ("EG", "ar_EG", 0.4, "ar", "EGP", "Arabic"),
)

COUNTRIES: tuple[Country, ...] = tuple(Country(*row) for row in _TABLE)


def select_countries(k: int) -> tuple[Country, ...]:
    """The first ``k`` countries of the fixed weighted list (at least one, at most all)."""
    if k < 1:
        raise ValueError(f"countries must be at least 1, got {k}")
    return COUNTRIES[: min(k, len(COUNTRIES))]


@cache
def subdivisions(alpha2: str) -> tuple[tuple[str, str], ...]:
    """Leaf ISO 3166-2 subdivisions (code, name) of a country: the level an address names (a US state, a GB
    county, a French department)."""
    subs = list(pycountry.subdivisions.get(country_code=alpha2) or [])  # type: ignore[no-untyped-call]
    parents = {s.parent_code for s in subs if s.parent_code}
    leaves = [s for s in subs if s.code not in parents]
    return tuple(sorted((s.code, s.name) for s in leaves))


@cache
def country_name(alpha2: str) -> str:
    c = pycountry.countries.get(alpha_2=alpha2)
    return str(c.name) if c is not None else alpha2
