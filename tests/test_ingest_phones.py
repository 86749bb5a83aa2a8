"""The fast E.164 path gives phonenumbers' answer (through normalise.phone_e164, its slow twin) on every input."""

from __future__ import annotations

import random
import warnings

import phonenumbers
import pytest
from faker import Faker
from faker.config import AVAILABLE_LOCALES
from hypothesis import given, settings
from hypothesis import strategies as st

from threadline.ingest import normalise as norm
from threadline.ingest.phones import valid_e164

REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)


def reference(text: str, region: str | None) -> str | None:
    e164, valid = norm.phone_e164(text, region)
    return e164 if valid else None


def mismatches(cases: list[tuple[str, str | None]]) -> list[tuple[str, str | None, str | None, str | None]]:
    return [(t, r, valid_e164(t, r), reference(t, r)) for t, r in cases if valid_e164(t, r) != reference(t, r)]


def test_plain_numbers_national_and_international() -> None:
    assert valid_e164("020 7946 0018", "GB") == "+442079460018"
    assert valid_e164("+44 (0)20 7946 0018", "DE") == "+442079460018"
    assert valid_e164("0044 20 7946 0018", "DE") == "+442079460018"
    assert valid_e164("(030) 901820", "DE") == "+4930901820"
    assert valid_e164("030 901820", "Deutschland") == "+4930901820"
    assert valid_e164("(416) 364-0199 x425", "CA") == "+14163640199"  # the extension is not part of E.164
    assert valid_e164("+1-416-364-0199 ext. 7", None) == "+14163640199"
    assert valid_e164("416 364 0199", None) is None  # a national number needs a region
    assert valid_e164("12", "GB") is None
    assert valid_e164("no number", "GB") is None


def test_faker_numbers_of_every_locale_agree() -> None:
    rng = random.Random(7)
    cases: list[tuple[str, str | None]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated locales still make numbers
        for locale in sorted(AVAILABLE_LOCALES):
            fake = Faker(locale)
            fake.seed_instance(3)
            if not hasattr(fake, "phone_number"):
                continue
            own = locale.rsplit("_", 1)[-1] if "_" in locale else None
            for _ in range(40):
                number = fake.phone_number()
                cases.append((number, own))
                cases.append((number, rng.choice([*REGIONS, None])))
    assert len(cases) > 5000
    assert mismatches(cases) == []


@pytest.mark.parametrize("region", REGIONS)
def test_digit_strings_with_dialling_prefixes_agree(region: str) -> None:
    rng = random.Random(region)
    example = phonenumbers.example_number(region)
    cases: list[tuple[str, str | None]] = []
    for _ in range(30):
        prefix = rng.choice(["", "+", "00", "0", "011", "8", "810", "(0", "+0", "001", "1", "7"])
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randrange(2, 15)))
        cases.append((prefix + digits, region))
    if example is not None:
        for style in (phonenumbers.PhoneNumberFormat.INTERNATIONAL, phonenumbers.PhoneNumberFormat.NATIONAL):
            written = phonenumbers.format_number(example, style)
            cases.append((written, region))
            for _ in range(10):  # the same shape with some digits changed: valid and invalid neighbours
                cases.append(
                    (
                        "".join(rng.choice("0123456789") if c.isdigit() and rng.random() < 0.3 else c for c in written),
                        region,
                    )
                )
    assert mismatches(cases) == []


plain_text = st.text(st.sampled_from("0123456789 ()./-+"), max_size=24)
suffix = st.sampled_from(["", "", " x12", "x5", " ext. 123", "ext99", " X 7", "x1234567890", " x", "EXT.1"])


@settings(max_examples=3000, deadline=None)
@given(plain_text, suffix, st.sampled_from([*REGIONS, None, "Deutschland", "zz"]))
def test_random_plain_text_agrees(text: str, tail: str, region: str | None) -> None:
    assert valid_e164(text + tail, region) == reference(text + tail, region)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30), st.sampled_from(["GB", "US", None]))
def test_any_text_agrees(text: str, region: str | None) -> None:
    assert valid_e164(text, region) == reference(text, region)
