"""Forensic media hash lists (the export of a forensic tool): path, size and hashes of every seized file.

They feed `MediaItem`, which the media stage triages against known-material sets. No media is read here."""

from __future__ import annotations

import re
from typing import Any

from threadline.ingest.columns import header_key

# Canonical media column -> header spellings (compared after header_key folding).
MEDIA_COLUMNS: dict[str, tuple[str, ...]] = {
    "path": (
        "path",
        "full path",
        "fullpath",
        "file path",
        "filepath",
        "logical path",
        "item path",
        "dateipfad",
        "chemin",
        "ruta",
    ),
    "name": ("file name", "filename", "name", "dateiname", "nom du fichier", "nombre de archivo"),
    "size": ("size", "file size", "filesize", "logical size", "size bytes", "bytes", "größe", "taille", "tamaño"),
    "md5": ("md5", "md5 hash", "md5 digest", "hash md5"),
    "sha1": ("sha1", "sha-1", "sha1 hash", "hash sha1"),
    "sha256": ("sha256", "sha-256", "sha256 hash", "hash sha256"),
    "pdq": ("pdq", "pdq hash", "pdqhash"),
    "pdq_quality": ("pdq quality", "quality", "pdqquality"),
    "device": ("device", "evidence", "evidence item", "source", "image", "exhibit", "media source", "asservat"),
    "custodian": ("custodian", "owner", "user", "account", "uploader"),
}
_KEYS = {header_key(s): field for field, spellings in MEDIA_COLUMNS.items() for s in spellings}
_HEX_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "pdq": 64}
_HEX = re.compile(r"^[0-9a-f]+$")


def media_columns(headers: list[str]) -> dict[str, str] | None:
    """Which header is which media field, if this table is a media hash list (a hash column and a path or name)."""
    found: dict[str, str] = {}
    for header in headers:
        field = _KEYS.get(header_key(header))
        if field and field not in found:
            found[field] = header
    has_hash = any(k in found for k in _HEX_LENGTHS)
    has_place = "path" in found or "name" in found
    return found if has_hash and has_place else None


def media_row(raw: dict[str, str], columns: dict[str, str]) -> tuple[dict[str, Any] | None, str | None]:
    """The MediaItem values of one row, or the reason it must be quarantined."""
    values = {field: raw.get(header, "").strip() for field, header in columns.items()}
    path = values.get("path") or values.get("name")
    if not path:
        return None, "no path or file name"
    item: dict[str, Any] = {"path": path}
    for field, length in _HEX_LENGTHS.items():
        value = values.get(field, "").lower()
        if value.startswith("0x"):
            value = value[2:]
        if not value:
            continue
        if len(value) != length or not _HEX.match(value):
            return None, f"{field} {values[field]!r} is not {length} hexadecimal characters"
        item[field] = value
    if not any(f in item for f in _HEX_LENGTHS):
        return None, "no hash in this row"
    for field in ("size", "pdq_quality"):
        value = values.get(field, "").replace(",", "").replace(" ", "")
        if not value:
            continue
        if not value.isdigit():
            return None, f"{field} {values[field]!r} is not a whole number"
        item[field] = int(value)
    if item.get("pdq_quality") is not None and not 0 <= item["pdq_quality"] <= 100:
        return None, f"pdq quality {item['pdq_quality']} is outside 0-100"
    for field in ("device", "custodian"):
        if values.get(field):
            item[field] = values[field][:200]
    return item, None
