"""How one person comes to be written differently in every file.

Each seizure file is a separate system a distributor kept; people typed their details again each time, staff
re-keyed them, exports mangled them. ``Noise`` reproduces the common kinds, each at a rate, from one seeded
random stream, so the same person is never written identically twice and ground truth still knows who it is.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from functools import cache
from importlib import resources

import yaml

from threadline.synth.phones import PHONE_STYLES, Phone, format_phone
from threadline.synth.pools import Name
from threadline.synth.translit import systems_for, to_latin

_KEYBOARD_NEIGHBOURS = {
    "a": "qswz",
    "b": "vghn",
    "c": "xdfv",
    "d": "serfcx",
    "e": "wsdr",
    "f": "drtgvc",
    "g": "ftyhbv",
    "h": "gyujnb",
    "i": "ujko",
    "j": "huikmn",
    "k": "jiolm",
    "l": "kop",
    "m": "njk",
    "n": "bhjm",
    "o": "iklp",
    "p": "ol",
    "q": "wa",
    "r": "edft",
    "s": "awedxz",
    "t": "rfgy",
    "u": "yhji",
    "v": "cfgb",
    "w": "qase",
    "x": "zsdc",
    "y": "tghu",
    "z": "asx",
}

# Long form -> short forms, per language; applied in either direction.
_STREET_ABBREVIATIONS: tuple[tuple[str, str], ...] = (
    ("Street", "St."),
    ("Avenue", "Ave."),
    ("Avenue", "Av."),
    ("Road", "Rd."),
    ("Boulevard", "Blvd."),
    ("Drive", "Dr."),
    ("Lane", "Ln."),
    ("Court", "Ct."),
    ("Place", "Pl."),
    ("Square", "Sq."),
    ("Suite", "Ste."),
    ("Apartment", "Apt."),
    ("straße", "str."),
    ("Straße", "Str."),
    ("strasse", "str."),
    ("Platz", "Pl."),
    ("rue", "r."),
    ("avenue", "av."),
    ("boulevard", "bd"),
    ("Calle", "C/"),
    ("Avenida", "Av."),
    ("Via", "V."),
    ("Piazza", "P.zza"),
    ("Rua", "R."),
    ("ulica", "ul."),
    ("aleja", "al."),
    ("улица", "ул."),
    ("проспект", "пр-т"),
    ("переулок", "пер."),
    ("straat", "str."),
    ("gatan", "g."),
    ("vej", "v."),
)

DATE_FORMATS: dict[str, str] = {
    "iso": "%Y-%m-%d",
    "dmy_dot": "%d.%m.%Y",
    "dmy_slash": "%d/%m/%Y",
    "mdy_slash": "%m/%d/%Y",
    "ymd_slash": "%Y/%m/%d",
    "dmy_dash": "%d-%m-%Y",
}


@cache
def nicknames() -> dict[str, list[str]]:
    text = resources.files("threadline.synth").joinpath("data/nicknames.yaml").read_text(encoding="utf-8")
    data: dict[str, list[str]] = yaml.safe_load(text)
    return data


def typo(text: str, rng: random.Random, edits: int = 1) -> str:
    """``text`` with ``edits`` keyboard-style mistakes (substitute, drop, double, swap) in its letters."""
    chars = list(text)
    for _ in range(edits):
        letters = [i for i, c in enumerate(chars) if c.isalpha()]
        if len(letters) < 3:
            break
        i = rng.choice(letters[1:])  # first letter kept: people rarely mistype it
        kind = rng.randrange(4)
        c = chars[i]
        if kind == 0 and c.lower() in _KEYBOARD_NEIGHBOURS:
            repl = rng.choice(_KEYBOARD_NEIGHBOURS[c.lower()])
            chars[i] = repl.upper() if c.isupper() else repl
        elif kind == 1:
            del chars[i]
        elif kind == 2:
            chars.insert(i, c)
        elif i + 1 < len(chars):
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        else:
            chars[i] = c + c
    return "".join(chars)


def email_variant(email: str, rng: random.Random) -> str:
    """A form of ``email`` that reaches the same mailbox: case, gmail dots and +tags, googlemail.com."""
    local, _, domain = email.partition("@")
    kind = rng.randrange(4)
    if domain in ("gmail.com", "googlemail.com") and kind < 3:
        if kind == 0 and len(local) > 3:
            local = local.replace(".", "")
            cut = rng.randrange(1, len(local))
            local = local[:cut] + "." + local[cut:]
        elif kind == 1:
            local = f"{local}+{rng.choice(['shop', 'orders', 'films', 'news', 'x'])}"
        else:
            domain = "googlemail.com" if domain == "gmail.com" else "gmail.com"
        return f"{local}@{domain}"
    if kind < 2:
        return f"{local[:1].upper()}{local[1:]}@{domain.capitalize()}"
    return email.upper() if kind == 2 else email


def street_variant(street: str, rng: random.Random) -> str:
    """``street`` with an abbreviation expanded or applied (Straße/Str., Street/St.)."""
    candidates = [(a, b) for a, b in _STREET_ABBREVIATIONS if a in street or b in street]
    if not candidates:
        return street
    long, short = rng.choice(candidates)
    if long in street:
        return street.replace(long, short, 1)
    return re.sub(re.escape(short) + r"(?=\s|$)", long, street, count=1)


def format_date(d: dt.date, fmt: str) -> str:
    return d.strftime(DATE_FORMATS[fmt])


class Noise:
    """Seeded noise for one output file. Rates are per field; ``level`` scales them for noisier sources."""

    def __init__(self, rng: random.Random, level: float = 1.0) -> None:
        self.rng = rng
        self.level = level

    def chance(self, p: float) -> bool:
        return self.rng.random() < p * self.level

    def latin_name(self, name: Name, script: str) -> str:
        """A Latin spelling of ``name``: the person's usual one, or another romanisation system's."""
        systems = systems_for(script)
        if systems and self.rng.random() < 0.6:
            return to_latin(name.native, script, self.rng.choice(systems))
        return name.latin

    def given(self, name: Name, script: str, latin: bool) -> str:
        base = self.latin_name(name, script) if latin or script == "Latin" else name.native
        if self.chance(0.12):
            forms = nicknames().get(name.native) or nicknames().get(name.latin)
            if forms:
                nick = self.rng.choice(forms)
                base = to_latin(nick, script) if latin and script != "Latin" else nick
        return self.maybe_typo(base)

    def family(self, name: Name, script: str, latin: bool) -> str:
        base = self.latin_name(name, script) if latin or script == "Latin" else name.native
        if self.chance(0.02):
            base = base.upper()  # legacy systems that upper-cased surnames
        return self.maybe_typo(base)

    def maybe_typo(self, text: str, p: float = 0.05) -> str:
        if self.chance(p):
            return typo(text, self.rng, 1 if self.rng.random() < 0.8 else 2)
        return text

    def email(self, email: str, alt: str = "", office: str = "") -> str:
        if office and self.rng.random() < 0.7:
            return office
        if alt and self.rng.random() < 0.3:
            email = alt
        if self.chance(0.15):
            return email_variant(email, self.rng)
        if self.chance(0.02):
            return typo(email, self.rng)
        return email

    def phone(self, phone: Phone, usual: str = "national") -> str:
        style = usual if self.rng.random() < 0.6 else self.rng.choice(PHONE_STYLES)
        return format_phone(phone, style)

    def street(self, street: str) -> str:
        if self.chance(0.3):
            street = street_variant(street, self.rng)
        return self.maybe_typo(street, 0.03)

    def date(self, d: dt.date, usual: str) -> str:
        fmt = usual if self.rng.random() < 0.9 else self.rng.choice(list(DATE_FORMATS))
        if self.chance(0.02) and d.day <= 12 and d.day != d.month:
            d = d.replace(day=d.month, month=d.day)  # day and month swapped on entry
        return format_date(d, fmt)

    def drop(self, value: str, p: float = 0.04) -> str:
        return "" if self.chance(p) else value
