"""Refer benchmark: leads and signed, encrypted packages for many subjects across many agencies.

`uv run python benchmarks/refer.py [--subjects 10000] [--agencies 50]`

Builds, in a fresh SQLite store, --subjects invented people (one customer record each, an e-mail and a phone,
a jurisdiction claim and decision, a risk assessment with two factors, a few media verdict counts) spread over
--agencies countries, with a signing key for the originator (CA) and an age key for every destination agency.
Then measures, in the same run:

- leads: `refer(..., packages=False)` (one lead and one "created" event per subject);
- baseline: for every agency, the same leads read back with the same subject snapshots and written as one plain
  leads.json (unsigned, unencrypted, no CSV, HTML or CASE) — the least any export of these leads must do;
- packages: `refer(...)` writing every package (leads.json, leads.csv, an HTML page per lead, case.jsonld,
  manifest, Ed25519 signature, zip, age encryption, "sent" events, audit);
- open: a receiving installation verifying and importing every package.

It prints seconds and leads/s for each, and packages / baseline as the cost of signing, encrypting and the
human-readable and CASE views. Timings on a shared two-core machine are noisy.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import tempfile
import time
from pathlib import Path

from faker import Faker
from pyrage import x25519
from sqlalchemy import insert, select

from threadline.core.db import Store, open_store
from threadline.core.settings import Settings
from threadline.directory import seed_national_agencies
from threadline.model import (
    Agency,
    Identifier,
    JurisdictionClaim,
    Lead,
    MediaItem,
    MediaVerdict,
    Operation,
    RiskAssessment,
    RuleSet,
    Seizure,
    SourceFile,
    SourceRecord,
    Subject,
    SubjectJurisdiction,
    SubjectMember,
)
from threadline.refer import ReferSettings, open_package, refer
from threadline.refer.keys import export_keys, generate_keys, import_keys
from threadline.refer.package import SCHEMA_VERSION, agency_ref, dump_json
from threadline.refer.snapshot import build_snapshots

OPERATION = "Operation Benchmark"
TIERS = ("very_high", "high", "medium", "low")


def build(store: Store, subjects: int, agencies: int, home: Path, seed: int = 7) -> dict[str, Path]:
    """The seizure rows and keys; returns each destination agency's age identity file."""
    rng = random.Random(seed)
    fake = Faker()
    Faker.seed(seed)
    identities: dict[str, Path] = {}
    with store.session() as session:
        seed_national_agencies(session, actor="bench")
        ca = session.scalars(select(Agency).where(Agency.code == "CA")).one()
        generate_keys(store.settings, session, ca, actor="bench")
        countries = [
            a
            for a in session.scalars(select(Agency).where(Agency.kind == "national").order_by(Agency.code))
            if a.code != "CA"
        ][:agencies]
        for agency in countries:
            identity = x25519.Identity.generate()
            path = home / f"{agency.code}.age.txt"
            path.write_text(f"{identity}\n")
            path.chmod(0o600)
            identities[agency.code] = path
            public = home / f"{agency.code}.pub"
            public.write_text(f"agency: {agency.code}\nage: {identity.to_public()}\n")
            import_keys(session, agency, public, actor="bench")
        operation = Operation(name=OPERATION, originating_agency_id=ca.id)
        session.add(operation)
        session.flush()
        seizure = Seizure(operation_id=operation.id, label="bench", source_path="/bench")
        session.add(seizure)
        session.flush()
        source = SourceFile(
            seizure_id=seizure.id,
            path="customers.csv",
            sha256=hashlib.sha256(b"bench").hexdigest(),
            size=subjects * 120,
            format="csv",
            record_type="customer",
            status="done",
        )
        rules = RuleSet(kind="rank", version=1, content={}, source_text="", sha256="0" * 64, actor="bench")
        session.add_all([source, rules])
        session.flush()
        records, identifiers, people, members, claims, decisions, risks, media, verdicts = ([] for _ in range(9))
        media_id = 0
        for i in range(1, subjects + 1):
            agency = countries[i % len(countries)]
            given, family = fake.first_name(), fake.last_name()
            email = f"{given}.{family}.{i}@example.invalid".lower()
            phone = f"+1555{i:07d}"
            fields = {
                "record_id": f"C{i:06d}",
                "given_name": given,
                "family_name": family,
                "full_name": f"{given} {family}",
                "email": email,
                "phone": phone,
                "street": fake.street_address(),
                "city": fake.city(),
                "postal_code": fake.postcode(),
                "country": agency.country,
                "occupation": rng.choice(["teacher", "nurse", "driver", "clerk"]),
            }
            records.append(
                {
                    "id": i,
                    "source_file_id": source.id,
                    "row": i + 1,
                    "locator": str(i + 1),
                    "record_type": "customer",
                    "record_key": fields["record_id"],
                    "raw": fields,
                    "fields": fields,
                }
            )
            identifiers += [
                {"record_id": i, "kind": "email", "value": email},
                {"record_id": i, "kind": "phone", "value": phone},
            ]
            people.append(
                {
                    "id": i,
                    "status": "active",
                    "member_count": 1,
                    "given_name": given,
                    "family_name": family,
                    "full_name": f"{given} {family}",
                    "country": agency.country,
                    "attributes": {"occupation": fields["occupation"], "city": fields["city"]},
                    "identifiers": {"email": [email], "phone": [phone]},
                }
            )
            members.append({"record_id": i, "subject_id": i})
            claims.append(
                {
                    "subject_id": i,
                    "record_id": i,
                    "source": "address_country",
                    "value": agency.country,
                    "country": agency.country,
                    "weight": 1.0,
                    "ambiguous": False,
                }
            )
            decisions.append(
                {
                    "subject_id": i,
                    "status": "placed",
                    "country": agency.country,
                    "confidence": 0.9,
                    "agency_id": agency.id,
                    "disagreements": [],
                    "claims": 1,
                }
            )
            tier = TIERS[rng.randrange(4)]
            risks.append(
                {
                    "subject_id": i,
                    "rule_set_id": rules.id,
                    "tier": tier,
                    "score": round(rng.uniform(5, 95), 1),
                    "factors": [
                        {
                            "factor": "occupation_access",
                            "label": "Access to children",
                            "points": 30,
                            "evidence": [{"record_id": i, "text": fields["occupation"]}],
                        },
                        {"factor": "orders", "label": "Repeat orders", "points": 10, "evidence": []},
                    ],
                    "summary": "benchmark",
                }
            )
            for _ in range(rng.randrange(3)):
                media_id += 1
                media.append({"id": media_id, "seizure_id": seizure.id, "path": f"m/{media_id}", "owner_subject_id": i})
                verdicts.append(
                    {"media_item_id": media_id, "verdict": rng.choice(["known-exact", "novel"]), "max_distance": 31,
                     "min_quality": 50}
                )  # fmt: skip
        for model, rows in (
            (SourceRecord, records),
            (Identifier, identifiers),
            (Subject, people),
            (SubjectMember, members),
            (JurisdictionClaim, claims),
            (SubjectJurisdiction, decisions),
            (RiskAssessment, risks),
            (MediaItem, media),
            (MediaVerdict, verdicts),
        ):
            for start in range(0, len(rows), 5000):
                session.execute(insert(model), rows[start : start + 5000])
    return identities


