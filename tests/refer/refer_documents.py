"""Varied leads documents (the structure of a package's leads.json), built in memory with a seeded random source,
for holding refer's fast renderers to their references: every optional part present and absent, values that need
HTML escaping, None where the schema allows it."""

from __future__ import annotations

import random
import uuid
from typing import Any

NASTY = ("", "O'Brien & <Sons>", 'say "hi"', "Zoë Ångström", "a\tb", "<script>x</script>", "  spaced  ", "1 < 2 > 0")


def _text(rng: random.Random, base: str) -> str:
    return rng.choice([base, base, base, f"{base} {rng.choice(NASTY)}"])


def _uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _agency(rng: random.Random, code: str) -> dict[str, Any]:
    return {
        "code": code,
        "name": _text(rng, f"Agency {code}"),
        "kind": rng.choice(["national", "regional", "local"]),
        "country": code[:2],
        "region": rng.choice([None, "BY", "Île-de-France"]),
    }


def _source(rng: random.Random, record: dict[str, Any]) -> dict[str, Any]:
    return {
        "record_id": record["record_id"],
        "seizure": rng.choice([record["seizure"], None, ""]),
        "file": record["file"],
        "file_sha256": record["file_sha256"],
        "row": record["row"],
        "locator": record["locator"],
    }


def _subject(rng: random.Random, subject_id: int) -> dict[str, Any]:
    files = [
        ("customers.csv", "a" * 64, 1200),
        ("mail/inbox & sent.mbox", "b" * 64, None),
        ("chats/'group'.json", "c" * 64, 99),
    ]
    records = []
    for n in range(rng.randrange(0, 5)):
        path, sha, size = rng.choice(files)
        record_id = subject_id * 100 + n
        fields: dict[str, Any] = {}
        for key in ("full_name", "email", "phone", "street", "city", "postal_code", "country", "ip", "amount"):
            if rng.random() < 0.6:
                fields[key] = rng.choice(
                    [_text(rng, f"{key} {n}"), 12, 3.5, ["x", "y & z"], f"{key}<{n}>", "2024-01-01T00:00:00"]
                )
        records.append(
            {
                "record_id": record_id,
                "record_type": rng.choice(["customer", "message", "payment"]),
                "record_key": rng.choice([f"K{record_id}", None, ""]),
                "seizure": rng.choice(["Seizure 1", "Laptop <A>"]),
                "file": path,
                "file_sha256": sha,
                "file_size": size,
                "row": rng.randrange(1, 10_000),
                "locator": rng.choice([str(rng.randrange(1, 99)), "message 3 from 1", None]),
                "match_probability": rng.choice([None, 0.97]),
                "fields": fields,
            }
        )
    identifiers = []
    for kind in rng.sample(["email", "phone", "ip", "username", "national_id"], rng.randrange(0, 4)):
        value = {
            "email": f"p{subject_id}@example.invalid",
            "phone": f"+1555{subject_id:07d}",
            "ip": rng.choice(["10.0.0.1", "2001:db8::1", "not-an-ip"]),
            "username": _text(rng, f"user{subject_id}"),
            "national_id": f"ID-{subject_id}",
        }[kind]
        sources = [_source(rng, r) for r in rng.sample(records, min(len(records), rng.randrange(0, 3)))]
        identifiers.append({"kind": kind, "value": value, "sources": sources})
    claims = [
        {
            "source": rng.choice(["address_country", "phone_prefix", "ip_geo"]),
            "value": _text(rng, "DE"),
            "country": rng.choice(["DE", "FR"]),
            "region": rng.choice([None, "BY"]),
            "weight": rng.choice([1.0, 0.5, 2]),
            "ambiguous": rng.random() < 0.3,
            "note": rng.choice([None, "", "two prefixes & more"]),
            "record_id": rng.choice([None, 5]),
            "file": rng.choice([None, "customers.csv"]),
            "file_sha256": None,
            "row": rng.choice([None, 7]),
            "locator": None,
        }
        for _ in range(rng.randrange(0, 4))
    ]
    placed = rng.random() < 0.8
    jurisdiction: dict[str, Any] = {
        "status": "placed" if placed else rng.choice(["unplaced", "unlocated"]),
        "claims": claims,
        "disagreements": rng.choice([[], ["FR"], [{"country": "FR", "weight": 1}, "NL"], [{"weight": 2}]]),
    }
    if placed or rng.random() < 0.5:
        jurisdiction.update(
            country="DE" if placed else None,
            region=rng.choice([None, "BY"]),
            confidence=rng.choice([None, 0, 0.912345, 1]),
            reason=rng.choice([None, "", "most evidence <here>"]),
            decided_by=rng.choice([None, "locate", "analyst 'A'"]),
            decided_at="2026-03-01T10:00:00+00:00",
        )
    risk = None
    if rng.random() < 0.85:
        factors = []
        for _ in range(rng.randrange(0, 4)):
            factor: dict[str, Any] = {
                "factor": "f",
                "label": _text(rng, "Access to children"),
                "evidence": [
                    {
                        k: v
                        for k, v in {
                            "record_id": rng.choice([None, 3]),
                            "text": rng.choice([None, "", "teacher", "<b>"]),
                            "file": rng.choice([None, "customers.csv"]),
                            "row": rng.choice([None, 4]),
                        }.items()
                        if v is not None or rng.random() < 0.3
                    }
                    for _ in range(rng.randrange(0, 3))
                ],
            }
            if rng.random() < 0.7:
                factor["points"] = rng.choice([None, 30, 2.5])
            if rng.random() < 0.7:
                factor["detail"] = rng.choice([None, "", "3 orders", "a & b"])
            factors.append(factor)
        risk = {
            "tier": "high",
            "tier_label": _text(rng, "High"),
            "score": rng.choice([60.0, 0, 99.95, 12.345]),
            "summary": rng.choice([None, "", "benchmark & more"]),
            "assessed_at": "2026-03-01T10:00:00+00:00",
            "factors": factors,
        }
    verdicts = {k: rng.randrange(1, 4) for k in rng.sample(["known-exact", "novel", "not_triaged"], rng.randrange(4))}
    subject: dict[str, Any] = {
        "originator_subject_id": subject_id,
        "full_name": rng.choice([_text(rng, f"Person {subject_id}"), None, ""]),
        "given_name": rng.choice(["Ann", None, "Ø'Neil"]),
        "family_name": rng.choice(["Lee", None]),
        "date_of_birth": rng.choice([None, "1980-02-03", "1980"]),
        "attributes": {
            k: v
            for k, v in {
                "occupation": rng.choice(["teacher", None, ["nurse", "driver"]]),
                "city_of_birth": rng.choice(["Köln & Bonn", 7]),
                "full_name": "hidden",
                "aliases": rng.choice([["A", "B <c>"], ("t",), {"k": 1}]),
            }.items()
            if rng.random() < 0.7
        },
        "identifiers": identifiers,
        "records": records,
        "jurisdiction": jurisdiction,
        "risk": risk,
        "media": {"items": sum(verdicts.values()), "verdicts": verdicts},
    }
    return subject


