"""Locate's evidence, one kind at a time, and the decision drawn from claims (no database)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from threadline.core.errors import InputError
from threadline.locate import places
from threadline.locate.decide import HIGH_CONFIDENCE, confidences, country_points, decide
from threadline.locate.evidence import WEIGHTS, Evidence, record_evidence, written_form
from threadline.locate.ipgeo import IPLocator, mmdb_path, public_address


def _by(evidence: list[Evidence], source: str) -> list[Evidence]:
    return [e for e in evidence if e.source == source]


# ------------------------------------------------------------------------------------------------ country fields


def test_a_customer_country_is_an_address_claim_an_order_country_shipping_a_payment_country_payment() -> None:
    fields = {"country": "DE", "country_raw": "Deutschland"}
    assert [(e.source, e.country, e.value) for e in record_evidence("customer", fields)] == [
        ("address_country", "DE", "Deutschland")
    ]
    assert record_evidence("order", fields)[0].source == "shipping"
    assert record_evidence("payment", fields)[0].source == "payment"
    assert record_evidence("contact", fields)[0].weight == WEIGHTS["address_country"]


def test_a_record_without_locating_fields_gives_nothing() -> None:
    assert record_evidence("contact", {"full_name": "Ann Example", "email": ["ann@gmail.com"]}) == []


# ------------------------------------------------------------------------------------------------ regions


def test_region_names_and_codes_become_iso_3166_2_within_the_record_country() -> None:
    assert _by(record_evidence("customer", {"country": "DE", "region": "Bayern"}), "region")[0].region == "DE-BY"
    assert _by(record_evidence("customer", {"country": "DE", "region": "Bavaria"}), "region")[0].region == "DE-BY"
    assert _by(record_evidence("customer", {"country": "PL", "region": "Lubuskie"}), "region")[0].region == "PL-08"
    coded = _by(record_evidence("customer", {"country": "SE", "region": "Västmanlands län [SE-19]"}), "region")
    assert coded[0].region == "SE-U"  # pycountry's name for it carries the older numeric code in brackets
    short = _by(record_evidence("customer", {"country": "US", "region": "TN"}), "region")
    assert short[0].region == "US-TN" and short[0].country == "US"


def test_a_region_code_of_another_country_claims_that_country_at_half_weight() -> None:
    found = _by(record_evidence("customer", {"country": "DE", "region": "HU-NY"}), "region")
    assert [(e.country, e.region) for e in found] == [("HU", "HU-NY")]
    assert found[0].weight == WEIGHTS["region"] / 2 and "not a region of DE" in (found[0].note or "")


def test_an_unknown_region_gives_nothing() -> None:
    assert _by(record_evidence("customer", {"country": "DE", "region": "Atlantis Minor"}), "region") == []


def test_ancestors_and_within_follow_the_iso_hierarchy() -> None:
    assert places.ancestors("FR-75C") == ["FR-75C", "FR-IDF"]
    assert places.within("FR-75C", "FR-IDF") and not places.within("FR-75C", "FR-ARA")
    assert not places.within(None, "FR-IDF")


# ------------------------------------------------------------------------------------------------ postal codes


def test_a_rare_postal_format_is_strong_a_common_one_weak() -> None:
    gb = _by(record_evidence("customer", {"country": "GB", "postal_code": "SW1A 1AA"}), "postal_code")[0]
    de = _by(record_evidence("customer", {"country": "DE", "postal_code": "80331"}), "postal_code")[0]
    assert gb.weight == WEIGHTS["postal_code"] and gb.note is None
    assert de.country == "DE" and de.weight < WEIGHTS["postal_code"] / 4 and "shared by" in (de.note or "")


def test_a_postal_code_that_fits_only_another_country_claims_that_one() -> None:
    found = _by(record_evidence("customer", {"country": "DE", "postal_code": "SW1A 1AA"}), "postal_code")
    assert [(e.country, e.weight) for e in found] == [("GB", WEIGHTS["postal_code"])]
    assert "not DE's" in (found[0].note or "")


def test_postal_prefixes_give_the_region_where_they_are_published() -> None:
    us = _by(record_evidence("customer", {"country": "US", "postal_code": "94043"}), "postal_code")[0]
    ca = _by(record_evidence("customer", {"country": "CA", "postal_code": "H3Z 2Y7"}), "postal_code")[0]
    assert (us.region, ca.region) == ("US-CA", "CA-QC")


def test_postal_codes_with_a_country_prefix_fit() -> None:
    assert places.postal_fits("LT-00659", "LT") and places.postal_fits("LV-1010", "LV")
    assert places.postal_countries("1234 AB") == frozenset({"NL"})


@given(st.text(max_size=30))
@settings(max_examples=300, deadline=None)
def test_postal_lookups_take_any_text(text: str) -> None:
    countries = places.postal_countries(text)
    for country in countries:
        assert places.postal_fits(text, country)
    for country in ("DE", "GB", "US", "XX"):
        places.postal_fits(text, country)
        places.postal_region(text, country)


# ------------------------------------------------------------------------------------------------ cities


def test_a_city_in_the_record_country_corroborates_and_namesakes_elsewhere_are_flagged() -> None:
    munich = _by(record_evidence("customer", {"country": "DE", "city": "München"}), "city")[0]
    assert munich.country == "DE" and not munich.ambiguous
    paris = _by(record_evidence("customer", {"country": "FR", "city": "Paris"}), "city")[0]
    assert paris.country == "FR" and paris.ambiguous and "US" in (paris.note or "")
    assert paris.weight < munich.weight


def test_an_ambiguous_city_without_a_country_claims_each_candidate_weakly_or_nothing() -> None:
    perth = _by(record_evidence("customer", {"city": "Perth"}), "city")
    assert [e.country for e in perth] == ["AU", "GB", "US"]
    assert all(e.ambiguous and e.weight == round(WEIGHTS["city"] / 3, 4) for e in perth)
    assert _by(record_evidence("customer", {"city": "Victoria"}), "city") == []  # fourteen countries: no sign
    unique = _by(record_evidence("customer", {"city": "Wolfsburg"}), "city")
    assert [(e.country, e.ambiguous) for e in unique] == [("DE", False)]


def test_an_invented_town_gives_nothing() -> None:
    assert _by(record_evidence("customer", {"country": "US", "city": "Lake Jonathanmouth"}), "city") == []


# ------------------------------------------------------------------------------------------------ phones


def test_a_number_written_with_its_country_code_is_strong_a_national_one_corroborates() -> None:
    written_plus = record_evidence("customer", {"phone": ["+4915125389830"]}, {"Telefon": "0049 15125389830"})
    national = record_evidence("customer", {"country": "DE", "phone": ["+4930901820"]}, {"Telefon": "030 901820"})
    plus = _by(written_plus, "phone")[0]
    assert (plus.country, plus.weight, plus.note) == ("DE", WEIGHTS["phone"], None)
    local = _by(national, "phone")[0]
    assert local.country == "DE" and local.weight == WEIGHTS["phone"] / 2 and "national form" in (local.note or "")


def test_nanp_numbers_find_their_own_country() -> None:
    found = _by(
        record_evidence("customer", {"phone": ["+14165550123", "+12012345678"]}, {"t": "+1 416 555 0123"}), "phone"
    )
    assert [(e.country, e.weight) for e in found] == [("CA", WEIGHTS["phone"]), ("US", WEIGHTS["phone"] / 2)]
    assert found[1].note == "as written not found"


def test_a_toll_free_number_is_weak() -> None:
    found = _by(record_evidence("customer", {"phone": ["+18002530000"]}, {"t": "+1 800 253 0000"}), "phone")
    assert found and found[0].weight == WEIGHTS["phone"] / 2 and "not a geographic" in (found[0].note or "")


@dataclass
class _Sample:
    region: str
    number: phonenumbers.PhoneNumber


_REGIONS = ["DE", "FR", "GB", "US", "NL", "PL", "JP", "BR", "AU", "IT"]


@st.composite
def _numbers(draw: st.DrawFn) -> _Sample:
    region = draw(st.sampled_from(_REGIONS))
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    assert example is not None
    return _Sample(region, example)


@given(_numbers(), st.sampled_from(["INTERNATIONAL", "E164", "NATIONAL"]), st.text(max_size=20))
@settings(max_examples=200, deadline=None)
def test_written_form_reads_how_a_number_was_written(sample: _Sample, style: str, noise: str) -> None:
    text = phonenumbers.format_number(sample.number, getattr(phonenumbers.PhoneNumberFormat, style))
    form = written_form({"phone": text, "note": noise if not any(c.isdigit() for c in noise) else ""}, sample.number)
    assert form == ("national" if style == "NATIONAL" else "international")


@given(st.dictionaries(st.text(max_size=5), st.text(max_size=40), max_size=4))
@settings(max_examples=200, deadline=None)
def test_written_form_takes_any_row(raw: dict[str, str]) -> None:
    number = phonenumbers.parse("+4930901820")
    assert written_form(raw, number) in (None, "national", "international")


# ------------------------------------------------------------------------------------------------ e-mail


def test_country_code_domains_are_weak_claims_generic_ones_none() -> None:
    found = record_evidence("contact", {"email": ["a@web.de", "b@yahoo.co.uk", "c@startup.io", "d@gmail.com"]})
    assert [(e.country, e.weight) for e in found] == [("DE", WEIGHTS["email_domain"]), ("GB", WEIGHTS["email_domain"])]


@given(st.text(max_size=60))
@settings(max_examples=300, deadline=None)
def test_email_country_takes_any_text(text: str) -> None:
    country = places.email_country(text)
    assert country is None or (len(country) == 2 and country.isupper())


@given(st.text(max_size=60), st.sampled_from([None, "DE", "US", "FR"]))
@settings(max_examples=300, deadline=None)
def test_region_and_city_lookups_take_any_text(text: str, country: str | None) -> None:
    for found_country, codes in places.find_regions(text, country).items():
        assert all(places.subdivisions()[c].country == found_country for c in codes)
    city = places.find_city(text)
    assert city is None or (city.countries and len(set(city.countries)) == len(city.countries))
    for e in record_evidence("customer", {"country": country, "region": text, "city": text, "postal_code": text}):
        assert e.weight > 0 and len(e.country) == 2


# ------------------------------------------------------------------------------------------------ IP addresses


@pytest.fixture(scope="module")
def mmdb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny GeoIP2-City-layout database: one German block with a region, one French block behind a VPN."""
    path = tmp_path_factory.mktemp("mmdb") / "test-city.mmdb"
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-City", languages=["en"])
    writer.insert_network(
        IPSet(["81.2.69.0/24"]),
        {"country": {"iso_code": "DE"}, "subdivisions": [{"iso_code": "BY"}]},
    )
    writer.insert_network(
        IPSet(["90.100.0.0/16"]),
        {"country": {"iso_code": "FR"}, "traits": {"is_anonymous_vpn": True}},
    )
    writer.insert_network(IPSet(["2a02:2e0::/32"]), {"country_code": "NL"})
    writer.to_db_file(str(path))
    return path


