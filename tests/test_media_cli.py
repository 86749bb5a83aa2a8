"""The media verbs on the command line: scan, hashes import/list/remove/quarantine, triage, export media."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from threadline.cli.app import app
from threadline.core.pdq import pdq_of_bytes

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def _jpeg(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize((160, 120))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def test_media_verbs_round_trip(db_url: str, tmp_path: Path) -> None:
    db = ("--db", db_url, "--home", str(tmp_path / "home"))
    media = tmp_path / "media"
    media.mkdir()
    for i in range(3):
        (media / f"{i}.jpg").write_bytes(_jpeg(i))
    known = tmp_path / "known.txt"
    known.write_text(f"{pdq_of_bytes(_jpeg(0))[0]},100\nnot-a-hash\n", encoding="utf-8")

    code, out, _ = invoke("media", "scan", str(media), "--owner", "u1", "--json", *db)
    assert code == 0 and json.loads(out)["hashed"] == 3
    code, out, _ = invoke("hashes", "import", str(known), "--name", "K", "--json", *db)
    assert code == 0 and json.loads(out)["quarantined"] == 1 and json.loads(out)["format"] == "pdq-list"
    code, out, _ = invoke("hashes", "quarantine", "K", "--json", *db)
    assert json.loads(out)[0]["line"] == 2
    code, out, _ = invoke("hashes", "list", "--json", *db)
    assert [s["name"] for s in json.loads(out)] == ["K"]
    code, out, _ = invoke("triage", "--json", *db)
    assert code == 0
    verdicts = json.loads(out)["verdicts"]
    assert verdicts["known-exact"] + verdicts["known-near"] == 1 and verdicts["novel"] == 2
    target = tmp_path / "media.csv"
    code, _, _ = invoke("export", "media", "-o", str(target), *db)
    with target.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 and rows[0]["hashset"] == "K" and rows[0]["verdict"] == "known-near"
    code, out, _ = invoke("hashes", "remove", "K", *db)
    assert code == 0
    code, _, err = invoke("hashes", "remove", "K", *db)
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1


def test_user_errors_are_one_line_and_exit_1(db_url: str, tmp_path: Path) -> None:
    db = ("--db", db_url, "--home", str(tmp_path / "home"))
    bad = tmp_path / "bad.csv"
    bad.write_text("name\nx\n", encoding="utf-8")
    code, _, err = invoke("hashes", "import", str(bad), *db)
    assert code == 1 and f"{bad}:1: no hash column" in err and err.count("\n") == 1
    code, _, err = invoke("media", "scan", str(tmp_path / "missing"), *db)
    assert code == 1 and "is not a folder" in err
    assert invoke("triage", "--engine", "nope", *db)[0] == 2
