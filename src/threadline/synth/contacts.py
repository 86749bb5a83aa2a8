"""The distributor's address book (contacts.vcf): customers it knew by nickname, and its business contacts.

Cards are vCard 3.0 with some 4.0 (exported from two different phones). A customer card may carry only a nickname
and a phone number, which is exactly the kind of weak link resolution has to weigh.
"""

from __future__ import annotations

import random
import uuid
from pathlib import Path

from faker import Faker

from threadline.synth.countries import country_name
from threadline.synth.noise import Noise
from threadline.synth.people import Person
from threadline.synth.truth import RecordLog


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace(",", "\\,").replace(";", "\\;")


def _card(version: str, props: list[tuple[str, str]]) -> str:
    lines = ["BEGIN:VCARD", f"VERSION:{version}"]
    lines += [f"{k}:{v}" for k, v in props]
    lines.append("END:VCARD")
    return "\r\n".join(lines) + "\r\n"


def _customer_card(p: Person, noise: Noise, rng: random.Random) -> tuple[str, list[tuple[str, str]]]:
    script = p.country.script
    latin = script != "Latin" and rng.random() < 0.5
    given = noise.given(p.given, script, latin)
    family = noise.family(p.family, script, latin)
    nick = rng.choice([p.username, given, f"{given} {p.address.city}", f"{given[:1]}{family[:1]}".upper()])
    version = "4.0" if rng.random() < 0.15 else "3.0"
    props: list[tuple[str, str]] = []
    alias_only = rng.random() < 0.3
    if alias_only:
        props.append(("FN", _esc(nick)))
        props.append(("N", f"{_esc(nick)};;;;"))
    else:
        props.append(("FN", _esc(f"{given} {family}")))
        props.append(("N", f"{_esc(family)};{_esc(given)};;;"))
    props.append(("NICKNAME", _esc(nick)))
    if rng.random() < 0.8:
        email = noise.email(p.email, p.alt_email, p.office_email)
        props.append(("EMAIL;TYPE=INTERNET" if version == "3.0" else "EMAIL;TYPE=home", email))
    if rng.random() < 0.7:
        tel = noise.phone(p.phone, "international")
        props.append(
            (
                "TEL;TYPE=CELL" if version == "3.0" else "TEL;VALUE=uri;TYPE=cell",
                tel if version == "3.0" else f"tel:{p.phone.e164}",
            )
        )
    if rng.random() < 0.4:
        adr = ";".join(
            _esc(x)
            for x in (
                "",
                "",
                noise.street(p.address.street),
                p.address.city,
                p.region_name,
                p.address.postcode,
                country_name(p.country.alpha2),
            )
        )
        props.append(("ADR;TYPE=HOME" if version == "3.0" else "ADR;TYPE=home", adr))
    if rng.random() < 0.2:
        props.append(("ORG", _esc(p.employer)))
    if rng.random() < 0.2:
        props.append(("TITLE", _esc(p.occupation)))
    if rng.random() < 0.3:
        props.append(
            (
                "NOTE",
                _esc(
                    rng.choice(
                        [
                            f"regular since {p.registered.year}",
                            "pays by transfer",
                            "prefers courier delivery",
                            f"username {p.username}",
                            "ask before shipping to new address",
                        ]
                    )
                ),
            )
        )
    return version, props


def write_contacts(path: Path, people: list[Person], seed: int, log: RecordLog) -> None:
    """About one customer in twelve is in the address book, plus the shop's business contacts."""
    rng = random.Random(f"{seed}:contacts")
    noise = Noise(rng)
    fake = Faker("en_GB")
    fake.seed_instance(seed)
    chosen = [p for p in people if rng.random() < 0.08]
    n_business = max(10, len(people) // 300)
    entries: list[tuple[str, str, list[tuple[str, str]]]] = []
    for p in chosen:
        version, props = _customer_card(p, noise, rng)
        entries.append((p.person_id, version, props))
    for _ in range(n_business):
        company = str(fake.company())
        props = [
            ("FN", _esc(company)),
            ("N", f"{_esc(company)};;;;"),
            ("ORG", _esc(company)),
            ("TEL;TYPE=WORK", str(fake.phone_number())),
            ("EMAIL;TYPE=INTERNET", f"{rng.choice(['info', 'sales', 'accounts'])}@{fake.domain_word()}.example"),
            ("NOTE", _esc(rng.choice(["courier", "printing", "packaging supplier", "accountant", "hosting"]))),
        ]
        entries.append(("", "3.0", props))
    n_bad = 1 + len(entries) // 1000
    for _ in range(n_bad):
        props = [
            ("FN", "?"),
            ("N", ";;;;"),
            ("BDAY", rng.choice(["1975-13-45", "0000-00-00", "31.02.1980"])),
            ("TEL;TYPE=CELL", "+00 000"),
        ]
        entries.append(("!invalid_date", "3.0", props))
    rng.shuffle(entries)
    with path.open("w", encoding="utf-8", newline="") as fh:
        for i, (pid, version, props) in enumerate(entries, start=1):
            uid = f"urn:uuid:{uuid.UUID(int=rng.getrandbits(128))}"
            fh.write(_card(version, [*props, ("UID", uid)]))
            if pid.startswith("!"):
                log.add("contacts.vcf", i, uid, "", pid[1:])
            else:
                log.add("contacts.vcf", i, uid, pid)