def test_public_addresses_are_looked_up_private_ones_give_nothing(mmdb: Path) -> None:
    with IPLocator(mmdb) as locator:
        fields = {"ip": ["81.2.69.160", "10.0.0.1", "192.168.1.5", "127.0.0.1", "90.100.1.1", "2a02:2e0::1"]}
        found = record_evidence("customer", fields, ip_lookup=locator.lookup)
        assert [(e.value, e.country, e.region) for e in found] == [
            ("81.2.69.160", "DE", "DE-BY"),
            ("90.100.1.1", "FR", None),
            ("2a02:2e0::1", "NL", None),
        ]
        assert found[0].weight == WEIGHTS["ip"] and found[1].weight == WEIGHTS["ip"] / 4
        assert locator.lookup("8.8.8.8") is None
        assert locator.lookups == 4  # private and reserved addresses are never looked up


def test_addresses_ingest_flagged_as_not_public_are_skipped(mmdb: Path) -> None:
    with IPLocator(mmdb) as locator:
        fields = {"ip": ["81.2.69.160"], "ip_flags": {"81.2.69.160": ["reserved"]}}
        assert record_evidence("customer", fields, ip_lookup=locator.lookup) == []


def test_a_missing_or_broken_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        IPLocator(tmp_path / "none.mmdb")
    bad = tmp_path / "bad.mmdb"
    bad.write_bytes(b"not a database at all" * 10)
    with pytest.raises(InputError, match="not a MaxMind-format database"):
        IPLocator(bad)


