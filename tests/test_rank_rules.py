"""Rank rules: validation with file, line and reason; versions in the store; a refused file changes nothing
(SQLite and PostgreSQL)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from threadline.core.db import Store
from threadline.core.errors import InputError, NotFoundError
from threadline.model import AuditEvent, Operation, RuleSet
from threadline.rank import default_rules_text, history, load_rules, parse_rules, rules_in_force, shown_rules
from threadline.rank.rules import FACTORS, step_points, within_points

DEFAULT = default_rules_text()
DEFAULT_DATA = yaml.load(DEFAULT, Loader=yaml.CSafeLoader)


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def edited(old: str, new: str, text: str = DEFAULT) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def test_the_shipped_rules_parse_and_say_what_each_factor_weighs() -> None:
    rules = parse_rules(DEFAULT)
    assert rules.tiers == {"very_high": 80, "high": 50, "medium": 20}
    assert rules.access.floor == "high" and rules.access.points >= rules.tiers["high"]
    assert rules.production.floor == "high" and rules.production.novel.points >= rules.tiers["very_high"]
    assert {g.name for g in rules.access.groups} >= {"teaching", "childcare", "clergy_youth_ministry"}
    assert rules.volume.exchange_rates["EUR"] == 1.0 and rules.volume.currency == "EUR"
    assert len(rules.sha256) == 64
    assert rules.tier_for(80) == "very_high" and rules.tier_for(79.9) == "high" and rules.tier_for(0) == "low"


def test_steps_give_the_highest_step_reached_and_the_first_day_limit_within() -> None:
    rules = parse_rules(DEFAULT)
    assert step_points(rules.volume.orders, 1) == 0
    assert step_points(rules.volume.orders, 7) == 8
    assert step_points(rules.volume.orders, 500) == 25
    assert within_points(rules.recency.within_days, 0) == 10
    assert within_points(rules.recency.within_days, 200) == 3
    assert within_points(rules.recency.within_days, 400) == 0


@pytest.mark.parametrize(
    ("old", "new", "needle", "reason"),
    [
        ("  recency:\n", "  gut_feeling:\n    points: 5\n  recency:\n", "gut_feeling", "unknown factor 'gut_feeling'"),
        ("    points: 60\n", "    points: -5\n", "points: -5", "weight -5 is outside"),
        ("    points: 60\n", "    points: lots\n", "points: lots", "weight 'lots' is not a number"),
        ("    points: 60\n", "    points: true\n", "points: true", "weight True is not a number"),
        ("    points: 60\n", "    points: 5000\n", "points: 5000", "outside 0-1000"),
        ("    floor: high\n    # Fields", "    floor: urgent\n    # Fields", "floor: urgent", "not a tier"),
        (
            "      - {at_least: 5, points: 8}",
            "      - {at_least: 5, points: 2}",
            "at_least: 5, points: 2",
            "fall below",
        ),
        (
            "      - {at_least: 5, points: 8}",
            "      - {at_least: 1, points: 8}",
            "at_least: 1, points: 8",
            "must be above",
        ),
        ("  very_high: 80", "  very_high: 40", "tiers:", "must fall strictly"),
        ("    max_shared: 3", "    max_shared: 0", "max_shared: 0", "at least 1"),
        (
            "    label: Recent activity\n",
            "    label: Recent activity\n    pionts: 3\n",
            "pionts",
            "unknown key 'pionts'",
        ),
        ("    currency: EUR\n", "    currency: euro\n", "currency: euro", "three-letter currency"),
        ("identifiers: [email, phone", "identifiers: [fax, phone", "identifiers: [fax", "'fax' is not one of"),
        ("    role_fields: [occupation]", "    role_fields: [occupation, shoe_size]", "role_fields", "not one of"),
    ],
)
def test_a_bad_rules_file_is_refused_with_the_line_and_the_reason(old: str, new: str, needle: str, reason: str) -> None:
    text = edited(old, new)
    with pytest.raises(InputError, match=reason) as error:
        parse_rules(text, "agency.yaml")
    assert error.value.file == "agency.yaml"
    assert error.value.line == line_of(text, needle)
    assert error.value.one_line().startswith(f"agency.yaml:{error.value.line}: ")


@pytest.mark.parametrize(
    ("keywords", "bad", "reason"),
    [
        ("keywords: teacher", "keywords: teacher", "must be a list"),
        ("keywords: [teacher, 42]", "42", "is not text"),
        ('keywords: [teacher, "le*rer"]', '"le*rer"', "may only begin or end"),
        ('keywords: [teacher, "*"]', '"*"', "letters beside"),
        ('keywords: [teacher, "ab*"]', '"ab*"', "at least 3"),
        ('keywords: [teacher, "--"]', '"--"', "no letters"),
    ],
)
def test_a_bad_keyword_list_is_refused_with_its_line(keywords: str, bad: str, reason: str) -> None:
    group = DEFAULT.index("      school_transport:")
    start = DEFAULT.index("        keywords: [", group)
    end = DEFAULT.index("        ]\n", start) + len("        ]\n")
    text = DEFAULT[:start] + f"        {keywords}\n" + DEFAULT[end:]
    with pytest.raises(InputError, match=reason) as error:
        parse_rules(text, "agency.yaml")
    assert error.value.line == line_of(text, f"        {keywords}")
    assert bad in text.splitlines()[error.value.line - 1]


def test_missing_factors_duplicate_keys_and_broken_yaml_are_refused() -> None:
    data = yaml.safe_load(DEFAULT)
    del data["factors"]["access_to_children"]
    with pytest.raises(InputError, match="factor 'access_to_children' is missing"):
        parse_rules(yaml.safe_dump(data))
    doubled = edited("  high: 50\n", "  high: 50\n  high: 55\n")
    with pytest.raises(InputError, match="given twice") as error:
        parse_rules(doubled)
    assert error.value.line == line_of(doubled, "  high: 55")
    with pytest.raises(InputError, match="not valid YAML") as error:
        parse_rules("tiers: [unclosed\nfactors: {}\n")
    assert error.value.line is not None
    with pytest.raises(InputError, match="empty"):
        parse_rules("")
    with pytest.raises(InputError, match="format 2 is not supported"):
        parse_rules(edited("rules_format: 1", "rules_format: 2"))


def test_versions_are_stored_and_a_refused_file_leaves_the_rules_in_force(store: Store, tmp_path: Path) -> None:
    with store.session() as session:
        assert shown_rules(session)[0] is None  # nothing stored until rules are needed
        default = rules_in_force(session, actor="test")
        assert (default.version, default.scope, default.active, default.source_path) == (1, "global", True, None)

    agency = tmp_path / "agency.yaml"
    agency.write_text(edited("  high: 50\n", "  high: 45\n"), encoding="utf-8")
    with store.session() as session:
        loaded = load_rules(session, agency, actor="analyst")
        assert loaded.created and loaded.rule_set.version == 2
    with store.session() as session:
        again = load_rules(session, agency, actor="analyst")
        assert not again.created and again.rule_set.version == 2  # the same bytes add no version

    broken = tmp_path / "broken.yaml"
    broken.write_text(edited("    points: 60\n", "    points: -1\n"), encoding="utf-8")
    refused = r"broken.yaml:\d+: factors.access_to_children.points"
    with pytest.raises(InputError, match=refused), store.session() as session:
        load_rules(session, broken, actor="analyst")
    with store.session() as session:
        in_force = rules_in_force(session)
        assert in_force.version == 2 and in_force.sha256 == parse_rules(agency.read_text()).sha256
        assert [(r.version, r.active) for r in history(session)] == [(1, False), (2, True)]
        assert shown_rules(session)[1] == agency.read_text(encoding="utf-8")
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.action == "rules.load")).all()
        assert len(actions) == 2


def test_an_operation_can_have_its_own_rules(store: Store, tmp_path: Path) -> None:
    own = tmp_path / "spade.yaml"
    own.write_text(edited("  medium: 20\n", "  medium: 10\n"), encoding="utf-8")
    with store.session() as session:
        with pytest.raises(NotFoundError, match="no operation 'Spade'"):
            load_rules(session, own, operation="Spade", actor="analyst")
        session.add(Operation(name="Spade"))
    with store.session() as session:
        assert load_rules(session, own, operation="Spade", actor="analyst").rule_set.scope == "Spade"
        assert rules_in_force(session, "Spade").scope == "Spade"
        assert rules_in_force(session).scope == "global"  # the shipped default, stored now
        scopes = sorted(session.scalars(select(RuleSet.scope)).all())
        assert scopes == ["Spade", "global"]


def test_a_rules_file_that_is_not_utf8_names_the_line(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(DEFAULT.encode("utf-8")[:200] + "\nname: Caf\xe9\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8") as error, store.session() as session:
        load_rules(session, path, actor="analyst")
    assert error.value.line == DEFAULT.encode("utf-8")[:200].count(b"\n") + 2


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 2000) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_either_rules_or_a_one_line_refusal(text: str) -> None:
    try:
        parse_rules(text, "fuzz.yaml")
    except InputError as error:
        assert "\n" not in error.one_line() and error.file == "fuzz.yaml"


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_value_anywhere_in_a_factor_is_accepted_or_refused_cleanly(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(list(FACTORS)))
    rules = copy.deepcopy(DEFAULT_DATA)
    key = data.draw(st.sampled_from(sorted(rules["factors"][name])) | st.text(min_size=1, max_size=8))
    rules["factors"][name][key] = data.draw(yaml_values)
    try:
        parse_rules(yaml.dump(rules, Dumper=yaml.CSafeDumper, allow_unicode=True), "fuzz.yaml")
    except InputError as error:
        assert error.line is not None and error.file == "fuzz.yaml"


def test_groups_that_are_not_a_mapping_are_refused_with_the_line() -> None:
    rules = yaml.safe_load(default_rules_text())
    rules["factors"]["access_to_children"]["groups"] = 1
    with pytest.raises(InputError, match=r"fuzz\.yaml:\d+"):
        parse_rules(yaml.safe_dump(rules, allow_unicode=True), "fuzz.yaml")
