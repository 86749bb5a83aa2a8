"""The invented people behind a seizure: who they are, where they live, how they cluster into households.

Everything later (customer rows, orders, mail, payments, uploads) is a view of these people with noise added, and
truth/people.csv is written straight from them.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

from threadline.synth.countries import Country, subdivisions
from threadline.synth.phones import Phone, PhonePlan
from threadline.synth.pools import Address, CountryPool, Name, build_pool
from threadline.synth.translit import ascii_fold, to_latin

REFERENCE_DATE = dt.date(2013, 12, 31)  # the seizure's "today"; never the wall clock, so output is reproducible
FIRST_ORDER_DATE = dt.date(2009, 1, 1)
CHILD_ACCESS_RATE = 0.065


@dataclass(slots=True)
class Person:
    person_id: str
    country: Country
    gender: str  # "M" or "F"
    given: Name
    family: Name
    dob: dt.date
    address: Address
    region_code: str
    region_name: str
    email: str
    phone: Phone
    username: str
    occupation_en: str
    occupation: str
    access_to_children: bool
    employer: str
    household_id: str
    signup_ip: str
    registered: dt.date
    alt_email: str = ""
    landline: Phone | None = None
    office_email: str = ""  # a shared office mailbox this person sometimes gives instead of their own
    producer: bool = False
    order_count: int = 0
    accounts: list[str] = field(default_factory=list)
    first_order_year: int | None = None
    last_order_year: int | None = None


@cache
def occupation_table() -> dict[str, dict[str, dict[str, str]]]:
    text = resources.files("threadline.synth").joinpath("data/occupations.yaml").read_text(encoding="utf-8")
    data: dict[str, dict[str, dict[str, str]]] = yaml.safe_load(text)
    return data


def localise_occupation(role: dict[str, str], language: str, gender: str) -> str:
    """The role in ``language`` ("masc|fem" picks by gender); English when the table lacks the language."""
    text = role.get(language) or role["en"]
    forms = text.split("|")
    return forms[1] if gender == "F" and len(forms) > 1 else forms[0]


_FEMININE_RULES: dict[str, tuple[tuple[str, str], ...]] = {
    "ru": (("ский", "ская"), ("цкий", "цкая"), ("ов", "ова"), ("ев", "ева"), ("ин", "ина"), ("ёв", "ёва")),
    "uk": (("ський", "ська"), ("цький", "цька"), ("ов", "ова"), ("ев", "ева"), ("ін", "іна")),
    "bg": (("ски", "ска"), ("ов", "ова"), ("ев", "ева"), ("ин", "ина")),
    "pl": (("ski", "ska"), ("cki", "cka"), ("dzki", "dzka")),
    "cs": (("ý", "á"), ("ek", "ková"), ("", "ová")),
    "sk": (("ý", "á"), ("", "ová")),
    "el": (("ος", "ου"), ("ης", "η"), ("ας", "α")),
    "lt": (("as", "ienė"), ("is", "ienė")),
    "lv": (("s", "a"),),
}


def feminine_family(name: str, language: str) -> str:
    """The feminine form a wife or daughter bears of a masculine family name, where the language inflects it."""
    for masc, fem in _FEMININE_RULES.get(language, ()):
        if name.endswith(masc) and not name.endswith(fem):
            return name[: len(name) - len(masc)] + fem if masc else name + fem
    return name


def _allocate(total: int, countries: tuple[Country, ...], rng: random.Random) -> list[int]:
    counts = [0] * len(countries)
    rest = total
    if total >= len(countries):
        counts = [1] * len(countries)
        rest = total - len(countries)
    weights = [c.weight for c in countries]
    for i in rng.choices(range(len(countries)), weights=weights, k=rest):
        counts[i] += 1
    return counts


def _ip(country_index: int, rng: random.Random) -> str:
    # A few "home" /8 blocks per country so that IPs carry a weak, consistent country signal.
    first = (11 + country_index * 3 + rng.randrange(3)) % 223 + 1
    if first in (10, 127, 172, 192):
        first += 1
    return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def _date_between(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rng.randrange((end - start).days + 1))


class _Identities:
    """Hands out unique usernames and e-mail addresses (a collision would be a false link between strangers)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.usernames: set[str] = set()
        self.emails: set[str] = set()

    @staticmethod
    @cache
    def _slug(text: str) -> str:
        return "".join(ch for ch in ascii_fold(text).lower() if ch.isalnum())

    def username(self, given: Name, family: Name) -> str:
        g, f = self._slug(given.latin) or "user", self._slug(family.latin) or "x"
        rng = self.rng
        base = rng.choice([f"{g}{f}", f"{g[0]}{f}", f"{g}_{f[:3]}", f"{f}{g[:2]}", f"{g}{rng.randrange(1, 99)}"])
        name = base
        while name in self.usernames:
            name = f"{base}{rng.randrange(10, 9999)}"
        self.usernames.add(name)
        return name

    def email(self, given: Name, family: Name, dob: dt.date, domains: list[str]) -> str:
        g, f = self._slug(given.latin) or "mail", self._slug(family.latin) or "box"
        rng = self.rng
        local = rng.choice([f"{g}.{f}", f"{g}{f}", f"{g[0]}.{f}", f"{f}.{g}", f"{g}{dob.year % 100:02d}", f"{g}_{f}"])
        domain = (
            rng.choice(domains)
            if rng.random() < 0.75
            else rng.choice(["gmail.com", "yahoo.com", "hotmail.com", "outlook.com"])
        )
        addr = f"{local}@{domain}"
        while self._mailbox(addr) in self.emails:
            addr = f"{local}{rng.randrange(1, 999)}@{domain}"
        self.emails.add(self._mailbox(addr))
        return addr

    @staticmethod
    def _mailbox(addr: str) -> str:
        """The mailbox an address reaches: Gmail ignores dots, so "jeremy.smith@" and "jeremysmith@" are one."""
        local, _, domain = addr.partition("@")
        return f"{local.replace('.', '')}@{domain}" if domain in ("gmail.com", "googlemail.com") else addr


