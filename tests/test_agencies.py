"""The agency directory: a national point of contact everywhere, imports that are all-or-nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from threadline.core import audit
from threadline.core.db import Store
from threadline.core.errors import InputError, NotFoundError
from threadline.directory import find_agency, import_agencies, national_agency, seed_national_agencies
from threadline.model import Agency

YAML_FILE = """\
agencies:
  - name: Bayerisches Landeskriminalamt
    country: DE
    region: DE-BY
    contact: lka@example.invalid
  - name: Kriminalpolizei München
    country: DEU
    region: BY
    parent: Bayerisches Landeskriminalamt
    kind: local
"""


def _count(store: Store) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(Agency)) or 0


def _seeded(store: Store) -> Store:
    with store.session() as session:
        seed_national_agencies(session, actor="test")
    return store


def test_every_country_has_a_national_agency(store: Store) -> None:
    with store.session() as session:
        created = seed_national_agencies(session, actor="test")
        assert created == 249
        assert seed_national_agencies(session, actor="test") == 0
        france = national_agency(session, "FR")
        assert france.name == "National Central Bureau — France"
        assert national_agency(session, "BO").name.endswith("Bolivia")
        assert audit.verify(session).ok


def test_yaml_import_builds_hierarchy(store: Store, tmp_path: Path) -> None:
    _seeded(store)
    path = tmp_path / "agencies.yaml"
    path.write_text(YAML_FILE, encoding="utf-8")
    with store.session() as session:
        report = import_agencies(session, path, actor="test")
    assert report.created == ["DE-BAYERISCHES-LANDESKRIMINALAMT", "DE-KRIMINALPOLIZEI-MUNCHEN"]
    with store.session() as session:
        local = find_agency(session, "DE-KRIMINALPOLIZEI-MUNCHEN")
        assert local.kind == "local" and local.region == "DE-BY"
        assert local.parent is not None and local.parent.name == "Bayerisches Landeskriminalamt"
        assert local.parent.parent is not None and local.parent.parent.code == "DE"


def test_reimport_is_idempotent_and_updates_changes(store: Store, tmp_path: Path) -> None:
    _seeded(store)
    path = tmp_path / "agencies.yaml"
    path.write_text(YAML_FILE, encoding="utf-8")
    with store.session() as session:
        import_agencies(session, path, actor="test")
    before = _count(store)
    with store.session() as session:
        again = import_agencies(session, path, actor="test")
    assert again.created == [] and again.updated == [] and len(again.unchanged) == 2
    path.write_text(YAML_FILE.replace("lka@example.invalid", "new@example.invalid"), encoding="utf-8")
    with store.session() as session:
        changed = import_agencies(session, path, actor="test")
    assert changed.updated == ["DE-BAYERISCHES-LANDESKRIMINALAMT"]
    assert _count(store) == before


def test_csv_import_with_parent_later_in_file(store: Store, tmp_path: Path) -> None:
    _seeded(store)
    path = tmp_path / "agencies.csv"
    path.write_text(
        "name,country,region,parent,contact,kind,code\n"
        "Brigade locale,FR,FR-IDF,FR-REG,,local,\n"
        "Service régional,FR,FR-IDF,,,regional,FR-REG\n",
        encoding="utf-8",
    )
    with store.session() as session:
        report = import_agencies(session, path, actor="test")
        assert sorted(report.created) == ["FR-BRIGADE-LOCALE", "FR-REG"]
        assert find_agency(session, "FR-BRIGADE-LOCALE").parent.code == "FR-REG"  # type: ignore[union-attr]


def test_national_row_replaces_generic_contact(store: Store, tmp_path: Path) -> None:
    _seeded(store)
    path = tmp_path / "n.csv"
    path.write_text("name,country,kind,contact\nNational Crime Agency,GB,national,ceop@example.invalid\n", "utf-8")
    with store.session() as session:
        report = import_agencies(session, path, actor="test")
        assert report.updated == ["GB"]
        assert national_agency(session, "GB").name == "National Crime Agency"


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        ("name,country\nA,DE\nB,ZZ\n", 3, "unknown country 'ZZ'"),
        ("name,country,parent\nA,DE,\nB,DE,NOPE\n", 3, "unknown parent agency 'NOPE'"),
        ("name,country,region\nA,DE,XX-99\n", 2, "unknown region"),
        ("name,country,region\nA,DE,FR-IDF\n", 2, "region"),
        ("name,country,kind\nA,DE,galactic\n", 2, "unknown kind"),
        ("name,country,parent\nA,DE,FR\n", 2, "is in FR, not DE"),
        ("name,country,code\nA,DE,X1\nB,DE,X1\n", 3, "already used on line 2"),
        ("name,country\n,DE\n", 2, "missing name"),
        ("name,country,colour\nA,DE,red\n", 1, "unknown column"),
        ('name,country\n"Multi\nline",DE\nB,ZZ\n', 4, "unknown country"),
    ],
)
def test_bad_rows_name_file_and_line_and_import_nothing(
    store: Store, tmp_path: Path, content: str, line: int, message: str
) -> None:
    _seeded(store)
    before = _count(store)
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as caught, store.session() as session:
        import_agencies(session, path, actor="test")
    assert caught.value.line == line
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert _count(store) == before


def test_bad_yaml_reports_its_line(store: Store, tmp_path: Path) -> None:
    _seeded(store)
    path = tmp_path / "bad.yaml"
    path.write_text("- name: A\n  country: DE\n- name: B\n  country: Atlantis\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.yaml:3: unknown country 'Atlantis'"), store.session() as session:
        import_agencies(session, path, actor="test")
    path.write_text("- name: A\n  country: [DE\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.yaml:\d+: not valid YAML"), store.session() as session:
        import_agencies(session, path, actor="test")


def test_find_agency_by_code_or_name(store: Store) -> None:
    _seeded(store)
    with store.session() as session:
        assert find_agency(session, "fr").code == "FR"
        assert find_agency(session, "National Central Bureau — Japan").code == "JP"
        with pytest.raises(NotFoundError, match="unknown agency 'XX-NOPE'"):
            find_agency(session, "XX-NOPE")
