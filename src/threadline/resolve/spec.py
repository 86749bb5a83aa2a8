"""The matching model's design: Splink comparisons, blocking rules and training blocks, as data.

Why each choice is made is in README.md next to this file. Change anything here and bump SPEC_VERSION: a model
trained for another design is not reused."""

from __future__ import annotations

from typing import Any

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import SettingsCreator, block_on
from splink.internals.blocking_rule_creator import BlockingRuleCreator

SPEC_VERSION = "2"

# Blocking keys: an equi-join each, on a column `prepare` derives from the matching forms. A key value held by more
# records than BLOCK_CAP blocks nothing (its block alone would be BLOCK_CAP²/2 pairs: a placeholder e-mail typed
# for every walk-in customer, a shop's display name on thousands of mails); those records still meet through
# their other keys. So no rule yields more than BLOCK_CAP/2 pairs per record, and comparisons grow linearly.
# The largest real block in the 1M-record synthetic seizure holds 129 records ("michael williams").
BLOCK_CAP = 1000
# name -> (columns, exploded array?)
BLOCKING_KEYS: dict[str, tuple[tuple[str, ...], bool]] = {
    "block_email": (("emails",), True),
    "block_phone": (("phones",), True),
    "block_name": (("name_sorted",), False),
    "block_family_dob": (("family", "dob"), False),
    "block_given_dob": (("given", "dob"), False),
    "block_dob_postal": (("dob", "postal_code"), False),
    "block_family_postal": (("family", "postal_code"), False),
    "block_given_postal": (("given", "postal_code"), False),
    "block_nickname_family": (("given_canon", "family"), False),
    "block_username": (("username",), False),
    "block_national_id": (("national_id",), False),
    "block_dob": (("dob",), False),  # for training only
}


def _name() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="name",
        comparison_description="given and family name, in either order, nicknames, transliterations, typos",
        comparison_levels=[
            cll.NullLevel("name_sorted"),
            cll.ExactMatchLevel("name_sorted", term_frequency_adjustments=True).configure(
                label_for_charts="same name (either order)"
            ),
            cll.And(cll.ExactMatchLevel("family"), cll.ExactMatchLevel("given_canon")).configure(
                label_for_charts="same family name, nickname of the same given name"
            ),
            cll.And(cll.JaroWinklerLevel("given", 0.92), cll.JaroWinklerLevel("family", 0.92)).configure(
                label_for_charts="both names similar (Jaro-Winkler >= 0.92)"
            ),
            cll.And(cll.ExactMatchLevel("family"), cll.JaroWinklerLevel("given", 0.8)).configure(
                label_for_charts="same family name, given name with typing errors (Jaro-Winkler >= 0.8)"
            ),
            cll.And(
                cll.ExactMatchLevel("family"),
                cll.CustomLevel("substr(given_l, 1, 1) = substr(given_r, 1, 1)", base_dialect_str="duckdb"),
            ).configure(label_for_charts="same family name and initial"),
            cll.And(cll.ExactMatchLevel("given"), cll.JaroWinklerLevel("family", 0.8)).configure(
                label_for_charts="same given name, family name with typing errors"
            ),
            # Households: the same family name with a different given name is a relative, not the same person.
            cll.ExactMatchLevel("family", term_frequency_adjustments=True).configure(
                label_for_charts="same family name, different given name"
            ),
            cll.ElseLevel(),
        ],
    )


def _date_of_birth() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="date_of_birth",
        comparison_levels=[
            cll.NullLevel("dob"),
            cll.ExactMatchLevel("dob").configure(label_for_charts="same date of birth"),
            cll.CustomLevel("dob_l = dob_swapped_r", base_dialect_str="duckdb").configure(
                label_for_charts="day and month transposed"
            ),
            cll.DamerauLevenshteinLevel("dob", 1).configure(label_for_charts="one typing error"),
            cll.ExactMatchLevel("dob_year").configure(label_for_charts="same year only"),
            cll.ElseLevel(),
        ],
    )


def _array(column: str, output: str, label: str) -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name=output,
        comparison_levels=[
            cll.NullLevel(column),
            cll.ArrayIntersectLevel(column, 1).configure(label_for_charts=label),
            cll.ElseLevel(),
        ],
    )


def _phone() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="phone",
        comparison_levels=[
            cll.NullLevel("phones"),
            cll.ArrayIntersectLevel("phones", 1).configure(label_for_charts="a phone number in common (E.164)"),
            cll.ArrayIntersectLevel("phone_tails", 1).configure(label_for_charts="same last seven digits"),
            cll.ElseLevel(),
        ],
    )


def _address() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="address",
        comparison_levels=[
            cll.CustomLevel(
                "(postal_code_l IS NULL OR postal_code_r IS NULL) AND (city_l IS NULL OR city_r IS NULL)",
                base_dialect_str="duckdb",
            ).configure(is_null_level=True, label_for_charts="no address to compare"),
            cll.And(cll.ExactMatchLevel("postal_code"), cll.ArrayIntersectLevel("street_tokens", 1)).configure(
                label_for_charts="same postal code and street"
            ),
            cll.ExactMatchLevel("postal_code").configure(label_for_charts="same postal code"),
            cll.ExactMatchLevel("city").configure(label_for_charts="same city"),
            cll.ElseLevel(),
        ],
    )


