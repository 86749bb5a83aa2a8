from __future__ import annotations

import pycountry
import pytest
from hypothesis import given
from hypothesis import strategies as st

from threadline.core.errors import InputError
from threadline.core.geo import all_countries, country_code, country_name, require_country, require_region

COUNTRIES = list(pycountry.countries)


@given(st.sampled_from(COUNTRIES), st.sampled_from(["alpha_2", "alpha_3", "name"]), st.booleans())
def test_every_country_is_found_by_code_or_name(country: object, attribute: str, lower: bool) -> None:
    value = str(getattr(country, attribute))
    assert country_code(value.lower() if lower else value) == country.alpha_2  # type: ignore[attr-defined]


@given(st.text(max_size=30))
def test_country_code_never_raises(text: str) -> None:
    result = country_code(text)
    assert result is None or (len(result) == 2 and result.isupper())


def test_common_aliases_and_names() -> None:
    assert country_code("UK") == "GB" and country_code("EL") == "GR"
    assert country_name("BO") == "Bolivia" and country_name("TW") == "Taiwan"
    assert len(all_countries()) == 249


def test_regions_must_belong_to_their_country() -> None:
    assert require_region("by", "DE") == "DE-BY"
    assert require_region("FR-IDF", "FR") == "FR-IDF"
    with pytest.raises(InputError, match=r"not in DE|unknown region"):
        require_region("FR-IDF", "DE")
    with pytest.raises(InputError, match=r"x\.csv:4: unknown country"):
        require_country("Narnia", file="x.csv", line=4)
