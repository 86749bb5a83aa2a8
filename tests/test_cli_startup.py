"""Every `threadline` command builds the whole Typer app first, so the CLI modules import the stage modules inside
the commands that run them: `threadline --help` or an empty ingest must not pay for Splink, FAISS, the web app or
the referral stage. This fails when someone adds a heavy import at the top of a module under threadline.cli.

threadline.locate is still imported: the `locate` command's default (DEFAULT_MIN_CONFIDENCE) and help text
(MMDB_ENV) come from it when the app is built."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY_PACKAGES = (
    "splink",
    "faiss",
    "fastapi",
    "starlette",
    "uvicorn",
    "pandas",
    "numpy",
    "pyarrow",
    "duckdb",
    "jinja2",
)
HEAVY_STAGES = (
    "threadline.web",
    "threadline.resolve",
    "threadline.refer",
    "threadline.rank",
    "threadline.track",
    "threadline.media",
    "threadline.synth",
)

PROBE = f"""
import json, sys
import threadline.cli.app
heavy = sorted(
    m for m in sys.modules
    if m.split(".")[0] in {HEAVY_PACKAGES!r} or m.split(".")[:2] in [s.split(".") for s in {HEAVY_STAGES!r}]
)
print(json.dumps(heavy))
"""


def test_building_the_cli_imports_no_stage_module() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True)
    heavy = json.loads(done.stdout)
    assert heavy == [], f"importing threadline.cli.app pulled in {heavy}; import them inside the command instead"
