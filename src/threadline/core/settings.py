"""Where Threadline keeps its state, read from the environment or from command-line flags."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime settings.

    `THREADLINE_HOME` holds everything an installation owns (the embedded database, keys, indexes);
    `THREADLINE_DATABASE_URL` points elsewhere when a team shares a PostgreSQL server.
    """

    model_config = SettingsConfigDict(env_prefix="THREADLINE_", extra="ignore")

    home: Path = Field(default=Path(".threadline"))
    database_url: str | None = None

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def url(self) -> str:
        """The database URL in use: the configured one, or an SQLite file inside the home."""
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{self.resolved_home / 'threadline.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    def ensure_home(self) -> Path:
        """Create the home folder with owner-only permissions (it will hold private keys)."""
        home = self.resolved_home
        home.mkdir(parents=True, exist_ok=True)
        home.chmod(0o700)
        return home


def normalise_database_url(url: str) -> str:
    """Accept the URL forms people paste (`postgres://`, `postgresql://`) and pick the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def load_settings(home: Path | None = None, database_url: str | None = None) -> Settings:
    """Settings from the environment, overridden by explicit flags where given."""
    overrides: dict[str, object] = {}
    if home is not None:
        overrides["home"] = home
    if database_url is not None:
        overrides["database_url"] = database_url
    return Settings(**overrides)  # type: ignore[arg-type]
