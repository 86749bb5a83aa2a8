"""What a synth run produced, as numbers the CLI, tests and benchmark print alike."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SynthReport:
    out: Path
    people: int
    countries: int  # countries that actually received people
    records: dict[str, int] = field(default_factory=dict)  # seizure file name -> records written
    malformed_rows: int = 0
    media_files: int = 0
    known_hashes: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["out"] = str(self.out)
        return d
