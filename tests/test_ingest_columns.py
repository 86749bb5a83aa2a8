"""Matching column headers in many languages to canonical fields, and guessing what a file holds."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadline.ingest.columns import (
    CANONICAL_FIELDS,
    MULTI_VALUED_FIELDS,
    _synonyms,
    guess_record_type,
    header_key,
    match_columns,
)

fast = settings(max_examples=150, deadline=None)
any_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


def test_synonyms_file_has_no_conflicts_and_only_canonical_fields() -> None:
    syn = _synonyms()
    assert syn.conflicts == ()
    assert set(syn.exact.values()) <= set(CANONICAL_FIELDS)
    assert set(syn.exact.values()) == set(CANONICAL_FIELDS)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("E-Mail", "email"),
        ("e_mail", "EMAIL"),
        ("E Mail", "e.mail"),
        ("Straße", "strasse"),
        ("Prénom", "prenom"),
        ("Эл. почта", "эл почта"),
        ("Ёлка", "елка"),
        ("ＰＬＺ", "plz"),
    ],
)
def test_header_key_folds_case_accents_and_punctuation(a: str, b: str) -> None:
    assert header_key(a) == header_key(b)


def test_header_key_keeps_cyrillic_comparable() -> None:
    assert header_key("Фамилия") == "фамилия"
    assert match_columns(["Familiya"]).by_column == {"Familiya": "family_name"}  # transliterated header


@fast
@given(any_text)
def test_header_key_is_idempotent(text: str) -> None:
    key = header_key(text)
    assert header_key(key) == key


def _fields(headers: list[str], record_type: str | None = None) -> dict[str, str]:
    return match_columns(headers, record_type).by_column


GERMAN_HEADER_ROW = "Kundennr;Vorname;Nachname;E-Mail;Telefon;Straße;PLZ;Ort;Land;Geburtsdatum;Beruf"


def test_german_customer_list() -> None:
    headers = GERMAN_HEADER_ROW.split(";")
    match = match_columns(headers)
    assert match.by_column == {
        "Kundennr": "record_id",
        "Vorname": "given_name",
        "Nachname": "family_name",
        "E-Mail": "email",
        "Telefon": "phone",
        "Straße": "street",
        "PLZ": "postal_code",
        "Ort": "city",
        "Land": "country",
        "Geburtsdatum": "date_of_birth",
        "Beruf": "occupation",
    }
    assert match.unmapped == []
    assert set(match.evidence.values()) == {"exact"}


def test_russian_customer_list_leaves_the_patronymic_to_extra() -> None:
    headers = ["Фамилия", "Имя", "Отчество", "Телефон", "Эл. почта", "Город", "Дата рождения"]
    match = match_columns(headers)
    assert match.by_column == {
        "Фамилия": "family_name",
        "Имя": "given_name",
        "Телефон": "phone",
        "Эл. почта": "email",
        "Город": "city",
        "Дата рождения": "date_of_birth",
    }
    assert match.unmapped == ["Отчество"]


def test_french_customer_list() -> None:
    headers = [
        "N° client",
        "Nom",
        "Prénom",
        "Courriel",
        "Téléphone portable",
        "Adresse",
        "Code postal",
        "Ville",
        "Pays",
        "Date de naissance",
        "Profession",
        "Employeur",
        "Nom d'utilisateur",
        "Surnom",
    ]
    assert _fields(headers) == {
        "N° client": "record_id",
        "Nom": "family_name",
        "Prénom": "given_name",
        "Courriel": "email",
        "Téléphone portable": "phone",
        "Adresse": "street",
        "Code postal": "postal_code",
        "Ville": "city",
        "Pays": "country",
        "Date de naissance": "date_of_birth",
        "Profession": "occupation",
        "Employeur": "organisation",
        "Nom d'utilisateur": "username",
        "Surnom": "aliases",
    }


def test_spanish_customer_list() -> None:
    headers = [
        "ID Cliente",
        "Nombre",
        "Apellidos",
        "Correo electrónico",
        "Teléfono móvil",
        "Dirección",
        "Código postal",
        "Ciudad",
        "Provincia",
        "País",
        "Fecha de nacimiento",
        "Profesión",
        "Empresa",
        "DNI",
        "Apodo",
        "Usuario",
    ]
    assert _fields(headers) == {
        "ID Cliente": "record_id",
        "Nombre": "given_name",
        "Apellidos": "family_name",
        "Correo electrónico": "email",
        "Teléfono móvil": "phone",
        "Dirección": "street",
        "Código postal": "postal_code",
        "Ciudad": "city",
        "Provincia": "region",
        "País": "country",
        "Fecha de nacimiento": "date_of_birth",
        "Profesión": "occupation",
        "Empresa": "organisation",
        "DNI": "national_id",
        "Apodo": "aliases",
        "Usuario": "username",
    }


def test_polish_customer_list() -> None:
    headers = [
        "Nr klienta",
        "Imię",
        "Nazwisko",
        "Adres e-mail",
        "Telefon",
        "Ulica",
        "Kod pocztowy",
        "Miasto",
        "Województwo",
        "Kraj",
        "Data urodzenia",
        "Zawód",
        "Pracodawca",
        "PESEL",
    ]
    assert _fields(headers) == {
        "Nr klienta": "record_id",
        "Imię": "given_name",
        "Nazwisko": "family_name",
        "Adres e-mail": "email",
        "Telefon": "phone",
        "Ulica": "street",
        "Kod pocztowy": "postal_code",
        "Miasto": "city",
        "Województwo": "region",
        "Kraj": "country",
        "Data urodzenia": "date_of_birth",
        "Zawód": "occupation",
        "Pracodawca": "organisation",
        "PESEL": "national_id",
    }


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            "Codice cliente;Nome;Cognome;Email;Cellulare;Indirizzo;CAP;Città;Paese;Data di nascita;Professione;Azienda;"
            "Codice fiscale",
            [
                "record_id", "given_name", "family_name", "email", "phone", "street", "postal_code", "city", "country",
                "date_of_birth", "occupation", "organisation", "national_id",
            ],
        ),
        (
            "Klantnummer;Voornaam;Achternaam;E-mailadres;Telefoon;Straat;Postcode;Plaats;Land;Geboortedatum;Beroep;"
            "Werkgever;BSN",
            [
                "record_id", "given_name", "family_name", "email", "phone", "street", "postal_code", "city", "country",
                "date_of_birth", "occupation", "organisation", "national_id",
            ],
        ),
        (
            "Código do cliente;Nome;Sobrenome;E-mail;Telefone;Endereço;CEP;Cidade;Estado;País;Data de nascimento;"
            "Profissão;Empresa;CPF",
            [
                "record_id", "given_name", "family_name", "email", "phone", "street", "postal_code", "city", "region",
                "country", "date_of_birth", "occupation", "organisation", "national_id",
            ],
        ),
        (
            "customer_id;first_name;last_name;email_address;phone_number;street_address;zip;town;state;country;dob;"
            "job_title;employer;ssn;nickname;login;signup_ip",
            [
                "record_id", "given_name", "family_name", "email", "phone", "street", "postal_code", "city", "region",
                "country", "date_of_birth", "occupation", "organisation", "national_id", "aliases", "username", "ip",
            ],
        ),
    ],
)  # fmt: skip
def test_customer_lists_in_other_languages(headers: str, expected: list[str]) -> None:
    columns = headers.split(";")
    match = match_columns(columns)
    assert [match.by_column.get(c) for c in columns] == expected


def test_payment_and_order_headers() -> None:
    assert _fields(["Datum", "Betrag", "Währung", "Empfänger"]) == {
        "Datum": "date",
        "Betrag": "amount",
        "Währung": "currency",
        "Empfänger": "counterparty",
    }
    assert _fields(["Fecha", "Importe", "Moneda", "Beneficiario"]) == {
        "Fecha": "date",
        "Importe": "amount",
        "Moneda": "currency",
        "Beneficiario": "counterparty",
    }
    assert _fields(["Дата", "Сумма", "Валюта", "Получатель"]) == {
        "Дата": "date",
        "Сумма": "amount",
        "Валюта": "currency",
        "Получатель": "counterparty",
    }
    assert _fields(["order id", "paid_at", "Total", "Devise", "merchant"]) == {
        "order id": "record_id",
        "paid_at": "date",
        "Total": "amount",
        "Devise": "currency",
        "merchant": "counterparty",
    }


def test_several_email_and_phone_columns_in_header_order() -> None:
    match = match_columns(["Email", "Email2", "Phone (home)", "Mobile", "Handy", "Work Phone", "E-Mail 3"])
    assert match.fields == {
        "email": ["Email", "Email2", "E-Mail 3"],
        "phone": ["Phone (home)", "Mobile", "Handy", "Work Phone"],
    }
    assert match.evidence["Email2"] == "numbered"
    assert match.mapping() == {
        "email": ["Email", "Email2", "E-Mail 3"],
        "phone": ["Phone (home)", "Mobile", "Handy", "Work Phone"],
    }


def test_single_valued_fields_take_the_strongest_then_first_column() -> None:
    match = match_columns(["Customer City", "City", "Town"])
    assert match.fields == {"city": ["City"]}
    assert match.unmapped == ["Customer City", "Town"]


def test_contains_match_picks_the_longest_synonym() -> None:
    match = match_columns(["Customer Email Address", "Home Phone Number", "CustomerName", "Date of Birth (DOB)"])
    assert match.by_column == {
        "Customer Email Address": "email",
        "Home Phone Number": "phone",
        "CustomerName": "full_name",
        "Date of Birth (DOB)": "date_of_birth",
    }


def test_headers_about_something_else_stay_unmapped() -> None:
    match = match_columns(["Product Name", "Email Verified", "Payment Method", "Last Login", "Notes"])
    assert match.by_column == {}
    assert match.unmapped == ["Product Name", "Email Verified", "Payment Method", "Last Login", "Notes"]


def test_shipping_columns_fill_only_empty_fields() -> None:
    match = match_columns(["Name", "City", "ship_city", "Shipping Country", "Lieferadresse", "Billing Zip"])
    assert match.by_column == {
        "Name": "full_name",
        "City": "city",
        "Shipping Country": "country",
        "Lieferadresse": "street",
        "Billing Zip": "postal_code",
    }
    assert match.qualifiers == {"Shipping Country": "shipping", "Lieferadresse": "shipping", "Billing Zip": "billing"}
    assert match.unmapped == ["ship_city"]


def test_qualified_copies_in_french_and_german() -> None:
    match = match_columns(["Ville de livraison", "Adresse de facturation", "Rechnungsadresse"])
    assert match.by_column == {
        "Ville de livraison": "city",
        "Adresse de facturation": "street",
        "Rechnungsadresse": "street",
    }
    assert match.qualifiers == {
        "Ville de livraison": "shipping",
        "Adresse de facturation": "billing",
        "Rechnungsadresse": "billing",
    }


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (["Name", "Email"], {"Name": "full_name", "Email": "email"}),
        (["Vorname", "Name"], {"Vorname": "given_name", "Name": "family_name"}),
        (["Name", "First Name", "Last Name"], {"First Name": "given_name", "Last Name": "family_name"}),
        (["Nom", "Prénom"], {"Nom": "family_name", "Prénom": "given_name"}),
        (["Nom", "Courriel"], {"Nom": "full_name", "Courriel": "email"}),
        (["Nombre", "Apellidos"], {"Nombre": "given_name", "Apellidos": "family_name"}),
        (["Nombre", "Correo"], {"Nombre": "full_name", "Correo": "email"}),
        (["Nome", "Cognome"], {"Nome": "given_name", "Cognome": "family_name"}),
        (["Nome", "Telefone"], {"Nome": "full_name", "Telefone": "phone"}),
        (["Naam", "Telefoon"], {"Naam": "full_name", "Telefoon": "phone"}),
        (["ФИО", "Телефон"], {"ФИО": "full_name", "Телефон": "phone"}),
        (["Имя", "Телефон"], {"Имя": "full_name", "Телефон": "phone"}),
    ],
)
def test_bare_name_words_depend_on_their_neighbours(headers: list[str], expected: dict[str, str]) -> None:
    assert _fields(headers) == expected


def test_record_type_adds_its_own_synonyms() -> None:
    assert _fields(["From", "To", "Subject", "Date"], "message") == {"From": "email", "To": "email", "Date": "date"}
    assert _fields(["From", "To", "Subject", "Date"]) == {"Date": "date"}
    assert _fields(["Sender"], "payment") == {"Sender": "counterparty"}
    assert _fields(["Sender"], "message") == {"Sender": "email"}


def test_a_repeated_header_maps_once() -> None:
    match = match_columns(["Email", "Email"])
    assert match.fields == {"email": ["Email"]}
    assert match.unmapped == ["Email"]


@pytest.mark.parametrize(
    ("headers", "filename", "expected"),
    [
        (["Name"], "kunden_2012.csv", "customer"),
        (["Name"], "customers.csv", "customer"),
        (["Name"], "clients.xlsx", "customer"),
        (["Name"], "clientes.csv", "customer"),
        (["Name"], "klienci.csv", "customer"),
        (["Name"], "клиенты.csv", "customer"),
        (["Name"], "orders.csv", "order"),
        (["Name"], "Bestellungen.xlsx", "order"),
        (["Name"], "commandes.csv", "order"),
        (["Name"], "pedidos.csv", "order"),
        (["Name"], "customer_orders.csv", "order"),
        (["Name"], "contacts.vcf", "contact"),
        (["Name"], "payments.csv", "payment"),
        (["Name"], "Zahlungen.csv", "payment"),
        (["Name"], "paiements.csv", "payment"),
        (["Name"], "pagos.json", "payment"),
        (["Name"], "platnosci.csv", "payment"),
        (["Name"], "płatności.csv", "payment"),
        (["Name"], "users.jsonl", "account"),
        (["Name"], "inbox.mbox", "message"),
        (["Order ID", "Product", "Total"], "export.csv", "order"),
        (["Date", "Amount", "Payee"], "export.csv", "payment"),
        (["Date", "Amount", "Payment method"], "export.csv", "payment"),
        (["From", "To", "Subject", "Body"], "export.csv", "message"),
        (["Login", "Password hash", "Email"], "export.csv", "account"),
        (["Vorname", "Nachname", "E-Mail"], "export.csv", "customer"),
        ([], "", "customer"),
    ],
)
def test_guess_record_type(headers: list[str], filename: str, expected: str) -> None:
    assert guess_record_type(headers, filename) == expected


header_lists = st.lists(
    st.one_of(
        any_text,
        st.sampled_from(["Email", "E-Mail 2", "Name", "Vorname", "Nom", "ship_city", "City", "Phone (home)", "Имя"]),
    ),
    max_size=12,
)


@fast
@given(header_lists, st.sampled_from([None, "customer", "order", "message", "payment", "nonsense"]))
def test_match_columns_never_maps_a_column_twice(headers: list[str], record_type: str | None) -> None:
    match = match_columns(headers, record_type)
    mapped = [c for columns in match.fields.values() for c in columns]
    assert len(mapped) == len(set(mapped))
    assert set(mapped) == set(match.by_column)
    assert all(match.by_column[c] == f for f, columns in match.fields.items() for c in columns)
    assert not set(match.unmapped) & set(mapped) or len(headers) != len(set(headers))
    assert len(mapped) + len(match.unmapped) == len(headers)
    for f, columns in match.fields.items():
        assert f in CANONICAL_FIELDS
        assert len(columns) == 1 or f in MULTI_VALUED_FIELDS
        assert columns == [h for h in headers if h in columns][: len(columns)] or len(headers) != len(set(headers))
    guess_record_type(headers, "".join(headers[:1]))
