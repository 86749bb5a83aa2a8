"""Agency keys: generation into owner-only files, public export and import, signing and encryption helpers,
and the `threadline keys` verbs (SQLite and PostgreSQL)."""

from __future__ import annotations

import contextlib
import json
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st
from pyrage import x25519
from sqlalchemy import select
from typer.testing import CliRunner

from refer_builder import agency
from threadline.cli.app import app
from threadline.core.db import Store
from threadline.core.errors import ConflictError, InputError, NotFoundError
from threadline.directory import seed_national_agencies
from threadline.model import AgencyKey, AuditEvent
from threadline.refer.keys import (
    SignatureError,
    age_recipients,
    decrypt_bytes,
    encrypt_bytes,
    export_keys,
    generate_keys,
    import_keys,
    list_keys,
    load_identity,
    local_identities,
    parse_public_keys,
    sign_bytes,
    signing_fingerprint,
    signing_key,
    signing_public_text,
    verify_bytes,
    verify_keys,
)


def _generate(store: Store, code: str = "DE") -> dict[str, str]:
    with store.session() as session:
        seed_national_agencies(session)
        return generate_keys(store.settings, session, agency(session, code), actor="test").to_dict()


def test_generated_private_keys_live_only_in_owner_only_files(store: Store) -> None:
    made = _generate(store)
    folder = store.settings.resolved_home / "keys"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "DE").stat().st_mode) == 0o700
    for name in ("signing_key_file", "age_identity_file"):
        path = Path(made[name])
        assert path.parent.parent == folder
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "PRIVATE KEY" in Path(made["signing_key_file"]).read_text()
    assert "AGE-SECRET-KEY-1" in Path(made["age_identity_file"]).read_text()
    with store.session() as session:
        rows = list(session.scalars(select(AgencyKey)))
        assert {(r.kind, r.source, r.active) for r in rows} == {
            ("signing", "generated", True),
            ("age", "generated", True),
        }
        for row in rows:
            stored = " ".join(str(getattr(row, c.name)) for c in AgencyKey.__table__.columns)
            assert "PRIVATE" not in stored and "AGE-SECRET-KEY" not in stored
            assert row.private_key_file is not None and not Path(row.private_key_file).is_absolute()
        de = agency(session, "DE")
        private, row = signing_key(store.settings, session, de)
        assert row.fingerprint == made["signing_fingerprint"] == signing_fingerprint(private.public_key())
        assert age_recipients(session, de) == [made["age_recipient"]]
        assert [str(i.to_public()) for i in local_identities(store.settings, session, de)] == [made["age_recipient"]]
        audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "keys.generate")).one()
        assert audit.details["signing"] == made["signing_fingerprint"]


def test_generating_again_needs_rotate_which_retires_the_old_keys(store: Store) -> None:
    first = _generate(store)
    with pytest.raises(ConflictError, match="--rotate"):
        _generate(store)
    with store.session() as session:
        second = generate_keys(store.settings, session, agency(session, "DE"), actor="test", rotate=True)
    assert second.revoked == 2 and second.signing_fingerprint != first["signing_fingerprint"]
    with store.session() as session:
        de = agency(session, "DE")
        assert [k.fingerprint for k in verify_keys(session, de)] == [second.signing_fingerprint]
        retired = [r for r in list_keys(session, de) if not r["active"]]
        assert {r["fingerprint"] for r in retired} == {first["signing_fingerprint"], first["age_recipient"]}
        assert all(r["revoked_at"] is not None for r in retired)


def test_a_private_key_readable_by_others_is_refused(store: Store) -> None:
    made = _generate(store)
    Path(made["signing_key_file"]).chmod(0o644)
    with store.session() as session, pytest.raises(InputError, match="chmod 600"):
        signing_key(store.settings, session, agency(session, "DE"))


def test_no_key_means_a_clear_instruction(store: Store) -> None:
    with store.session() as session:
        seed_national_agencies(session)
        fr = agency(session, "FR")
        with pytest.raises(NotFoundError, match=r"keys generate --agency FR"):
            signing_key(store.settings, session, fr)
        with pytest.raises(NotFoundError, match=r"keys generate --agency FR"):
            export_keys(session, fr)
        assert age_recipients(session, fr) == []


