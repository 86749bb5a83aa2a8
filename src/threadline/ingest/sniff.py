"""What a file is, judged by its content (the extension is only a hint), and how its text is encoded."""

from __future__ import annotations

import codecs
import hashlib
import re
from dataclasses import dataclass

from charset_normalizer import from_bytes

from threadline.ingest.sources import CHUNK, SeizedFile, is_zip

HEAD = 65536
# Anchored at line starts: unanchored, every position of every ASCII line was tried (quadratic per line).
_HIGH_LINES = re.compile(rb"(?m)^[^\n\x80-\xff]*[\x80-\xff][^\n]*")
_SAMPLE_LIMIT = 512 * 1024
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_HEADER_LINE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,40}:")
_MAIL_HEADERS = ("from:", "to:", "subject:", "date:", "message-id:", "received:", "return-path:", "mime-version:")


@dataclass(frozen=True)
class Fingerprint:
    sha256: str
    size: int
    head: bytes
    # Lines holding non-ASCII bytes, gathered from the whole file: a file can be plain ASCII for its first
    # megabyte and cp1252 further down, so the head alone cannot tell the encoding.
    high_sample: bytes


def fingerprint(file: SeizedFile) -> Fingerprint:
    """SHA-256, size, the first bytes and a sample of non-ASCII lines, in one read of the file."""
    digest = hashlib.sha256()
    size = 0
    head = b""
    sample = bytearray()
    with file.open() as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            if len(head) < HEAD:
                head += chunk[: HEAD - len(head)]
            size += len(chunk)
            if len(sample) < _SAMPLE_LIMIT and not chunk.isascii():
                for match in _HIGH_LINES.finditer(chunk):
                    sample += match.group(0) + b"\n"
                    if len(sample) >= _SAMPLE_LIMIT:
                        break
    return Fingerprint(digest.hexdigest(), size, head, bytes(sample))


@dataclass(frozen=True)
class Encoding:
    name: str  # a Python codec name
    bom: bool = False
    mixed: bool = False  # some lines are not valid in this encoding (they will be quarantined, not guessed)


def detect_encoding(fp: Fingerprint, declared: str | None = None) -> Encoding:
    if declared:
        try:
            return Encoding(codecs.lookup(declared).name)
        except LookupError:
            from threadline.core.errors import InputError

            raise InputError(
                f"unknown encoding {declared!r} in the mapping: use a name such as utf-8 or cp1252"
            ) from None
    for bom, name in _BOMS:
        if fp.head.startswith(bom):
            return Encoding(name, bom=True)
    head = fp.head[:4096]
    if len(head) >= 4 and head.count(b"\x00") > len(head) // 4:
        # UTF-16 without a byte-order mark: ASCII characters leave every other byte zero.
        zeros_even = head[0::2].count(0)
        zeros_odd = head[1::2].count(0)
        if zeros_odd > zeros_even * 3:
            return Encoding("utf-16-le")
        if zeros_even > zeros_odd * 3:
            return Encoding("utf-16-be")
    if not fp.high_sample:
        return Encoding("utf-8")
    lines = [line for line in fp.high_sample.split(b"\n") if line]
    bad = 0
    for line in lines:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            bad += 1
    if bad == 0:
        return Encoding("utf-8")
    if bad <= len(lines) // 10:
        return Encoding("utf-8", mixed=True)
    best = from_bytes(fp.high_sample).best()
    if best is None:
        return Encoding("cp1252", mixed=True)
    name = codecs.lookup(best.encoding).name
    # Short samples cannot tell single-byte Western code pages apart; where they read the sample
    # identically, say cp1252, the code page Western back-office software actually writes.
    if name != "cp1252" and _same_text(fp.high_sample, name, "cp1252"):
        return Encoding("cp1252")
    return Encoding(name)


def _same_text(sample: bytes, first: str, second: str) -> bool:
    try:
        return sample.decode(first) == sample.decode(second)
    except UnicodeDecodeError:
        return False


def _text_head(fp: Fingerprint, encoding: Encoding) -> str:
    return fp.head.decode(encoding.name, errors="replace").lstrip("\ufeff")


