"""Ground truth: which person every written record belongs to, and what every media file is.

Evaluation of resolve, locate, rank and triage compares against these files, so they are written from the same
objects the seizure files are written from, at the moment each record is written.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from threadline.synth.people import Person

RECORD_COLUMNS = ("file", "locator", "source_record_id", "person_id", "malformed", "damage")
DAMAGE_KINDS = ("column_count", "quoting", "invalid_date", "binary", "truncated", "bad_header")


class RecordLog:
    """Streams truth/records.csv: one row per record written in any seizure file."""

    def __init__(self, path: Path) -> None:
        self._fh: TextIO = path.open("w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._fh, lineterminator="\n")
        self._writer.writerow(RECORD_COLUMNS)
        self.per_file: Counter[str] = Counter()
        self.malformed: Counter[str] = Counter()

    def add(self, file: str, locator: str | int, record_id: str, person_id: str, damage: str = "") -> None:
        if damage and damage not in DAMAGE_KINDS:
            raise ValueError(f"unknown damage kind {damage!r}")
        self._writer.writerow((file, locator, record_id, "" if damage else person_id, 1 if damage else 0, damage))
        self.per_file[file] += 1
        if damage:
            self.malformed[file] += 1

    def close(self) -> None:
        self._fh.close()


PEOPLE_COLUMNS = (
    "person_id",
    "given_name",
    "family_name",
    "country",
    "region",
    "date_of_birth",
    "occupation",
    "occupation_en",
    "access_to_children",
    "producer",
    "household_id",
    "orders",
    "first_order_year",
    "last_order_year",
    "given_name_latin",
    "family_name_latin",
    "email",
    "phone",
    "username",
    "locale",
)


def write_people(path: Path, people: list[Person]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(PEOPLE_COLUMNS)
        for p in people:
            w.writerow(
                (
                    p.person_id,
                    p.given.native,
                    p.family.native,
                    p.country.alpha2,
                    p.region_code,
                    p.dob.isoformat(),
                    p.occupation,
                    p.occupation_en,
                    int(p.access_to_children),
                    int(p.producer),
                    p.household_id,
                    p.order_count,
                    p.first_order_year or "",
                    p.last_order_year or "",
                    p.given.latin,
                    p.family.latin,
                    p.email,
                    p.phone.e164,
                    p.username,
                    p.country.locale,
                )
            )


MEDIA_COLUMNS = ("path", "status", "known_media_id", "edit", "uploader_person_id", "pdq_distance")


def write_media(path: Path, rows: list[tuple[str, str, str, str, str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(MEDIA_COLUMNS)
        w.writerows(rows)


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    path.write_text(json.dumps(summary, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
