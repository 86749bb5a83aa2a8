"""One call that writes a whole synthetic seizure with its ground truth."""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from threadline.synth.contacts import write_contacts
from threadline.synth.countries import select_countries
from threadline.synth.customers import assign_files, write_customer_files
from threadline.synth.mail import write_mail
from threadline.synth.mediaset import build_media, default_media_count
from threadline.synth.orders import build_orders, write_orders
from threadline.synth.payments import write_payments
from threadline.synth.people import Person, build_people
from threadline.synth.report import SynthReport
from threadline.synth.truth import RecordLog, write_media, write_people, write_summary

Progress = Callable[[str, int, int], None]


def _assign_accounts(people: list[Person], seed: int) -> None:
    """Customer numbers in the main system, in an order unrelated to person ids or households."""
    rng = random.Random(f"{seed}:accounts")
    slots = [(p, k) for p in people for k in range(len(p.accounts))]
    numbers = rng.sample(range(100_000, 100_000 + 4 * len(slots) + 10), len(slots))
    numbers.sort()
    rng.shuffle(slots)
    for (p, k), n in zip(slots, numbers, strict=True):
        p.accounts[k] = f"C{n:07d}"


def generate(
    out: Path,
    people: int,
    seed: int = 7,
    countries: int = 50,
    media: int | None = None,
    progress: Progress | None = None,
) -> SynthReport:
    """Write a synthetic seizure under ``out``/seizure, the known hash set under ``out``/known and ground truth
    under ``out``/truth. The same arguments always give byte-identical files."""
    started = time.perf_counter()
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out}: output folder is not empty; choose a new or empty folder")
    if people < 1:
        raise ValueError(f"people must be at least 1, got {people}")
    n_media = default_media_count(people) if media is None else media
    if n_media < 0:
        raise ValueError(f"media must not be negative, got {n_media}")
    seizure, known, truth = out / "seizure", out / "known", out / "truth"
    for folder in (seizure, known, truth):
        folder.mkdir(parents=True, exist_ok=True)

    chosen = select_countries(countries)
    persons, _pools = build_people(people, chosen, seed, progress)
    _assign_accounts(persons, seed)
    orders = build_orders(persons, seed)
    log = RecordLog(truth / "records.csv")
    try:
        members = assign_files(persons, random.Random(f"{seed}:files"))
        write_customer_files(seizure, members, seed, log, progress)
        if progress is not None:
            progress("orders", 0, len(orders))
        write_orders(seizure / "orders.xlsx", orders, seed, log, progress)
        write_contacts(seizure / "contacts.vcf", persons, seed, log)
        write_mail(seizure / "mail.mbox", persons, orders, seed, log, progress)
        write_payments(seizure / "payments.jsonl", persons, orders, seed, log)
        workers = max(1, min(4, os.cpu_count() or 1))
        counts, media_rows = build_media(seizure, known, persons, n_media, seed, log, workers, progress)
    finally:
        log.close()
    write_people(truth / "people.csv", persons)
    write_media(truth / "media.csv", media_rows)
    used = Counter(p.country.alpha2 for p in persons)
    records = dict(sorted(log.per_file.items()))
    write_summary(
        truth / "summary.json",
        {
            "generator": "threadline.synth",
            "parameters": {"people": people, "seed": seed, "countries": countries, "media": n_media},
            "people": len(persons),
            "households": len({p.household_id for p in persons}),
            "countries": dict(sorted(used.items())),
            "access_to_children": sum(p.access_to_children for p in persons),
            "producers": sum(p.producer for p in persons),
            "orders": len(orders),
            "records": records,
            "malformed": dict(sorted(log.malformed.items())),
            "media": {
                "files": counts.files,
                "known_exact": counts.known_exact,
                "known_near": counts.known_near,
                "novel": counts.novel,
                "uploads": counts.uploads,
                "known_hashes": counts.known_hashes,
            },
        },
    )
    if progress is not None:
        progress("done", 1, 1)
    return SynthReport(
        out=out,
        people=len(persons),
        countries=len(used),
        records=records,
        malformed_rows=sum(log.malformed.values()),
        media_files=counts.files,
        known_hashes=counts.known_hashes,
        seconds=round(time.perf_counter() - started, 3),
    )