def _exact(column: str, label: str, fixed_m: tuple[float, float] | None = None) -> cl.CustomComparison:
    exact = cll.ExactMatchLevel(column).configure(label_for_charts=label)
    other = cll.ElseLevel()
    if fixed_m is not None:
        # Fixed: EM would see (almost) no disagreeing matches and drive m of the else-level to zero.
        exact.configure(m_probability=fixed_m[0], fix_m_probability=True)
        other.configure(m_probability=fixed_m[1], fix_m_probability=True)
    return cl.CustomComparison(output_column_name=column, comparison_levels=[cll.NullLevel(column), exact, other])


def comparisons() -> list[cl.CustomComparison]:
    return [
        _name(),
        _date_of_birth(),
        _array("emails", "email", "an e-mail address in common (canonical, whole address)"),
        _phone(),
        _address(),
        _exact("username", "same username"),
        _exact("national_id", "same national id", fixed_m=(0.95, 0.05)),
        _array("ips", "ip", "an IP address in common"),
    ]


def prediction_blocking_rules() -> list[BlockingRuleCreator]:
    """Pairs worth scoring: records sharing an e-mail, a phone, the whole name, or two of family name, given
    name, date of birth and postal code, a nickname's name, a username or a national id. Each rule is an
    equi-join on a capped key (BLOCKING_KEYS), so the work grows with the records, not their square; shared
    mailboxes and lines were taken out of `emails`/`phones` before this."""
    return [
        block_on("block_email", arrays_to_explode=["block_email"]),
        block_on("block_phone", arrays_to_explode=["block_phone"]),
        *(block_on(name) for name in BLOCKING_KEYS if name not in ("block_email", "block_phone", "block_dob")),
    ]


def training_blocks() -> list[BlockingRuleCreator]:
    """EM blocks that keep households apart: a household shares a family name, an address and sometimes a
    mailbox, but not a date of birth; namesakes share a name but rarely anything else. The raw column is named
    too, so Splink leaves that comparison out of the block's estimates."""
    return [block_on("block_dob", "dob"), block_on("block_name", "name_sorted")]


def deterministic_rules() -> list[str | BlockingRuleCreator]:
    """Near-certain matches, for estimating how likely two random records are the same person."""
    return [block_on("name_sorted", "dob"), block_on("name_sorted", "postal_code", "family")]


# Prior m-values for levels EM may not see (a seizure without national ids or usernames) or may push towards
# zero (households and namesakes in a block). Used only when training leaves a level without a sane value.
PRIOR_M: dict[str, list[float]] = {
    "name": [0.70, 0.04, 0.10, 0.04, 0.02, 0.02, 0.005, 0.075],
    "date_of_birth": [0.85, 0.03, 0.05, 0.03, 0.04],
    "email": [0.6, 0.4],
    "phone": [0.65, 0.05, 0.30],
    "address": [0.7, 0.1, 0.1, 0.1],
    "username": [0.9, 0.1],
    "national_id": [0.95, 0.05],
    "ip": [0.3, 0.7],
}


def settings(probability_two_random_records_match: float = 1e-4) -> SettingsCreator:
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=list(comparisons()),
        blocking_rules_to_generate_predictions=list(prediction_blocking_rules()),
        probability_two_random_records_match=probability_two_random_records_match,
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=True,
        additional_columns_to_retain=["record_type"],
        max_iterations=20,
        em_convergence=0.001,
    )


def generic_settings() -> dict[str, Any]:
    """The baseline the benchmark compares with: Splink's stock comparisons on names, date of birth, e-mail and
    postcode, default settings, and the blocking a careful user would write for those columns: the same e-mail,
    the whole name, and pairs of family name, given name, date of birth and postcode. A date of birth or a
    postcode alone is no blocking rule: at 100k people their blocks held tens of millions of pairs and the run
    outgrew 22 GB."""
    return SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.NameComparison("given"),
            cl.NameComparison("family"),
            cl.DateOfBirthComparison("dob", input_is_string=True),
            cl.EmailComparison("email"),
            cl.PostcodeComparison("postal_code"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("email"),
            block_on("given", "family"),
            block_on("family", "postal_code"),
            block_on("given", "dob"),
            block_on("family", "dob"),
            block_on("dob", "postal_code"),
            block_on("given", "postal_code"),
        ],
    ).create_settings_dict("duckdb")


HOUSEHOLD_LEVEL = "same family name, different given name"


def household_gamma() -> int:
    """The comparison-vector value of the name level that households reach (Splink numbers levels from the
    else-level, 0, upwards; the null level is -1)."""
    levels = [lv for lv in _name().create_comparison_dict("duckdb")["comparison_levels"] if not lv.get("is_null_level")]
    labels = [lv.get("label_for_charts") for lv in levels]
    return len(levels) - 1 - labels.index(HOUSEHOLD_LEVEL)
