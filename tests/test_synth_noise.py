"""Properties of the generator's small pure functions: transliteration, phone styles, typos, encodings."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from threadline.synth.encoding import fit
from threadline.synth.noise import email_variant, street_variant, typo
from threadline.synth.people import feminine_family, localise_occupation, occupation_table
from threadline.synth.phones import PHONE_STYLES, Phone, format_phone
from threadline.synth.translit import CYRILLIC_SYSTEMS, GREEK_SYSTEMS, cyrillic_to_latin, greek_to_latin

CYRILLIC = st.text(alphabet="абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЭЮЯ -", min_size=1)
GREEK = st.text(alphabet="αβγδεζηθικλμνξοπρστυφχψωάέήίόύώςΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩ -", min_size=1)


def _levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


@given(CYRILLIC, st.sampled_from(CYRILLIC_SYSTEMS))
def test_cyrillic_romanisation_leaves_no_cyrillic(text: str, system: str) -> None:
    out = cyrillic_to_latin(text, system)
    assert not any("\u0400" <= c <= "\u04ff" for c in out)
    assert out == cyrillic_to_latin(text, system)


@given(GREEK, st.sampled_from(GREEK_SYSTEMS))
def test_greek_romanisation_leaves_no_greek(text: str, system: str) -> None:
    out = greek_to_latin(text, system)
    assert not any("\u0370" <= c <= "\u03ff" or "\u1f00" <= c <= "\u1fff" for c in out)


def test_romanisation_systems_give_the_familiar_variants() -> None:
    assert {cyrillic_to_latin("Юрий", s) for s in CYRILLIC_SYSTEMS} >= {"Yuriy", "Yury", "Iouri", "Jurij", "Juri"}
    assert greek_to_latin("Γιάννης", "phonetic") == "Yannis"
    assert greek_to_latin("Γεώργιος", "elot") == "Georgios"


@given(st.integers(1, 999), st.text(alphabet="0123456789", min_size=6, max_size=12), st.sampled_from(PHONE_STYLES))
def test_every_phone_style_keeps_all_national_digits(cc: int, nsn: str, style: str) -> None:
    written = format_phone(Phone(cc, nsn, "0"), style)
    digits = "".join(c for c in written if c.isdigit())
    assert digits.endswith(nsn)


@given(
    st.text(alphabet=st.characters(categories=("Ll", "Lu")), min_size=3, max_size=30),
    st.integers(0, 2**32),
    st.integers(1, 2),
)
def test_typo_is_within_the_requested_edits(text: str, seed: int, edits: int) -> None:
    out = typo(text, random.Random(seed), edits)
    assert _levenshtein(text, out) <= 2 * edits  # a swap counts as two single-character edits


@given(
    st.from_regex(r"[a-z]{2,8}(\.[a-z]{2,8})?", fullmatch=True),
    st.sampled_from(["gmail.com", "web.de"]),
    st.integers(0, 2**32),
)
def test_email_variants_reach_the_same_mailbox(local: str, domain: str, seed: int) -> None:
    out = email_variant(f"{local}@{domain}", random.Random(seed)).lower()
    out_local, _, out_domain = out.partition("@")
    if domain == "gmail.com":
        assert out_domain in ("gmail.com", "googlemail.com")
        assert out_local.split("+")[0].replace(".", "") == local.replace(".", "")
    else:
        assert out == f"{local}@{domain}"


@given(st.text(max_size=40), st.sampled_from(["cp1252", "cp1250", "cp1251", "latin-1"]))
def test_fit_always_gives_encodable_text(text: str, encoding: str) -> None:
    fit(text, encoding).encode(encoding)


def test_street_abbreviations_go_both_ways() -> None:
    rng = random.Random(1)
    assert street_variant("Hauptstraße 5", rng) == "Hauptstr. 5"
    assert street_variant("12 Main St.", rng) == "12 Main Street"


def test_occupations_are_localised_by_language_and_gender() -> None:
    table = occupation_table()
    assert all("en" in role for group in table.values() for role in group.values())
    teacher = table["child_access"]["teacher"]
    assert localise_occupation(teacher, "de", "F") == "Lehrerin"
    assert localise_occupation(teacher, "ru", "M") == "учитель"
    assert localise_occupation(teacher, "xx", "M") == "teacher"
    assert feminine_family("Иванов", "ru") == "Иванова"
    assert feminine_family("Kowalski", "pl") == "Kowalska"