def is_binary(fp: Fingerprint, encoding: Encoding) -> bool:
    if encoding.name.startswith(("utf-16", "utf-32")):
        return False
    head = fp.head[:8192]
    if not head:
        return False
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return controls > len(head) // 20


# Signatures of media and document containers: the media stage hashes these; ingest never reads them.
_MEDIA_MAGIC = (
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
    b"\x1aE\xdf\xa3",
    b"OggS",
    b"ID3",
    b"fLaC",
)


def is_media(head: bytes) -> bool:
    if head.startswith(_MEDIA_MAGIC):
        return True
    if head[4:8] == b"ftyp":  # MP4, MOV, HEIC, 3GP
        return True
    return head.startswith(b"RIFF") and head[8:12] in (b"WEBP", b"AVI ", b"WAVE")


def sniff_format(file: SeizedFile, fp: Fingerprint, encoding: Encoding) -> str:
    """One of: empty, media, pdf, xlsx, zip, vcard, mbox, eml, json, jsonl, delimited, binary, text."""
    if fp.size == 0:
        return "empty"
    if is_media(fp.head):
        return "media"
    if fp.head.startswith(b"%PDF-"):
        return "pdf"
    if fp.head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "ole"
    if is_zip(fp.head):
        return "xlsx" if b"xl/" in fp.head or file.name.lower().endswith((".xlsx", ".xlsm")) else "zip"
    if is_binary(fp, encoding):
        return "binary"
    text = _text_head(fp, encoding)
    stripped = text.lstrip()
    lines = [line for line in text.splitlines()[:20]]
    if stripped.upper().startswith("BEGIN:VCARD"):
        return "vcard"
    if text.startswith("From ") and any(_HEADER_LINE.match(line) for line in lines[1:6]):
        return "mbox"
    header_block = []
    for line in lines:
        if not line.strip():
            break
        header_block.append(line)
    headers_only = all(_HEADER_LINE.match(line) or line[:1] in (" ", "\t") for line in header_block)
    if header_block and headers_only and sum(line.lower().startswith(_MAIL_HEADERS) for line in header_block) >= 2:
        return "eml"
    if stripped.startswith("["):
        return "json"
    if stripped.startswith("{"):
        first_lines = [line.strip() for line in stripped.splitlines()[:20] if line.strip()]
        objects = sum(1 for line in first_lines if line.startswith("{") and line.endswith("}"))
        if len(first_lines) > 1 and objects * 2 >= len(first_lines):
            return "jsonl"
        return "json"
    if guess_delimiter(text) is not None:
        return "delimited"
    if file.name.lower().endswith((".csv", ".tsv", ".tab", ".psv")) and lines and lines[0].strip():
        return "delimited"  # a table of one column (a list of e-mail addresses, say)
    return "text"


DELIMITERS = (",", ";", "\t", "|")


def guess_delimiter(text: str) -> str | None:
    """The delimiter whose count per line is most consistent across the first lines (quotes respected)."""
    lines = [line for line in _logical_lines(text)[:50] if line.strip()]
    if not lines:
        return None
    best: tuple[float, str] | None = None
    for delimiter in DELIMITERS:
        counts = [_count_outside_quotes(line, delimiter) for line in lines]
        if counts[0] == 0:
            continue
        consistent = sum(1 for c in counts if c == counts[0]) / len(counts)
        score = consistent * 10 + min(counts[0], 30) / 30
        if best is None or score > best[0]:
            best = (score, delimiter)
    return best[1] if best else None


def _logical_lines(text: str) -> list[str]:
    """Lines, with quoted newlines kept inside their field."""
    out: list[str] = []
    current: list[str] = []
    quoted = False
    for line in text.split("\n"):
        current.append(line)
        quoted ^= line.count('"') % 2 == 1
        if not quoted:
            out.append("\n".join(current))
            current = []
    return out


def _count_outside_quotes(line: str, delimiter: str) -> int:
    count = 0
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif ch == delimiter and not quoted:
            count += 1
    return count
