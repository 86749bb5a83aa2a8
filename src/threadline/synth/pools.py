"""Per-country pools of names and addresses drawn once from Faker.

Faker costs tens of microseconds a call; drawing every field of 100k people through it would dominate the run.
Pools sized to the country's share keep the speed and still give realistic namesakes (two unrelated people with
the same common name), which resolution must not merge.
"""

from __future__ import annotations

from dataclasses import dataclass

from faker import Faker

from threadline.synth.countries import Country
from threadline.synth.translit import to_latin


@dataclass(frozen=True, slots=True)
class Name:
    native: str
    latin: str  # the person's usual Latin spelling (equal to native for Latin scripts)


@dataclass(frozen=True, slots=True)
class Address:
    street: str
    city: str
    postcode: str


@dataclass(slots=True)
class CountryPool:
    country: Country
    given_male: list[Name]
    given_female: list[Name]
    family_male: list[Name]
    family_female: list[Name]
    addresses: list[Address]
    email_domains: list[str]
    companies: list[str]


def _latin(text: str, country: Country) -> str:
    latin = to_latin(text, country.script)
    if country.script not in ("Latin", "Cyrillic", "Greek"):
        latin = " ".join(w.replace("'", "").capitalize() for w in latin.split())
    return latin


def build_pool(country: Country, seed: int, people: int) -> CountryPool:
    """Draw a pool for ``country`` sized to about ``people`` members, deterministically from ``seed``."""
    fake = Faker(country.locale)
    fake.seed_instance(seed)
    n_names = max(20, min(600, 20 + people // 3))
    n_addr = max(20, min(800, 20 + people // 2))

    def names(kind: str, n: int) -> list[Name]:
        out: list[Name] = []
        for _ in range(n):
            if country.locale == "ja_JP":
                pair = (
                    fake.last_name_pair()
                    if kind.startswith("last")
                    else getattr(fake, f"first_name_{kind.split('_')[1]}_pair")()
                )
                out.append(Name(pair[0], pair[2]))
                continue
            native = str(
                getattr(
                    fake,
                    {
                        "first_male": "first_name_male",
                        "first_female": "first_name_female",
                        "last_male": "last_name_male",
                        "last_female": "last_name_female",
                    }[kind],
                )()
            )
            out.append(Name(native, _latin(native, country)))
        return out

    given_male = names("first_male", n_names)
    given_female = names("first_female", n_names)
    family_male = names("last_male", n_names)
    # Where family names are gendered (Russian, Polish, Greek...), Faker's male and female lists are parallel
    # enough; spouses take the form matching their own gender at household build time.
    family_female = names("last_female", n_names)
    addresses = [
        Address(str(fake.street_address()).replace("\n", " "), str(fake.city()), str(fake.postcode()))
        for _ in range(n_addr)
    ]
    domains = sorted({str(fake.free_email_domain()) for _ in range(30)})
    companies = sorted({str(fake.company()) for _ in range(40)})
    return CountryPool(country, given_male, given_female, family_male, family_female, addresses, domains, companies)