def test_the_database_comes_from_the_flag_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADLINE_MMDB", "/data/city.mmdb")
    assert mmdb_path(None) == Path("/data/city.mmdb")
    assert mmdb_path("/x/y.mmdb") == Path("/x/y.mmdb")
    monkeypatch.delenv("THREADLINE_MMDB")
    assert mmdb_path(None) is None


@given(st.text(max_size=45))
@settings(max_examples=300, deadline=None)
def test_public_address_takes_any_text(text: str) -> None:
    address = public_address(text)
    assert address is None or address.is_global


# ------------------------------------------------------------------------------------------------ decisions


def _e(source: str, country: str, region: str | None = None, weight: float | None = None) -> Evidence:
    return Evidence(source, country, country, region, WEIGHTS[source] if weight is None else weight)


def test_no_evidence_is_unplaced_never_dropped() -> None:
    decision = decide([])
    assert decision.status == "unplaced" and decision.country is None and "no locating evidence" in str(decision.reason)


def test_a_lone_weak_claim_is_unplaced_with_its_candidate() -> None:
    decision = decide([_e("email_domain", "DE")])
    assert decision.status == "unplaced" and decision.disagreements[0]["country"] == "DE"


def test_agreeing_strong_evidence_places_with_high_confidence_and_a_region() -> None:
    decision = decide([_e("address_country", "DE"), _e("phone", "DE"), _e("region", "DE", "DE-BY")])
    assert (decision.status, decision.country, decision.region) == ("placed", "DE", "DE-BY")
    assert decision.high and decision.disagreements == []