def test_public_keys_travel_by_export_and_import(store: Store, tmp_path: Path) -> None:
    made = _generate(store, "CA")
    with store.session() as session:
        text = export_keys(session, agency(session, "CA"))
    assert "PRIVATE" not in text and "SECRET" not in text
    assert "agency: CA" in text and made["age_recipient"] in text
    exported = tmp_path / "ca.pub"
    exported.write_text(text)
    # Another installation of the same kind: here the same store, for agency NL acting as a partner of CA.
    with store.session() as session:
        seed_national_agencies(session)
        with pytest.raises(ConflictError, match="holds the keys of agency CA, not NL"):
            import_keys(session, agency(session, "NL"), exported, actor="test")
        with pytest.raises(ConflictError, match="holds agency CA's private keys"):
            import_keys(session, agency(session, "CA"), exported, actor="test")


def test_import_is_idempotent_and_replace_retires_older_keys(store: Store, tmp_path: Path) -> None:
    first_key = Ed25519PrivateKey.generate().public_key()
    first_age = x25519.Identity.generate().to_public()
    path = tmp_path / "fr.pub"
    path.write_text(f"agency: FR\ned25519: {signing_public_text(first_key)[8:]}\nage: {first_age}\n")
    with store.session() as session:
        seed_national_agencies(session)
        fr = agency(session, "FR")
        report = import_keys(session, fr, path, actor="test")
        assert len(report.added) == 2 and report.unchanged == []
        again = import_keys(session, fr, path, actor="test")
        assert again.added == [] and len(again.unchanged) == 2
        newer = Ed25519PrivateKey.generate().public_key()
        path.write_text(f"ed25519: {signing_public_text(newer)[8:]}\n")
        rotated = import_keys(session, fr, path, actor="test", replace=True)
        assert rotated.revoked == [signing_fingerprint(first_key)]
        assert [k.fingerprint for k in verify_keys(session, fr)] == [signing_fingerprint(newer)]
        assert age_recipients(session, fr) == [str(first_age)]  # the age key was not in the file: kept
        path.write_text(f"ed25519: {signing_public_text(first_key)[8:]}\n")
        with pytest.raises(ConflictError, match="was retired here"):
            import_keys(session, fr, path, actor="test")


