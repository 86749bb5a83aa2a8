"""Settings of the web application, read from THREADLINE_WEB_* variables (or given by the caller)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="THREADLINE_WEB_", extra="ignore")

    # Mark cookies Secure and send HSTS. Turn on behind HTTPS (a reverse proxy); requests that arrive over
    # HTTPS get Secure cookies anyway.
    secure_cookies: bool = False
    session_idle_minutes: int = Field(default=30, ge=1)
    session_max_hours: int = Field(default=12, ge=1)
    # A username is locked for `lockout_minutes` after `lockout_failures` failed sign-ins within that window;
    # one address may fail `ip_failures` times per window before it is refused outright.
    lockout_failures: int = Field(default=5, ge=1)
    lockout_minutes: int = Field(default=15, ge=1)
    ip_failures: int = Field(default=30, ge=1)
    # Seconds between runs of the track sweep (overdue clocks, escalations) in the server; 0 turns it off.
    sweep_interval_s: int = Field(default=0, ge=0)
    # Worker processes of `threadline serve` (0: one per CPU core), and threads per worker that run pages.
    workers: int = Field(default=0, ge=0, le=64)
    threads: int = Field(default=10, ge=1, le=200)
    page_size: int = Field(default=50, ge=5, le=500)
    # Inbox counts per tier and clock are kept this long (seconds) per scope and worker, then refreshed in the
    # background while the old ones are still shown; 0 counts on every page.
    count_cache_s: float = Field(default=30.0, ge=0)
    # A user's agency subtree (the agencies whose leads they see) is kept this long per worker; an agency moved in
    # the directory takes effect within it (at once in the worker whose admin pages moved it); 0 reads it per request.
    scope_cache_s: float = Field(default=30.0, ge=0)