def leads_document(seed: int, leads: int = 40) -> dict[str, Any]:
    """A leads document of `leads` varied leads."""
    rng = random.Random(seed)
    sender, recipient = _agency(rng, "CA"), _agency(rng, "DE")
    entries = []
    for i in range(leads):
        hop = rng.choice([0, 0, 1, 2])
        events = [
            {
                "uid": _uid(rng),
                "kind": kind,
                "at": rng.choice(["2026-03-02T09:00:00Z", "2026-03-02T09:00:00+00:00", "not a time"]),
                "actor": _text(rng, "analyst"),
                "agency": rng.choice(["CA", None]),
                "notes": None,
            }
            for kind in ["created", "sent"][: rng.randrange(1, 3)]
        ]
        entries.append(
            {
                "uid": _uid(rng),
                "hop": hop,
                "parent_uid": (_uid(rng) if rng.random() < 0.8 else None) if hop else None,
                "originating_agency": rng.choice([sender, _agency(rng, "FR")]),
                "country": "DE",
                "region": rng.choice([None, "BY", ""]),
                "tier": rng.choice(["very_high", "high", "medium", "low"]),
                "tier_label": rng.choice(["Very high", "High <!>"]),
                "score": rng.choice([60.0, 5, 12.35, 99.999]),
                "handling_code": rng.choice(["H0", "H1", "H3"]),
                "handling_note": rng.choice([None, "", "Call first & <quietly>"]),
                "status": "sent",
                "created_at": "2026-03-02T09:00:00Z",
                "sent_at": "2026-03-02T10:00:00Z",
                "ack_due_at": rng.choice(["2026-03-03T10:00:00Z", "2026-03-05T10:00:00Z"]),
                "action_due_at": "2026-04-01T10:00:00Z",
                "route": [_agency(rng, f"DE-{n}") for n in range(rng.choice([0, 0, 1, 2]))],
                "events": events,
                "subject": _subject(rng, i + 1),
            }
        )
    return {
        "format": "threadline.leads",
        "schema_version": "1.0",
        "package_uid": _uid(rng),
        "created_at": "2026-03-02T10:00:00Z",
        "operation": {"name": _text(rng, "Operation Lantern"), "description": None},
        "sender": sender,
        "recipient": recipient,
        "handling_codes": {"H0": "No restriction", "H1": "Police & <partners> only", "H3": "Originator's consent"},
        "leads": entries,
    }
