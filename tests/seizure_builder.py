"""A seizure built by hand in every format Ingest reads, with known good and bad rows (all people invented)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from openpyxl import Workbook

CUSTOMERS_CSV = (
    "customer_id,first_name,last_name,email,phone,street,city,postcode,country,date_of_birth,occupation\n"
    "C1,Anna,Example,Anna.Example+shop@googlemail.com,+44 20 7946 0018,1 High St,London,SW1A 1AA,UK,14/03/1981,Teacher\n"
    'C2,"Bob","Sample, Jr.",bob@example.com,020 7946 0019,"2 Low Rd\nFlat 3",London,EC1A 1BB,United Kingdom,25/12/1975,\n'
    "C3,Carla,Test,carla@example.org,,,Madrid,28001,España,03/04/1990,Enfermera\n"
    "C4,Broken,Row,too,many,fields,here,x,y,z,w,extra\n"
    "C5,Dana,Demo,dana@example.net,+1 202 555 0143,5 Main St,Washington,20001,USA,1979-07-04,coach\n"
)
KUNDEN_CSV = (
    "Kundennr;Vorname;Nachname;E-Mail;Telefon;Straße;PLZ;Ort;Land;Geburtsdatum;Beruf\n"
    "K1;Jürgen;Müller;j.mueller@example.de;030 1234567;Hauptstraße 5;10115;Berlin;Deutschland;03.03.1975;Lehrer\n"
    "K2;Grete;Weiß;grete@example.de;+49 89 7654321;Marienplatz 1;80331;München;Deutschland;28.11.1968;Ärztin\n"
)
RUSSIAN_TSV = (
    "Фамилия\tИмя\tТелефон\tЭл. почта\tГород\tДата рождения\n"
    "Иванов\tЮрий\t+7 495 123-45-67\tyuri@example.ru\tМосква\t07.11.1980\n"
)
VCARDS = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Anna Example\r\nN:Example;Anna;;;\r\nNICKNAME:Annie\r\n"
    "EMAIL;TYPE=INTERNET:anna.example@gmail.com\r\nTEL;TYPE=CELL:+44 20 7946 0018\r\n"
    "ADR;TYPE=HOME:;;1 High St;London;;SW1A 1AA;United Kingdom\r\nORG:Example School\r\nTITLE:Teacher\r\nEND:VCARD\r\n"
    "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Erik Probe\r\nEMAIL:erik@example.se\r\nEND:VCARD\r\n"
    "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Never Ends\r\n"
)
MBOX = (
    "From shop@example.invalid Mon Jan  3 10:00:00 2011\n"
    "From: Shop <shop@example.invalid>\nTo: Anna Example <anna.example@gmail.com>\n"
    "Cc: Bob Sample <bob@example.com>\nSubject: Order 1001 dispatched\n"
    "Date: Mon, 3 Jan 2011 10:00:00 +0000\nMessage-ID: <1001@example.invalid>\n\n"
    "Your order 1001 has been dispatched. Questions: call +44 20 7946 0000 or write to help@example.invalid.\n"
    "\n"
    "From anna.example@gmail.com Tue Jan  4 09:00:00 2011\n"
    'From: "Anna E." <anna.example@gmail.com>\nTo: shop@example.invalid\nSubject: Re: Order 1001\n'
    "Date: Tue, 4 Jan 2011 09:00:00 +0000\nMessage-ID: <re1001@example.invalid>\n\n"
    ">From the beginning this was fine, thanks.\n"
)
EML = (
    "From: =?utf-8?b?RMOhbmEgRMOpbW8=?= <dana@example.net>\nTo: Shop <shop@example.invalid>\nSubject: Payment\n"
    "Date: Wed, 5 Jan 2011 12:00:00 -0500\nMessage-ID: <pay@example.net>\n\nPaid today.\n"
)
PAYMENTS_JSONL = (
    '{"payment_id": "P1", "payer_name": "Anna Example", "payer_email": "anna.example@gmail.com", '
    '"amount": "49,90", "currency": "EUR", "paid_at": "2011-01-03", "ip": "81.2.69.142"}\n'
    "this is not json\n"
    '{"payment_id": "P2", "payer_name": "Dana Demo", "payer_email": "dana@example.net", '
    '"amount": "1,234.50", "currency": "USD", "paid_at": "2011-02-01", "ip": "192.168.1.20"}\n'
)
ACCOUNTS_JSON = json.dumps(
    {
        "exported": "2012-01-01",
        "accounts": [
            {"username": "@AnnaE", "email": "anna.example@gmail.com", "profile": {"country": "GB"}},
            {"username": "dana79", "email": "dana@example.net", "profile": {"country": "US"}},
            "not an object",
        ],
    }
)
MEDIA_CSV = (
    "Full Path,Size,MD5,SHA1,SHA256,PDQ,Device,Custodian\n"
    "/stock/a.jpg,1000," + "a" * 32 + "," + "b" * 40 + "," + "c" * 64 + "," + "d" * 64 + ",server-01,\n"
    "/uploads/x/b.jpg,2000," + "e" * 32 + ",,,,server-01,dana79\n"
    "/stock/bad.jpg,3000,not-a-hash,,,,server-01,\n"
)
GOOD_FILES = {
    "customers.csv": 4,  # records; plus 1 quarantined row
    "kunden_de.csv": 2,
    "клиенты.tsv": 1,
}


def build_seizure(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "customers.csv").write_text(CUSTOMERS_CSV, encoding="utf-8")
    (root / "kunden_de.csv").write_bytes(KUNDEN_CSV.encode("cp1252"))
    (root / "клиенты.tsv").write_bytes(RUSSIAN_TSV.encode("koi8-r"))
    (root / "contacts.vcf").write_text(VCARDS, encoding="utf-8")
    (root / "mail.mbox").write_text(MBOX, encoding="utf-8")
    (root / "payment.eml").write_text(EML, encoding="utf-8")
    (root / "payments.jsonl").write_text(PAYMENTS_JSONL, encoding="utf-8")
    (root / "accounts.json").write_text(ACCOUNTS_JSON, encoding="utf-8")
    (root / "media_hashes.csv").write_text(MEDIA_CSV, encoding="utf-8")
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Orders"
    sheet.append(["order_id", "customer_id", "order_date", "amount", "currency", "ship_name", "ship_country"])
    sheet.append(["O1", "C1", "2011-01-03", 49.9, "EUR", "Anna Example", "GB"])
    sheet.append(["O2", "C5", "2011-02-01", 1234.5, "USD", "Dana Demo", "US"])
    second = workbook.create_sheet("Refunds")
    second.append(["refund_id", "order_id", "amount"])
    second.append(["R1", "O1", 10])
    workbook.save(root / "orders.xlsx")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("backup/old_customers.csv", "id,name,email\nZ1,Zed Zip,zed@example.com\n")
    (root / "backup.zip").write_bytes(buffer.getvalue())
    return root
