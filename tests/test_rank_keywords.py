"""The text normaliser and the access-to-children vocabulary: per language, gender forms, scripts, and the
false positives it must avoid (university professors, personal trainers, plant nurseries, surnames)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threadline.rank.gather import Record
from threadline.rank.keywords import KeywordError, KeywordSet, compile_keyword, normalise
from threadline.rank.rules import default_rules_text, parse_rules
from threadline.rank.score import AccessMatcher

RULES = parse_rules(default_rules_text())
MATCHER = AccessMatcher(RULES.access)


def groups(occupation: str | None = None, organisation: str | None = None, **extra: str) -> set[str]:
    fields: dict[str, object] = {}
    if occupation is not None:
        fields["occupation"] = occupation
    if organisation is not None:
        fields["organisation"] = organisation
    if extra:
        fields["extra"] = extra
    record = Record(1, "customer", 1, 2, "2", fields)
    return {RULES.access.groups[i].name for _, _, i, _ in MATCHER.record_hits(record)}


# ------------------------------------------------------------------------------------------------ normaliser


def test_normalise_folds_case_accents_scripts_and_apostrophes() -> None:
    assert normalise("Учительница") == "uchitelnitsa"
    assert normalise("LEHRERIN") == "lehrerin"
    assert normalise("Enseignante") == normalise("ENSEIGNANTE") == "enseignante"
    assert normalise("famille d’accueil") == "famille daccueil"
    assert normalise("Kinder- und Jugendpsychiater") == "kinder und jugendpsychiater"
    assert normalise("ｔｅａｃｈｅｒ") == "teacher"  # full-width forms
    assert normalise("小学教师") == "xiao xue jiao shi"  # one word per character
    assert normalise("مُعَلِّمة") == "معلمه"  # Arabic stays Arabic, without vowel marks, ة as ه
    assert normalise("  --  ") == ""


@given(st.text(max_size=60))
def test_normalise_is_idempotent_and_gives_single_spaced_words(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once
    assert once == once.strip() and "  " not in once
    assert all(ch.isalnum() or ch == " " for ch in once)


@given(
    st.text(alphabet=st.characters(categories=["L", "N", "P", "Z"]), max_size=20),
    st.text(alphabet=st.characters(categories=["L", "N", "P", "Z"]), max_size=20),
)
def test_a_keyword_matches_between_any_words_and_never_inside_one(before: str, after: str) -> None:
    keyword = KeywordSet([compile_keyword("teacher")])
    assert keyword.find(normalise(f"{before} Teacher {after}")) == ["teacher"]
    glued = normalise(f"{before}x") + "teacher"
    assert keyword.find(glued) == []


@pytest.mark.parametrize(
    ("keyword", "text", "hit"),
    [
        ("lehrer*", "Lehrerin", True),
        ("lehrer*", "Grundschullehrerin", False),
        ("*lehrer*", "Grundschullehrerin", True),
        ("trener", "trenerka", False),
        ("trener*", "trenerka", True),
        ("school bus*", "School-Bus Driver", True),
        ("school bus*", "bus school", False),
        ("教师", "小学教师", True),
        ("ครู", "ครูใหญ่", True),
    ],
)
def test_wildcards_and_phrases(keyword: str, text: str, hit: bool) -> None:
    assert bool(KeywordSet([compile_keyword(keyword)]).find(normalise(text))) is hit


@pytest.mark.parametrize(
    ("keyword", "reason"),
    [
        ("", "empty"),
        ("*", "letters beside"),
        ("le*rer", "may only begin or end"),
        ("ab*", "at least 3"),
        ("x", "short"),
    ],
)
def test_unusable_keywords_are_refused_with_the_reason(keyword: str, reason: str) -> None:
    with pytest.raises(KeywordError, match=reason):
        compile_keyword(keyword)


# ------------------------------------------------------------------------------------- the shipped vocabulary


@pytest.mark.parametrize(
    ("occupation", "group"),
    [
        ("Teacher", "teaching"),
        ("Lehrerin", "teaching"),
        ("Grundschullehrer", "teaching"),
        ("enseignante", "teaching"),
        ("maestra", "teaching"),
        ("insegnante", "teaching"),
        ("lerares", "teaching"),
        ("nauczycielka", "teaching"),
        ("учительница", "teaching"),
        ("uchitel'nitsa", "teaching"),  # romanised as anyascii does
        ("вчителька", "teaching"),
        ("δασκάλα", "teaching"),
        ("öğretmen", "teaching"),
        ("förskollärare", "teaching"),
        ("opettaja", "teaching"),
        ("tanárnő", "teaching"),
        ("professora", "teaching"),  # Portuguese: a school teacher
        ("小学教师", "teaching"),
        ("교사", "teaching"),
        ("מורה", "teaching"),
        ("معلمة", "teaching"),
        ("शिक्षिका", "teaching"),
        ("Kinderärztin", "child_health"),
        ("pédiatre", "child_health"),
        ("paediatric nurse", "child_health"),
        ("school nurse", "child_health"),
        ("педиатр", "child_health"),
        ("Jugendpfarrerin", "clergy_youth_ministry"),
        ("youth pastor", "clergy_youth_ministry"),
        ("ksiądz", "clergy_youth_ministry"),
        ("sacerdote", "clergy_youth_ministry"),
        ("Pfadfinderleiterin", "youth_work"),
        ("cheftaine scoute", "youth_work"),
        ("вожатая", "youth_work"),
        ("harcmistrzyni", "youth_work"),
        ("sports coach", "sports_coaching"),
        ("Jugendtrainer", "sports_coaching"),
        ("entraîneuse sportive", "sports_coaching"),
        ("тренер", "sports_coaching"),
        ("childminder", "childcare"),
        ("Tagesmutter", "childcare"),
        ("assistante maternelle", "childcare"),
        ("niñera", "childcare"),
        ("няня", "childcare"),
        ("保育士", "childcare"),
        ("foster parent", "foster_adoptive"),
        ("Pflegemutter", "foster_adoptive"),
        ("famille d'accueil", "foster_adoptive"),
        ("pleegouder", "foster_adoptive"),
        ("приёмный родитель", "foster_adoptive"),
        ("school bus driver", "school_transport"),
        ("Schulbusfahrerin", "school_transport"),
        ("conductora de autobús escolar", "school_transport"),
    ],
)
def test_roles_with_access_to_children_are_found_in_many_languages(occupation: str, group: str) -> None:
    assert group in groups(occupation)


@pytest.mark.parametrize(
    "occupation",
    [
        "accountant",
        "Krankenschwester",  # a nurse, not a children's nurse
        "software developer",
        "Koch",  # a German cook; Hindi "coach" romanises to koc, not koch
        "Associate Professor",
        "Professor of Physics, University of Leeds",
        "profesor universitario",
        "Hochschullehrer",
        "Fahrlehrer",
        "driving instructor",
        "personal trainer",
        "Fitnesstrainerin",
        "life coach",
        "coach driver",
        "talent scout",
        "plant nursery manager",
        "Dizajnér, interiér / priestor",  # Slovak "priestor" is a space, not a priest
        "Pastörizör",  # Turkish: a pasteuriser operator
        "Nauczyciel akademicki",
        "Učiteľ, vzdelávanie dospelých",  # adult education
        "mestre de obras",  # Portuguese: a foreman
        "教育訓練人員",  # corporate training staff, not a school teacher
        "MLM distributor",  # must not meet Arabic معلم romanised
        "youth hostel warden",
        "animateur radio",
    ],
)
def test_look_alikes_are_not_access_to_children(occupation: str) -> None:
    assert groups(occupation) == set()


def test_employers_count_only_as_institutions_and_surnames_do_not() -> None:
    assert groups("accountant", "St Mary's Primary School") == {"teaching"}
    assert groups("cook", "Kindergarten Sonnenschein") == {"teaching", "childcare"}
    assert groups("clerk", "Kita Regenbogen gGmbH") == {"childcare"}
    # Role words in an employer's name are surnames there: Foster + Partners, Lehrer GmbH.
    assert groups("architect", "Foster + Partners") == set()
    assert groups("engineer", "Lehrer GmbH") == set()
    assert groups("accountant", "Heiskanen Eskola Oy") == set()  # a Finnish surname ending in -skola
    assert groups("accountant", "University of Vienna, School of Law") == set()


def test_volunteer_roles_are_read_from_unmapped_columns() -> None:
    assert groups("engineer", Volunteering="Cub Scout leader") == {"youth_work"}
    assert groups("engineer", Ehrenamt="Übungsleiter im Sportverein") == {"sports_coaching"}
    assert groups("engineer", Notes="Cub Scout leader") == set()  # notes are not a role column
