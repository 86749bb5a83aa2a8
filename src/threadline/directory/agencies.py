"""Agencies: a national point of contact for every country, and regional or local ones imported below them.

Every lead must always have a destination, so the directory starts with one generic national agency per
ISO 3166-1 country; an operation replaces the generic names with real contacts by importing a file.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from anyascii import anyascii
from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.core import audit
from threadline.core.errors import ConflictError, InputError, NotFoundError
from threadline.core.geo import all_countries, require_country, require_region
from threadline.model import AGENCY_KINDS, Agency

IMPORT_COLUMNS = ("code", "name", "country", "region", "parent", "contact", "kind")


def national_name(country_name: str) -> str:
    return f"National Central Bureau — {country_name}"


def seed_national_agencies(session: Session, *, actor: str = "system") -> int:
    """Create the national agency of every country that lacks one. Idempotent; returns how many were made."""
    existing = set(session.scalars(select(Agency.country).where(Agency.kind == "national")))
    created = 0
    for code, name in all_countries():
        if code in existing:
            continue
        session.add(Agency(code=code, name=national_name(name), kind="national", country=code, is_default=True))
        created += 1
    if created:
        session.flush()
        audit.record(session, actor=actor, action="agency.seed", object_type="agency", details={"created": created})
    return created


def national_agency(session: Session, country: str) -> Agency:
    agency = session.scalars(
        select(Agency).where(Agency.country == country, Agency.kind == "national").order_by(Agency.id)
    ).first()
    if agency is None:
        raise NotFoundError(f"no national agency for {country}: run `threadline init` to create the directory")
    return agency


def find_agency(session: Session, ref: str) -> Agency:
    """An agency by its code ("FR", "DE-BKA") or, failing that, by its exact name."""
    agency = session.scalars(select(Agency).where(Agency.code == ref.strip())).first()
    if agency is None:
        agency = session.scalars(select(Agency).where(Agency.code == ref.strip().upper())).first()
    if agency is None:
        matches = list(session.scalars(select(Agency).where(Agency.name == ref.strip())))
        if len(matches) > 1:
            raise ConflictError(f"{len(matches)} agencies are named {ref!r}: give the agency code instead")
        agency = matches[0] if matches else None
    if agency is None:
        raise NotFoundError(f"unknown agency {ref!r}: see `threadline agencies list`")
    return agency


@dataclass
class AgencyImport:
    """What an import did."""

    file: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
        }


@dataclass
class _Row:
    line: int
    values: dict[str, str]


def _slug(text: str) -> str:
    """An ASCII code from any script ("Kriminalpolizei München" -> "KRIMINALPOLIZEI-MUNCHEN")."""
    return re.sub(r"[^A-Z0-9]+", "-", anyascii(text).upper()).strip("-")[:50]


def _rows(path: Path) -> Iterator[_Row]:
    """Rows of a CSV or YAML agency file with their line numbers."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError("file not found", file=path) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason}): save the file as UTF-8", file=path) from None
    if path.suffix.lower() in (".yaml", ".yml"):
        yield from _yaml_rows(path, text)
        return
    reader = csv.DictReader(text.splitlines(keepends=True))
    if reader.fieldnames is None:
        raise InputError("the file is empty: expected a header line with name,country,...", file=path, line=1)
    headers = [h.strip().lower() for h in reader.fieldnames]
    unknown = [h for h in headers if h not in IMPORT_COLUMNS]
    if unknown:
        raise InputError(
            f"unknown column(s) {', '.join(unknown)}: allowed are {', '.join(IMPORT_COLUMNS)}",
            file=path,
            line=1,
        )
    reader.fieldnames = headers
    start = 2
    for raw in reader:
        if None in raw:
            raise InputError("more values than columns in this row", file=path, line=start)
        yield _Row(start, {k: (v or "").strip() for k, v in raw.items()})
        start = reader.line_num + 1


def _yaml_rows(path: Path, text: str) -> Iterator[_Row]:
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return
        if isinstance(root, yaml.MappingNode):
            # Accept {"agencies": [...]} as well as a bare list.
            for key, value in root.value:
                if key.value == "agencies":
                    root = value
        if not isinstance(root, yaml.SequenceNode):
            raise InputError(
                "expected a list of agencies (or agencies: [...])", file=path, line=root.start_mark.line + 1
            )
        for item in root.value:
            line = item.start_mark.line + 1
            data = loader.construct_object(item, deep=True)
            if not isinstance(data, dict):
                raise InputError("each agency must be a mapping of name, country, ...", file=path, line=line)
            unknown = [str(k) for k in data if str(k).lower() not in IMPORT_COLUMNS]
            if unknown:
                raise InputError(
                    f"unknown field(s) {', '.join(unknown)}: allowed are {', '.join(IMPORT_COLUMNS)}",
                    file=path,
                    line=line,
                )
            yield _Row(line, {str(k).lower(): "" if v is None else str(v).strip() for k, v in data.items()})
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(
            f"not valid YAML ({getattr(exc, 'problem', exc)})",
            file=path,
            line=mark.line + 1 if mark else None,
        ) from None
    finally:
        loader.dispose()


