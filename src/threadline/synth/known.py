"""The known-material set a coordinating agency would hold, in Project VIC's VICS OData JSON and as a PDQ list.

It holds the originals some seized files derive from, plus many decoy entries with random hashes, so that matches
are a small fraction of the set as in real life. Categories and series are random labels on abstract images.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

VICS_METADATA = "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/1.3.xml/CUSTOM/$metadata#Media"


@dataclass(frozen=True, slots=True)
class KnownEntry:
    media_id: int
    md5: str
    sha1: str
    size: int
    pdq: str
    quality: int
    file_name: str
    decoy: bool


def decoys(n: int, rng: random.Random) -> list[tuple[str, str, int, str, int]]:
    """``n`` random (md5, sha1, size, pdq, quality) tuples standing for the rest of a known set."""
    return [
        (
            f"{rng.getrandbits(128):032x}",
            f"{rng.getrandbits(160):040x}",
            rng.randrange(8_000, 2_000_000),
            f"{rng.getrandbits(256):064x}",
            rng.randrange(50, 101),
        )
        for _ in range(n)
    ]


def write_known(folder: Path, entries: list[KnownEntry], rng: random.Random) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    value = []
    for e in entries:
        value.append(
            {
                "MediaID": e.media_id,
                "MD5": e.md5.upper(),
                "SHA1": e.sha1.upper(),
                "Category": rng.choice((0, 1, 2, 3)),
                "Series": f"Series-{rng.randrange(1, 400):04d}" if rng.random() < 0.3 else "",
                "VictimIdentified": rng.random() < 0.2,
                "OffenderIdentified": rng.random() < 0.1,
                "IsDistributed": rng.random() < 0.7,
                "MediaFiles": [
                    {"FileName": e.file_name, "MD5": e.md5.upper(), "SHA1": e.sha1.upper(), "FileSize": e.size}
                ],
            }
        )
    doc = {"odata.metadata": VICS_METADATA, "value": value}
    (folder / "vics.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    (folder / "pdq.txt").write_text("".join(f"{e.pdq},{e.quality}\n" for e in entries), encoding="ascii")
    (folder / "README.txt").write_text(
        "Synthetic known-material hash set (Threadline synth). Every entry is invented; the images behind it are\n"
        "generated abstract patterns.\n\n"
        "vics.json  Project VIC VICS-style OData JSON (data model 1.3 subset): MediaID, MD5, SHA1, Category,\n"
        "           Series, VictimIdentified, OffenderIdentified, IsDistributed, MediaFiles[FileName, MD5, SHA1,\n"
        "           FileSize]. Most entries are decoys with random hashes, so matches are a small fraction.\n"
        "pdq.txt    One 'pdq_hex,quality' line per entry of vics.json, in the same order, for PDQ near matching\n"
        "           (Hamming distance <= 31 is the usual match threshold).\n",
        encoding="utf-8",
    )