def test_an_ssh_ed25519_line_is_accepted(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    key = Ed25519PrivateKey.generate().public_key()
    line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    _, signing, ages = parse_public_keys(line + " partner@example.invalid\n")
    assert signing == [signing_public_text(key)] and ages == []


@pytest.mark.parametrize(
    "text, message, line",
    [
        ("agency: FR\n-----BEGIN PRIVATE KEY-----\n", "this is a private key", 2),
        ("AGE-SECRET-KEY-1QQQQ\n", "this is a private key", 1),
        ("# keys\nage: age1notakey\n", "not a valid age recipient", 2),
        ("ed25519: AAAA\n", "32 bytes", 1),
        ("ed25519: !!!\n", "not valid base64", 1),
        ("hello\n", "expected 'agency: CODE'", 1),
        ("# nothing\n", "no public key found", None),
    ],
)
def test_bad_key_files_are_refused_with_the_line(text: str, message: str, line: int | None) -> None:
    with pytest.raises(InputError) as caught:
        parse_public_keys(text, file="keys.txt")
    assert message in caught.value.message
    assert caught.value.line == line and caught.value.file == "keys.txt"


@given(st.text(max_size=200))
def test_any_key_file_text_is_read_or_refused_cleanly(text: str) -> None:
    with contextlib.suppress(InputError):
        parse_public_keys(text)


def test_sign_and_verify_bytes() -> None:
    key = Ed25519PrivateKey.generate()
    other = Ed25519PrivateKey.generate()
    signature = sign_bytes(key, b"status file")
    assert len(signature) == 64
    assert verify_bytes([other.public_key(), key.public_key()], b"status file", signature) == signing_fingerprint(
        key.public_key()
    )
    with pytest.raises(SignatureError):
        verify_bytes([key.public_key()], b"status filE", signature)
    with pytest.raises(SignatureError):
        verify_bytes([other.public_key()], b"status file", signature)


def test_encrypt_and_decrypt_bytes(tmp_path: Path) -> None:
    identity = x25519.Identity.generate()
    data = encrypt_bytes(b"leads", [str(identity.to_public())])
    assert data.startswith(b"age-encryption.org/v1")
    assert decrypt_bytes(data, [identity]) == b"leads"
    with pytest.raises(InputError, match="not encrypted to the identity given"):
        decrypt_bytes(data, [x25519.Identity.generate()])
    with pytest.raises(InputError, match="not an age-encrypted file"):
        decrypt_bytes(b"PK\x03\x04", [identity])
    damaged = data[:-5] + bytes(b ^ 1 for b in data[-5:])
    with pytest.raises(InputError, match="damaged or was altered"):
        decrypt_bytes(damaged, [identity])
    with pytest.raises(InputError, match="no age recipient"):
        encrypt_bytes(b"x", [])


def test_identity_files_are_read_with_their_errors_located(tmp_path: Path) -> None:
    good = tmp_path / "id.txt"
    identity = x25519.Identity.generate()
    good.write_text(f"# created: now\n# public key: {identity.to_public()}\n{identity}\n")
    assert [str(i.to_public()) for i in load_identity(good)] == [str(identity.to_public())]
    bad = tmp_path / "bad.txt"
    bad.write_text("# comment\nssh-ed25519 AAAA\n")
    with pytest.raises(InputError) as caught:
        load_identity(bad)
    assert caught.value.line == 2 and "AGE-SECRET-KEY-1" in caught.value.message
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    with pytest.raises(InputError, match="no age identity"):
        load_identity(empty)


@pytest.mark.skipif(shutil.which("age") is None, reason="the age tool is not installed (apt-get install age)")
def test_the_age_tool_opens_what_threadline_encrypts_with_a_generated_identity(store: Store, tmp_path: Path) -> None:
    made = _generate(store)
    encrypted = tmp_path / "msg.age"
    encrypted.write_bytes(encrypt_bytes(b"hello from threadline", [made["age_recipient"]]))
    result = subprocess.run(
        ["age", "-d", "-i", made["age_identity_file"], str(encrypted)], capture_output=True, check=True, timeout=30
    )
    assert result.stdout == b"hello from threadline"


def test_keys_cli_generate_export_import_list(store: Store, tmp_path: Path) -> None:
    runner = CliRunner()
    where = ["--db", store.settings.url, "--home", str(store.settings.home)]
    result = runner.invoke(app, ["keys", "generate", "--agency", "CA", "--json", *where])
    assert result.exit_code == 0, result.stderr
    made = json.loads(result.stdout)
    assert made["agency"] == "CA" and made["age_recipient"].startswith("age1")
    result = runner.invoke(app, ["keys", "generate", "--agency", "CA", *where])
    assert result.exit_code == 1 and "--rotate" in result.stderr
    out = tmp_path / "ca.pub"
    assert runner.invoke(app, ["keys", "export", "--agency", "CA", "-o", str(out), *where]).exit_code == 0
    result = runner.invoke(app, ["keys", "export", "--agency", "CA", *where])
    assert result.stdout == out.read_text()
    partner = tmp_path / "nl.pub"
    partner.write_text(
        f"agency: NL\ned25519: {signing_public_text(Ed25519PrivateKey.generate().public_key())[8:]}\n"
        f"age: {x25519.Identity.generate().to_public()}\n"
    )
    result = runner.invoke(app, ["keys", "import", "--agency", "NL", str(partner), *where])
    assert result.exit_code == 0, result.stderr
    assert "2 key(s) added" in result.stdout
    result = runner.invoke(app, ["keys", "list", "--json", *where])
    rows = json.loads(result.stdout)
    assert [(r["agency"], r["kind"], r["private_key_here"]) for r in rows] == [
        ("CA", "age", True),
        ("CA", "signing", True),
        ("NL", "age", False),
        ("NL", "signing", False),
    ]
    result = runner.invoke(app, ["keys", "import", "--agency", "NL", str(tmp_path / "missing.pub"), *where])
    assert result.exit_code == 1 and "cannot read the key file" in result.stderr
