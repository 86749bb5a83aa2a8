"""Customer lists: the main export and the per-market exports the distributor kept in local formats.

The regional files differ in everything ingest has to detect: encoding (cp1252, cp1250, cp1251, UTF-16),
delimiter, header language, date format, name order and whether the name is split. Their customer numbers are
the regional system's own, so an id never links two files.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from threadline.synth.countries import country_name
from threadline.synth.encoding import fit
from threadline.synth.noise import Noise
from threadline.synth.people import Person
from threadline.synth.truth import RecordLog

# Canonical fields a customer row may carry, in the order a file lists them.
FIELDS = (
    "customer_id",
    "first_name",
    "last_name",
    "full_name",
    "email",
    "phone",
    "street",
    "city",
    "postcode",
    "region",
    "country",
    "date_of_birth",
    "username",
    "occupation",
    "employer",
    "signup_ip",
    "registered",
)

_LOCAL_COUNTRY_NAMES: dict[str, dict[str, str]] = {
    "de": {
        "DE": "Deutschland",
        "AT": "Österreich",
        "CH": "Schweiz",
        "LU": "Luxemburg",
        "FR": "Frankreich",
        "NL": "Niederlande",
        "PL": "Polen",
        "IT": "Italien",
        "US": "USA",
        "GB": "Großbritannien",
    },
    "fr": {
        "FR": "France",
        "BE": "Belgique",
        "CH": "Suisse",
        "LU": "Luxembourg",
        "DE": "Allemagne",
        "ES": "Espagne",
        "IT": "Italie",
        "GB": "Royaume-Uni",
        "US": "États-Unis",
        "CA": "Canada",
    },
    "es": {
        "ES": "España",
        "MX": "México",
        "AR": "Argentina",
        "CL": "Chile",
        "CO": "Colombia",
        "US": "Estados Unidos",
        "FR": "Francia",
        "DE": "Alemania",
        "BR": "Brasil",
    },
    "pl": {"PL": "Polska", "CZ": "Czechy", "SK": "Słowacja", "DE": "Niemcy", "UA": "Ukraina"},
    "ru": {
        "RU": "Россия",
        "UA": "Украина",
        "BG": "Болгария",
        "MK": "Северная Македония",
        "DE": "Германия",
        "US": "США",
        "PL": "Польша",
    },
}


@dataclass(frozen=True, slots=True)
class CustomerFile:
    name: str
    encoding: str
    delimiter: str
    language: str
    headers: tuple[tuple[str, str], ...]  # (canonical field, header as written)
    date_format: str
    phone_style: str
    markets: frozenset[str]  # countries whose customers this export holds
    id_prefix: str
    latin_names: bool  # names of non-Latin scripts written romanised
    family_first: bool = False  # full_name written family name first (East Asian order)


MAIN = CustomerFile(
    "customers.csv",
    "utf-8",
    ",",
    "en",
    tuple((f, f) for f in FIELDS if f != "full_name"),
    "iso",
    "e164",
    frozenset(),
    "C",
    latin_names=False,
)

REGIONAL: tuple[CustomerFile, ...] = (
    CustomerFile(
        "customers_de.csv",
        "cp1252",
        ";",
        "de",
        (
            ("customer_id", "Kundennr"),
            ("first_name", "Vorname"),
            ("last_name", "Nachname"),
            ("email", "E-Mail"),
            ("phone", "Telefon"),
            ("street", "Straße"),
            ("postcode", "PLZ"),
            ("city", "Ort"),
            ("country", "Land"),
            ("date_of_birth", "Geburtsdatum"),
            ("occupation", "Beruf"),
        ),
        "dmy_dot",
        "national",
        frozenset({"DE", "AT", "CH", "LU"}),
        "K",
        latin_names=True,
    ),
    CustomerFile(
        "customers_fr.csv",
        "cp1252",
        ";",
        "fr",
        (
            ("customer_id", "N° client"),
            ("first_name", "Prénom"),
            ("last_name", "Nom"),
            ("email", "Courriel"),
            ("phone", "Téléphone"),
            ("street", "Adresse"),
            ("postcode", "Code postal"),
            ("city", "Ville"),
            ("country", "Pays"),
            ("date_of_birth", "Date de naissance"),
            ("occupation", "Profession"),
        ),
        "dmy_slash",
        "national",
        frozenset({"FR", "BE", "CH", "LU"}),
        "FR",
        latin_names=True,
    ),
    CustomerFile(
        "clientes_es.csv",
        "utf-8-sig",
        ",",
        "es",
        (
            ("customer_id", "ID cliente"),
            ("first_name", "Nombre"),
            ("last_name", "Apellidos"),
            ("email", "Correo electrónico"),
            ("phone", "Teléfono"),
            ("street", "Dirección"),
            ("postcode", "Código postal"),
            ("city", "Ciudad"),
            ("region", "Provincia"),
            ("country", "País"),
            ("date_of_birth", "Fecha de nacimiento"),
            ("occupation", "Profesión"),
        ),
        "dmy_slash",
        "international",
        frozenset({"ES", "MX", "AR", "CL", "CO"}),
        "ES",
        latin_names=True,
    ),
    CustomerFile(
        "klienci_pl.csv",
        "cp1250",
        ";",
        "pl",
        (
            ("customer_id", "Nr klienta"),
            ("first_name", "Imię"),
            ("last_name", "Nazwisko"),
            ("email", "E-mail"),
            ("phone", "Telefon"),
            ("street", "Adres"),
            ("postcode", "Kod pocztowy"),
            ("city", "Miejscowość"),
            ("region", "Województwo"),
            ("country", "Kraj"),
            ("date_of_birth", "Data urodzenia"),
            ("occupation", "Zawód"),
        ),
        "dmy_dot",
        "no_trunk",
        frozenset({"PL", "CZ", "SK"}),
        "PL",
        latin_names=True,
    ),
    CustomerFile(
        "clients_ru.csv",
        "cp1251",
        ";",
        "ru",
        (
            ("customer_id", "Код клиента"),
            ("last_name", "Фамилия"),
            ("first_name", "Имя"),
            ("email", "Эл. почта"),
            ("phone", "Телефон"),
            ("street", "Адрес"),
            ("postcode", "Индекс"),
            ("city", "Город"),
            ("country", "Страна"),
            ("date_of_birth", "Дата рождения"),
            ("occupation", "Профессия"),
        ),
        "dmy_dot",
        "national_compact",
        frozenset({"RU", "UA", "BG", "MK"}),
        "RU",
        latin_names=False,
    ),
    CustomerFile(
        "customers_apac.tsv",
        "utf-16",
        "\t",
        "en",
        (
            ("customer_id", "Cust No"),
            ("full_name", "Name"),
            ("email", "E-mail Address"),
            ("phone", "Tel"),
            ("street", "Address"),
            ("postcode", "Zip"),
            ("city", "City"),
            ("region", "State/Province"),
            ("country", "Country"),
            ("date_of_birth", "DOB"),
            ("occupation", "Job Title"),
        ),
        "ymd_slash",
        "international",
        frozenset({"JP", "CN", "TW", "KR", "TH", "IN", "AU", "NZ", "PH", "ID", "VN"}),
        "AP",
        latin_names=False,
        family_first=True,
    ),
)


def assign_files(people: list[Person], rng: random.Random) -> dict[str, list[Person]]:
    """Which customer files each person appears in (every person in at least one)."""
    by_market = {c: f for f in REGIONAL for c in f.markets}
    members: dict[str, list[Person]] = {f.name: [] for f in (MAIN, *REGIONAL)}
    for p in people:
        regional = by_market.get(p.country.alpha2)
        if regional is None and rng.random() < 0.01:
            regional = rng.choice(REGIONAL)  # a customer filed under the wrong market
        in_main = regional is None or rng.random() < 0.7
        in_regional = regional is not None and (not in_main or rng.random() < 0.55)
        if in_main:
            members[MAIN.name].append(p)
        if in_regional and regional is not None:
            members[regional.name].append(p)
    return members


def _row(spec: CustomerFile, p: Person, record_id: str, noise: Noise) -> dict[str, str]:
    script = p.country.script
    latin = spec.latin_names and script != "Latin"
    if spec.name == "clients_ru.csv" and script not in ("Latin", "Cyrillic"):
        latin = True
    given = noise.given(p.given, script, latin)
    family = noise.family(p.family, script, latin)
    if noise.chance(0.03):
        given, family = family, given  # typed into the wrong boxes
    if spec.family_first and script in ("Han", "Hangul"):
        full = f"{family}{given}" if not latin and noise.rng.random() < 0.7 else f"{family} {given}"
    else:
        full = f"{given} {family}"
    country = _LOCAL_COUNTRY_NAMES.get(spec.language, {}).get(p.country.alpha2) or country_name(p.country.alpha2)
    if noise.chance(0.15):
        country = p.country.alpha2
    registered = p.registered.isoformat() + f" {noise.rng.randrange(24):02d}:{noise.rng.randrange(60):02d}:00"
    return {
        "customer_id": record_id,
        "first_name": given,
        "last_name": family,
        "full_name": full,
        "email": noise.drop(noise.email(p.email, p.alt_email, p.office_email), 0.02),
        "phone": noise.drop(
            noise.phone(p.landline if p.landline and noise.rng.random() < 0.3 else p.phone, spec.phone_style)
        ),
        "street": noise.drop(noise.street(p.address.street), 0.03),
        "city": noise.maybe_typo(p.address.city, 0.03),
        "postcode": noise.drop(p.address.postcode, 0.04),
        "region": noise.drop(p.region_name if noise.rng.random() < 0.8 else p.region_code, 0.2),
        "country": country,
        "date_of_birth": noise.drop(noise.date(p.dob, spec.date_format), 0.05),
        "username": p.username,
        "occupation": noise.drop(p.occupation, 0.1),
        "employer": noise.drop(p.employer, 0.3),
        "signup_ip": noise.drop(p.signup_ip, 0.05),
        "registered": registered,
    }


_INVALID_DATES = ("31.02.1979", "1979-13-40", "00/00/0000", "29.02.1981", "1985-02-30", "12/34/1970", "0000-00-00")


def _damage(values: list[str], kind: str, spec: CustomerFile, rng: random.Random) -> str:
    """One raw output line carrying ``kind`` of damage."""
    d = spec.delimiter
    fields = [v.replace(d, " ").replace('"', "") for v in values]
    if kind == "column_count":
        if rng.random() < 0.5:
            del fields[rng.randrange(1, len(fields))]
        else:
            fields.insert(rng.randrange(1, len(fields)), "")
    elif kind == "quoting":
        # A value holding the delimiter written unquoted, and a stray quote: the classic hand-edited export.
        i = rng.randrange(1, len(fields))
        fields[i] = f'{fields[i]}{d} "{fields[i][:3]}'
    elif kind == "invalid_date":
        keys = [k for k, _ in spec.headers]
        fields[keys.index("date_of_birth")] = rng.choice(_INVALID_DATES)
    elif kind == "binary":
        i = rng.randrange(1, len(fields))
        cut = rng.randrange(len(fields[i]) + 1)
        fields[i] = fields[i][:cut] + rng.choice("\x00\x1a\x7f\x0b") + fields[i][cut:]
    return d.join(fields)


def write_customer_files(
    seizure: Path,
    members: dict[str, list[Person]],
    seed: int,
    log: RecordLog,
    progress: Callable[[str, int, int], None] | None = None,
) -> None:
    """Write the main and regional customer files and log every row (and every damaged row) in truth."""
    for spec in (MAIN, *REGIONAL):
        rng = random.Random(f"{seed}:customers:{spec.name}")
        noise = Noise(rng, level=1.0 if spec is MAIN else 1.3)
        people = members[spec.name]
        rows: list[tuple[str, Person]] = []
        if spec is MAIN:
            rows = sorted(((acc, p) for p in people for acc in p.accounts), key=lambda r: r[0])
        else:
            order = list(people)
            rng.shuffle(order)
            rows = [(f"{spec.id_prefix}{10000 + i * 7 + rng.randrange(7)}", p) for i, p in enumerate(order)]
        n_bad = 2 + len(rows) // 1500
        bad_at = set(rng.sample(range(len(rows) + n_bad), n_bad))
        kinds = ("column_count", "quoting", "invalid_date", "binary")
        keys = [k for k, _ in spec.headers]
        with (seizure / spec.name).open("w", encoding=spec.encoding, newline="") as fh:
            writer = csv.writer(fh, delimiter=spec.delimiter, lineterminator="\r\n")
            writer.writerow([fit(h, spec.encoding) for _, h in spec.headers])
            it = iter(rows)
            bad_no = 0
            for line_no in range(1, len(rows) + n_bad + 1):
                if line_no - 1 in bad_at:
                    victim = rng.choice(people) if people else None
                    kind = kinds[bad_no % len(kinds)]
                    bad_no += 1
                    rid = f"{spec.id_prefix}X{line_no:06d}"
                    values = [fit(v, spec.encoding) for v in _values(spec, keys, victim, rid, noise)]
                    fh.write(_damage(values, kind, spec, rng) + "\r\n")
                    log.add(spec.name, line_no, rid, "", kind)
                    continue
                rid, p = next(it)
                row = _row(spec, p, rid, noise)
                writer.writerow([fit(row[k], spec.encoding) for k in keys])
                log.add(spec.name, line_no, rid, p.person_id)
        if progress is not None:
            progress("customers", len(rows), len(rows))


def _values(spec: CustomerFile, keys: list[str], p: Person | None, rid: str, noise: Noise) -> list[str]:
    if p is None:
        return [rid] + ["" for _ in keys[1:]]
    row = _row(spec, p, rid, noise)
    return [row[k] for k in keys]
