"""Payment records (payments.jsonl) from the shop's processors: cards, transfers, crypto, money transfers.

One line per payment. Payer details are what the processor saw: sometimes another household member pays, the
country is the card's or bank's, the IP is the one used at checkout.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

from threadline.synth.distributor import RECEIVING_ACCOUNTS
from threadline.synth.noise import Noise
from threadline.synth.orders import Order
from threadline.synth.people import Person
from threadline.synth.truth import RecordLog

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_METHODS = ("card", "bank transfer", "crypto", "money transfer")


def write_payments(path: Path, people: list[Person], orders: list[Order], seed: int, log: RecordLog) -> None:
    rng = random.Random(f"{seed}:payments")
    noise = Noise(rng)
    households: dict[str, list[Person]] = {}
    for p in people:
        households.setdefault(p.household_id, []).append(p)
    wallets: dict[str, str] = {}
    card: dict[str, str] = {}
    paid = [o for o in orders if rng.random() < 0.85]
    n_bad = 2 + len(paid) // 3000
    bad_at = set(rng.sample(range(len(paid) + n_bad), n_bad))
    it = iter(paid)
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for line_no in range(1, len(paid) + n_bad + 1):
            if line_no - 1 in bad_at:
                kind = rng.choice(("truncated", "quoting", "binary"))
                pid = f"PAY-X{line_no:07d}"
                if kind == "truncated":
                    line = f'{{"payment_id": "{pid}", "payer_name": "Unknown", "amount": 12.'
                elif kind == "quoting":
                    line = f"{{'payment_id': '{pid}', 'amount': 10.00, 'method': 'card'}}"
                else:
                    line = f'{{"payment_id": "{pid}", "payer_name": "J\x00hn\x1a", "amount": 5}}'
                fh.write(line + "\n")
                log.add("payments.jsonl", line_no, pid, "", kind)
                continue
            o = next(it)
            payer = o.person
            if rng.random() < 0.03:
                payer = rng.choice(households[payer.household_id])  # a partner or parent pays
            method = rng.choices(_METHODS, weights=(55, 20, 15, 10))[0]
            script = payer.country.script
            paid_at = o.placed + dt.timedelta(minutes=rng.randrange(1, 60 * 24 * (1 if method == "card" else 6)))
            record: dict[str, object] = {
                "payment_id": f"PAY-{rng.getrandbits(40):010X}",
                "payer_name": f"{noise.given(payer.given, script, True)} {noise.family(payer.family, script, True)}",
                "payer_email": noise.email(payer.email, payer.alt_email, payer.office_email),
                "amount": o.amount,
                "currency": o.currency,
                "paid_at": paid_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "method": method,
            }
            if method == "card":
                record["card_last4"] = card.setdefault(payer.person_id, f"{rng.randrange(10000):04d}")
            elif method == "bank transfer":
                record["iban_country"] = payer.country.alpha2 if rng.random() < 0.9 else rng.choice(("DE", "GB", "LU"))
            elif method == "crypto":
                record["wallet"] = wallets.setdefault(
                    payer.person_id, "1" + "".join(rng.choice(_B58) for _ in range(rng.randrange(25, 34)))
                )
            else:
                record["reference"] = f"{rng.randrange(10**9, 10**10)}"
            record["payer_country"] = payer.country.alpha2 if rng.random() < 0.97 else rng.choice(("US", "GB", "NL"))
            record["ip"] = (
                payer.signup_ip
                if rng.random() < 0.6
                else ".".join([*payer.signup_ip.split(".")[:2], str(rng.randrange(256)), str(rng.randrange(1, 255))])
            )
            record["counterparty"] = rng.choice(RECEIVING_ACCOUNTS)
            record["order_id"] = o.order_id
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            log.add("payments.jsonl", line_no, str(record["payment_id"]), payer.person_id)
