"""IP addresses to countries through a MaxMind-format database (.mmdb) that the user supplies.

Threadline ships no IP database: GeoLite2, DB-IP and IPinfo publish .mmdb files under their own licences, and
an agency may hold a commercial one. Set THREADLINE_MMDB or pass `--mmdb`. Read with `maxminddb`; the GeoIP2
layout (`country.iso_code`, `subdivisions[].iso_code`, `traits.is_anonymous_proxy`) and the flat layout of
IPinfo-style files (`country_code`) are both understood."""

from __future__ import annotations

import hashlib
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import maxminddb

from threadline.core.errors import InputError
from threadline.locate.places import subdivisions

MMDB_ENV = "THREADLINE_MMDB"


@dataclass(frozen=True, slots=True)
class IPPlace:
    country: str
    region: str | None
    anonymous: bool  # a proxy, VPN, hosting or Tor exit according to the database


def mmdb_path(explicit: Path | str | None = None) -> Path | None:
    """The database to use: the one given, else THREADLINE_MMDB, else none."""
    value = explicit if explicit is not None else os.environ.get(MMDB_ENV) or None
    return Path(value).expanduser() if value else None


def public_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address when it is globally routable; None for private, reserved, loopback, link-local or bad text."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if not address.is_global or address.is_multicast:
        return None
    return address


class IPLocator:
    """Looks addresses up in one .mmdb file, remembering answers (seizures repeat the same addresses)."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise InputError(
                f"IP database {path} not found: give a MaxMind-format .mmdb with --mmdb or THREADLINE_MMDB", file=path
            )
        try:
            self._reader = maxminddb.open_database(str(path))
        except (maxminddb.InvalidDatabaseError, ValueError, OSError) as exc:
            raise InputError(f"not a MaxMind-format database ({exc}): give a .mmdb file", file=path) from None
        self.path = path
        self.database_type = str(self._reader.metadata().database_type)
        self._cache: dict[str, IPPlace | None] = {}
        self.lookups = 0

    def sha256(self) -> str:
        digest = hashlib.sha256()
        with self.path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    def lookup(self, text: str) -> IPPlace | None:
        if text in self._cache:
            return self._cache[text]
        address = public_address(text)
        place = None
        if address is not None:
            self.lookups += 1
            try:
                found = self._reader.get(address)
            except (ValueError, maxminddb.InvalidDatabaseError):
                found = None
            place = _place(found) if isinstance(found, dict) else None
        self._cache[text] = place
        return place

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> IPLocator:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()


def _place(record: dict[str, Any]) -> IPPlace | None:
    country: str | None = None
    value = record.get("country")
    if isinstance(value, dict):
        country = value.get("iso_code")
    elif isinstance(value, str) and len(value) == 2:
        country = value
    country = country or record.get("country_code")
    if not isinstance(country, str) or len(country) != 2 or not country.isalpha():
        return None
    country = country.upper()
    region = None
    subs = record.get("subdivisions")
    if isinstance(subs, list):
        # Most specific last in GeoIP2; take the most specific one that ISO 3166-2 knows.
        for sub in reversed(subs):
            code = sub.get("iso_code") if isinstance(sub, dict) else None
            if isinstance(code, str) and f"{country}-{code.upper()}" in subdivisions():
                region = f"{country}-{code.upper()}"
                break
    traits = record.get("traits")
    anonymous = isinstance(traits, dict) and any(
        traits.get(k) for k in ("is_anonymous_proxy", "is_anonymous", "is_anonymous_vpn", "is_tor_exit_node")
    )
    return IPPlace(country=country, region=region, anonymous=bool(anonymous))
