"""Media triage by hash: seized files hashed (MD5, SHA-1, SHA-256, PDQ) and matched against known-material sets,
without anyone viewing them. See README.md in this folder for the index design.

Public face: `scan`, `import_hashes`, `remove_set`, `list_sets`, `triage` and their reports.
"""

from threadline.media.hashsets import ImportReport, RemoveReport, import_hashes, list_sets, remove_set
from threadline.media.scan import ScanReport, scan
from threadline.media.triage import DEFAULT_QUALITY, TriageReport, media_rows, triage

__all__ = [
    "DEFAULT_QUALITY",
    "ImportReport",
    "RemoveReport",
    "ScanReport",
    "TriageReport",
    "import_hashes",
    "list_sets",
    "media_rows",
    "remove_set",
    "scan",
    "triage",
]
