from pathlib import Path

import pytest

from threadline.core.settings import load_settings, normalise_database_url


def test_default_database_is_sqlite_file_in_home(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path / "h")
    assert settings.url == f"sqlite:///{(tmp_path / 'h').resolve() / 'threadline.db'}"
    assert settings.is_sqlite


def test_environment_sets_home_and_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("THREADLINE_HOME", str(tmp_path / "env-home"))
    monkeypatch.setenv("THREADLINE_DATABASE_URL", "postgresql://u@db.example/x")
    settings = load_settings()
    assert settings.resolved_home == (tmp_path / "env-home").resolve()
    assert settings.url == "postgresql+psycopg://u@db.example/x"
    assert not settings.is_sqlite


def test_flags_override_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("THREADLINE_DATABASE_URL", "postgresql://u@db.example/x")
    settings = load_settings(home=tmp_path, database_url="sqlite:///other.db")
    assert settings.url == "sqlite:///other.db"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://a@b/c", "postgresql+psycopg://a@b/c"),
        ("postgresql://a@b/c", "postgresql+psycopg://a@b/c"),
        ("postgresql+psycopg://a@b/c", "postgresql+psycopg://a@b/c"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_database_url_forms_are_normalised(given: str, expected: str) -> None:
    assert normalise_database_url(given) == expected


def test_home_is_created_owner_only(tmp_path: Path) -> None:
    home = load_settings(home=tmp_path / "new").ensure_home()
    assert home.is_dir()
    assert home.stat().st_mode & 0o777 == 0o700