def baseline(store: Store, out: Path) -> tuple[float, int]:
    """The same leads with the same snapshots, as one plain leads.json per agency."""
    started = time.perf_counter()
    count = 0
    out.mkdir(parents=True, exist_ok=True)
    with store.session() as session:
        agencies = list(
            session.scalars(
                select(Agency).where(Agency.id.in_(select(Lead.agency_id).distinct())).order_by(Agency.code)
            )
        )
        for agency in agencies:
            leads = list(session.scalars(select(Lead).where(Lead.agency_id == agency.id).order_by(Lead.id)))
            snapshots = build_snapshots(session, [lead.subject_id for lead in leads if lead.subject_id])
            document = {
                "schema_version": SCHEMA_VERSION,
                "recipient": agency_ref(agency),
                "leads": [
                    {
                        "uid": lead.uid,
                        "tier": lead.tier,
                        "score": lead.score,
                        "handling_code": lead.handling_code,
                        "ack_due_at": lead.ack_due_at.isoformat() if lead.ack_due_at else None,
                        "action_due_at": lead.action_due_at.isoformat() if lead.action_due_at else None,
                        "subject": snapshots[lead.subject_id] if lead.subject_id else None,
                    }
                    for lead in leads
                ],
            }
            (out / f"{agency.code}.leads.json").write_bytes(dump_json(document))
            count += len(leads)
    return time.perf_counter() - started, count


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f} leads/s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", type=int, default=10_000)
    parser.add_argument("--agencies", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="threadline-refer-bench-") as tmp:
        root = Path(tmp)
        origin = open_store(Settings(home=root / "origin"))
        started = time.perf_counter()
        identities = build(origin, args.subjects, args.agencies, root)
        built = time.perf_counter() - started
        print(f"built {args.subjects:,} subjects across {len(identities)} agencies in {built:.1f} s")

        leads = refer(origin, ReferSettings(packages=False, actor="bench"))
        print(f"leads:     {leads.leads_new:,} leads in {leads.seconds:.2f} s = {rate(leads.leads_new, leads.seconds)}")

        base_s, base_n = baseline(origin, root / "baseline")
        print(f"baseline:  plain leads.json for {base_n:,} leads in {base_s:.2f} s = {base_n / base_s:,.0f} leads/s")

        packaged = refer(origin, ReferSettings(actor="bench", out=root / "outbox"))
        size = sum(p.size for p in packaged.packages)
        print(
            f"packages:  {len(packaged.packages)} packages, {packaged.leads_sent:,} leads, {size / 1e6:.1f} MB in "
            f"{packaged.seconds:.2f} s = {packaged.leads_sent / packaged.seconds:,.0f} leads/s"
        )
        print(f"ratio:     packages / baseline = {packaged.seconds / base_s:.2f}x the time of plain leads.json")

        receiver = open_store(Settings(home=root / "receiver"))
        with origin.session() as session, receiver.session() as rsession:
            seed_national_agencies(rsession, actor="bench")
            (root / "ca.pub").write_text(
                export_keys(session, session.scalars(select(Agency).where(Agency.code == "CA")).one())
            )
            import_keys(
                rsession,
                rsession.scalars(select(Agency).where(Agency.code == "CA")).one(),
                root / "ca.pub",
                actor="bench",
            )
        started = time.perf_counter()
        opened = 0
        for package in packaged.packages:
            opened += open_package(receiver, package.path, identity=identities[package.agency], actor="bench").leads_new
        open_s = time.perf_counter() - started
        print(f"open:      {opened:,} leads verified and imported in {open_s:.2f} s = {opened / open_s:,.0f} leads/s")
        origin.dispose()
        receiver.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