def build_people(
    total: int, countries: tuple[Country, ...], seed: int, progress: Any = None
) -> tuple[list[Person], list[CountryPool]]:
    """Draw ``total`` people over ``countries`` in households, with occupations, contacts and accounts."""
    rng = random.Random(f"{seed}:people")
    counts = _allocate(total, countries, rng)
    occupations = occupation_table()
    child_roles = sorted(occupations["child_access"].items())
    ordinary_roles = sorted(occupations["ordinary"].items())
    ids = _Identities(rng)
    people: list[Person] = []
    pools: list[CountryPool] = []
    household_no = 0
    for ci, (country, n) in enumerate(zip(countries, counts, strict=True)):
        if n == 0:
            continue
        pool = build_pool(country, seed * 1000 + ci, n)
        pools.append(pool)
        phones = PhonePlan(country.alpha2, random.Random(f"{seed}:phones:{country.alpha2}"), n)
        subs = subdivisions(country.alpha2)
        made = 0
        while made < n:
            size = min(n - made, rng.choices((1, 2, 3, 4, 5), weights=(72, 16, 7, 4, 1))[0])
            household_no += 1
            hid = f"H{household_no:06d}"
            address = rng.choice(pool.addresses)
            region_code, region_name = rng.choice(subs) if subs else ("", "")
            head_gender = rng.choice("MF")
            family_masc = rng.choice(pool.family_male)
            landline = phones.draw(landline=True) if size > 1 and rng.random() < 0.4 else None
            shared_email = ""
            base_year = rng.randrange(1942, 1990)
            for m in range(size):
                gender = head_gender if m == 0 else rng.choice("MF")
                # A partner who kept their own name, or the household's.
                fam = rng.choice(pool.family_male) if m > 0 and rng.random() < 0.2 else family_masc
                if gender == "F":
                    fam = Name(feminine_family(fam.native, country.language), fam.latin)
                    if fam.native != family_masc.native and country.script != "Latin":
                        fam = Name(fam.native, to_latin(fam.native, country.script))
                    elif country.script == "Latin":
                        fam = Name(fam.native, fam.native)
                given = rng.choice(pool.given_female if gender == "F" else pool.given_male)
                year = base_year + (rng.randrange(-6, 7) if m < 2 else rng.randrange(20, 30))
                year = min(year, 1994)
                dob = dt.date(year, rng.randrange(1, 13), rng.randrange(1, 29))
                if rng.random() < CHILD_ACCESS_RATE:
                    role_en, role = rng.choice(child_roles)
                    access = True
                else:
                    role_en, role = rng.choice(ordinary_roles)
                    access = False
                email = ids.email(given, fam, dob, pool.email_domains)
                if size > 1 and rng.random() < 0.12:
                    shared_email = shared_email or email  # the family mailbox: first member's address
                    email = shared_email
                person = Person(
                    person_id=f"P{len(people) + 1:07d}",
                    country=country,
                    gender=gender,
                    given=given,
                    family=fam,
                    dob=dob,
                    address=address,
                    region_code=region_code,
                    region_name=region_name,
                    email=email,
                    phone=phones.draw(),
                    username=ids.username(given, fam),
                    occupation_en=role_en,
                    occupation=localise_occupation(role, country.language, gender),
                    access_to_children=access,
                    employer=rng.choice(pool.companies),
                    household_id=hid,
                    signup_ip=_ip(ci, rng),
                    registered=_date_between(rng, dt.date(2008, 1, 1), dt.date(2013, 6, 30)),
                    landline=landline,
                )
                if rng.random() < 0.25:
                    person.alt_email = ids.email(given, fam, dob, pool.email_domains)
                people.append(person)
            made += size
        if progress is not None:
            progress("people", len(people), total)
    _assign_office_mailboxes(people, rng)
    _assign_orders(people, rng)
    return people, pools


def _assign_office_mailboxes(people: list[Person], rng: random.Random) -> None:
    """A few big shared mailboxes (an office address many people give), so blocking meets giant blocks."""
    n_boxes = 3
    per_box = max(4, len(people) // 300)
    names = ("info@northgate-logistics.example", "office@meridian-group.example", "kontakt@alpenblick-hotel.example")
    for box in names[:n_boxes]:
        for p in rng.sample(people, min(per_box, len(people))):
            if not p.office_email:
                p.office_email = box


def _assign_orders(people: list[Person], rng: random.Random) -> None:
    """Heavy-tailed order counts: most customers order once or twice, a few order very often."""
    for p in people:
        if rng.random() < 0.1:
            p.order_count = 0
        else:
            # Floor of a Pareto draw (alpha 1.6): a discrete power law with mean about two, capped.
            p.order_count = min(150, int(rng.paretovariate(1.6)))
        n_accounts = 2 if rng.random() < 0.03 else 1
        p.accounts = [""] * n_accounts