@dataclass
class _Planned:
    line: int
    code: str
    name: str
    country: str
    region: str | None
    kind: str
    contact: str | None
    parent_ref: str | None
    parent_code: str | None = None


def _plan_row(row: _Row, path: Path, seen_codes: dict[str, int]) -> _Planned:
    v = row.values

    def fail(message: str) -> InputError:
        return InputError(message, file=path, line=row.line)

    if not v.get("name"):
        raise fail("missing name")
    if not v.get("country"):
        raise fail("missing country: give an ISO 3166-1 code such as FR")
    country = require_country(v["country"], file=str(path), line=row.line)
    region = require_region(v["region"], country, file=str(path), line=row.line) if v.get("region") else None
    kind = (v.get("kind") or ("regional" if region else "local")).lower()
    if kind not in AGENCY_KINDS:
        raise fail(f"unknown kind {kind!r}: use one of {', '.join(AGENCY_KINDS)}")
    # A national row without a code replaces the country's generic point of contact.
    default_code = country if kind == "national" else f"{country}-{_slug(v['name'])}"
    code = (v.get("code") or default_code).upper()
    if kind == "national" and v.get("parent"):
        raise fail("a national agency has no parent: leave parent empty")
    if code in seen_codes:
        raise fail(f"agency code {code} is already used on line {seen_codes[code]}")
    seen_codes[code] = row.line
    return _Planned(
        line=row.line,
        code=code,
        name=v["name"],
        country=country,
        region=region,
        kind=kind,
        contact=v.get("contact") or None,
        parent_ref=v.get("parent") or None,
    )


def _resolve_parent(
    session: Session, p: _Planned, path: Path, stored: dict[str, Agency], planned: list[_Planned]
) -> None:
    """Parents may be named by code or by name, already stored or anywhere in the same file."""

    def fail(message: str) -> InputError:
        return InputError(message, file=path, line=p.line)

    in_file = {q.code: q for q in planned}
    ref = p.parent_ref
    if ref is None:
        code = None if p.kind == "national" else p.country
    elif ref.upper() in stored or ref.upper() in in_file:
        code = ref.upper()
    else:
        candidates = {q.code for q in planned if q.name == ref and q.country == p.country}
        candidates |= {a.code for a in stored.values() if a.name == ref}
        if len(candidates) != 1:
            raise fail(f"unknown parent agency {ref!r}: give the code of an agency in the directory or in this file")
        code = candidates.pop()
    if code is not None:
        if code == p.code:
            raise fail("an agency cannot be its own parent")
        if code not in stored and code not in in_file:
            raise fail(f"parent agency {code} does not exist: run `threadline init` first")
        parent_country = stored[code].country if code in stored else in_file[code].country
        if parent_country != p.country:
            raise fail(f"parent agency {code} is in {parent_country}, not {p.country}")
    clash = session.scalars(
        select(Agency).where(Agency.country == p.country, Agency.name == p.name, Agency.code != p.code)
    ).first()
    if clash is not None:
        raise fail(f"agency {p.name!r} already exists in {p.country} as {clash.code}: use that code to update it")
    p.parent_code = code


def import_agencies(session: Session, path: Path, *, actor: str) -> AgencyImport:
    """Add or update agencies from a CSV or YAML file (name, country, region, parent, contact, kind, code).

    The whole file is checked before anything is written: one bad row stops the import with its line
    number and the database is unchanged. Importing the same file again changes nothing."""
    seen_codes: dict[str, int] = {}
    planned = [_plan_row(row, path, seen_codes) for row in _rows(path)]
    stored = {a.code: a for a in session.scalars(select(Agency))}
    for p in planned:
        _resolve_parent(session, p, path, stored, planned)

    report = AgencyImport(file=str(path))
    pending = list(planned)
    while pending:  # parents before children, so every foreign key points at a stored row
        ready = [p for p in pending if p.parent_code is None or p.parent_code in stored]
        if not ready:
            raise InputError("parent agencies refer to each other in a cycle", file=path, line=pending[0].line)
        for p in ready:
            pending.remove(p)
            wanted: dict[str, Any] = {
                "name": p.name,
                "country": p.country,
                "region": p.region,
                "kind": p.kind,
                "contact": p.contact,
                "parent_id": stored[p.parent_code].id if p.parent_code else None,
            }
            agency = stored.get(p.code)
            if agency is None:
                agency = Agency(code=p.code, is_default=False, **wanted)
                session.add(agency)
                session.flush()
                stored[p.code] = agency
                report.created.append(p.code)
            elif all(getattr(agency, k) == val for k, val in wanted.items()):
                report.unchanged.append(p.code)
            else:
                for k, val in wanted.items():
                    setattr(agency, k, val)
                agency.is_default = False
                report.updated.append(p.code)
    if report.created or report.updated:
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="agency.import",
            object_type="agency",
            details={"file": path.name, "created": report.created, "updated": report.updated},
        )
    return report