def test_disagreeing_strong_evidence_is_unplaced() -> None:
    decision = decide([_e("address_country", "DE"), _e("shipping", "FR")])
    assert decision.status == "unplaced" and "tied" in str(decision.reason)
    assert {d["country"] for d in decision.disagreements} == {"DE", "FR"}


def test_repeated_evidence_of_one_kind_has_halving_returns() -> None:
    many = country_points([_e("shipping", "DE")] * 20)
    assert many["DE"] < 2 * WEIGHTS["shipping"]


def test_the_region_needs_most_of_the_regional_evidence_and_may_be_a_parent() -> None:
    split = decide([_e("address_country", "FR"), _e("region", "FR", "FR-75C"), _e("region", "FR", "FR-69")])
    assert split.country == "FR" and split.region is None
    nested = decide([_e("address_country", "FR"), _e("region", "FR", "FR-75C"), _e("ip", "FR", "FR-IDF")])
    assert nested.region == "FR-IDF"


_COUNTRIES = st.sampled_from(["DE", "FR", "GB", "US", "NL"])
_SOURCES = st.sampled_from(sorted(WEIGHTS))
_CLAIMS = st.lists(
    st.builds(lambda s, c, w: Evidence(s, c, c, None, w), _SOURCES, _COUNTRIES, st.floats(0.01, 3.0)), max_size=12
)


@given(_CLAIMS, st.floats(0.0, 1.0))
@settings(max_examples=300, deadline=None)
def test_decisions_do_not_depend_on_claim_order(claims: list[Evidence], threshold: float) -> None:
    shuffled = list(claims)
    random.Random(len(claims)).shuffle(shuffled)
    a, b = decide(claims, threshold), decide(shuffled, threshold)
    assert (a.status, a.country, a.region, a.confidence) == (b.status, b.country, b.region, b.confidence)
    assert 0.0 <= a.confidence <= 1.0
    assert sum(confidences(country_points(claims)).values()) <= 1.0 + 1e-9
    if a.status == "placed":
        assert a.confidence >= threshold


@given(_CLAIMS, _SOURCES, _COUNTRIES)
@settings(max_examples=300, deadline=None)
def test_more_evidence_for_the_chosen_country_never_lowers_confidence(
    claims: list[Evidence], source: str, country: str
) -> None:
    before = decide(claims, 0.0)
    if before.status != "placed" or before.country != country:
        return
    after = decide([*claims, Evidence(source, country, country, None, WEIGHTS[source])], 0.0)
    assert after.country == country and after.confidence >= before.confidence - 1e-9


def test_high_confidence_is_above_the_default_threshold() -> None:
    assert HIGH_CONFIDENCE > 0.6
