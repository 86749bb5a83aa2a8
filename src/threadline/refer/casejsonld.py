"""The leads of a package as a CASE/UCO graph (JSON-LD), for forensic tools that speak CASE.

Each subject is an `identity:Person` with name and birth facets; each identifier an observable (e-mail address,
phone account, IP address, account); each address a `location:Location`; each seized file an `observable:File`
with its SHA-256. A `core:Relationship` ties each identifier and address to the person, and an
`investigation:ProvenanceRecord` per source record names the file and row every value was read from. The
operation is an `investigation:Investigation` holding the persons. Jurisdiction and risk are
`core:Annotation`s on the person. Checked with case-utils' `case_validate` (CASE 1.5.0) in the tests."""

from __future__ import annotations

import hashlib
import ipaddress
import uuid
from typing import Any

CONTEXT = {
    "kb": "urn:threadline:kb:",
    "core": "https://ontology.unifiedcyberontology.org/uco/core/",
    "identity": "https://ontology.unifiedcyberontology.org/uco/identity/",
    "investigation": "https://ontology.caseontology.org/case/investigation/",
    "location": "https://ontology.unifiedcyberontology.org/uco/location/",
    "observable": "https://ontology.unifiedcyberontology.org/uco/observable/",
    "types": "https://ontology.unifiedcyberontology.org/uco/types/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}
_ADDRESS = {"street": "location:street", "city": "location:locality", "region": "location:region"}
_ADDRESS_MORE = {"postal_code": "location:postalCode", "country": "location:country"}
_ADDRESS_ALL = {**_ADDRESS, **_ADDRESS_MORE}


_NAMESPACE = uuid.UUID("8f0c1a52-5b7e-5d1e-9a43-2f6b4c1d7e90")


_NAMESPACE_SHA1 = hashlib.sha1(_NAMESPACE.bytes, usedforsecurity=False)


_SEP = chr(31)
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}  # RFC 4122 variant bits over the hex digit


def name_uuid(name: str) -> str:
    """`str(uuid.uuid5(_NAMESPACE, name))`, computed without building UUID objects (a package makes millions)."""
    sha = _NAMESPACE_SHA1.copy()
    sha.update(name.encode("utf-8"))
    h = sha.hexdigest()
    # version 5 in the 13th hex digit, the variant in the 17th
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def _iri(kind: str, *parts: Any) -> str:
    """A stable IRI ending in a UUID (as CASE suggests): the same value gets the same node."""
    return f"kb:{kind}-{name_uuid(kind + _SEP + _SEP.join(map(str, parts)))}"


def _typed(value: Any, datatype: str) -> dict[str, Any]:
    return {"@type": datatype, "@value": str(value)}


def _relationship(package_uid: str, source: str, target: str, kind: str) -> dict[str, Any]:
    return {
        "@id": _iri("relationship", package_uid, source, target, kind),
        "@type": "core:Relationship",
        "core:source": {"@id": source},
        "core:target": {"@id": target},
        "core:kindOfRelationship": kind,
        "core:isDirectional": True,
    }


def _identifier_node(kind: str, value: str) -> dict[str, Any]:
    node_id = _iri(kind, value)
    facet_id = _iri("facet", node_id)
    if kind == "email":
        return {
            "@id": node_id,
            "@type": "observable:EmailAddress",
            "core:hasFacet": [
                {"@id": facet_id, "@type": "observable:EmailAddressFacet", "observable:addressValue": value}
            ],
        }
    if kind == "phone":
        return {
            "@id": node_id,
            "@type": "observable:PhoneAccount",
            "core:hasFacet": [
                {"@id": facet_id, "@type": "observable:PhoneAccountFacet", "observable:phoneNumber": value}
            ],
        }
    if kind == "ip":
        try:
            version = ipaddress.ip_address(value).version
        except ValueError:
            version = 4
        cls = "IPv6Address" if version == 6 else "IPv4Address"
        return {
            "@id": node_id,
            "@type": f"observable:{cls}",
            "core:hasFacet": [{"@id": facet_id, "@type": f"observable:{cls}Facet", "observable:addressValue": value}],
        }
    # usernames and national ids: an account identified by the value, its kind named
    return {
        "@id": node_id,
        "@type": "observable:Account",
        "core:hasFacet": [
            {
                "@id": facet_id,
                "@type": "observable:AccountFacet",
                "observable:accountIdentifier": value,
                "observable:accountType": "national identifier" if kind == "national_id" else kind,
            }
        ],
    }


def case_graph(document: dict[str, Any]) -> dict[str, Any]:
    """The CASE/UCO JSON-LD for a leads document (the structure of `leads.json`)."""
    package_uid = document["package_uid"]
    nodes: dict[str, dict[str, Any]] = {}
    persons: list[str] = []
    file_ids: dict[tuple[str, str], str] = {}

    def add(node: dict[str, Any]) -> str:
        nodes.setdefault(node["@id"], node)
        return str(node["@id"])

    for lead in document["leads"]:
        subject = lead["subject"]
        person_id = f"kb:person-{lead['uid']}"
        persons.append(person_id)
        facets: list[dict[str, Any]] = []
        name_facet: dict[str, Any] = {"@id": _iri("name-facet", person_id), "@type": "identity:SimpleNameFacet"}
        if subject.get("given_name"):
            name_facet["identity:givenName"] = subject["given_name"]
        if subject.get("family_name"):
            name_facet["identity:familyName"] = subject["family_name"]
        if len(name_facet) > 2:
            facets.append(name_facet)
        dob = subject.get("date_of_birth")
        if dob and len(dob) == 10:
            facets.append(
                {
                    "@id": _iri("birth-facet", person_id),
                    "@type": "identity:BirthInformationFacet",
                    "identity:birthdate": _typed(f"{dob}T00:00:00Z", "xsd:dateTime"),
                }
            )
        person: dict[str, Any] = {
            "@id": person_id,
            "@type": "identity:Person",
            "core:name": subject.get("full_name") or "(no name)",
            "core:description": (
                f"Subject of Threadline lead {lead['uid']} (tier {lead['tier']}, score {lead['score']})"
            ),
        }
        if facets:
            person["core:hasFacet"] = facets
        add(person)

        record_objects: dict[int, list[str]] = {}
        for record in subject.get("records", []):
            file_key = (record["file_sha256"], record["file"])
            file_id = file_ids.get(file_key)
            if file_id is None:
                file_id = file_ids[file_key] = _iri("file", record["file_sha256"], record["file"])
            if file_id not in nodes:  # a seized file's node is made once (the first record from it describes it)
                add(
                    {
                        "@id": file_id,
                        "@type": "observable:File",
                        "core:hasFacet": [
                            {
                                "@id": _iri("file-facet", file_id),
                                "@type": "observable:FileFacet",
                                "observable:fileName": record["file"].rsplit("/", 1)[-1],
                                "observable:filePath": record["file"],
                                **(
                                    {"observable:sizeInBytes": _typed(record["file_size"], "xsd:integer")}
                                    if record.get("file_size") is not None
                                    else {}
                                ),
                            },
                            {
                                "@id": _iri("content-facet", file_id),
                                "@type": "observable:ContentDataFacet",
                                "observable:hash": [
                                    {
                                        "@id": _iri("hash", file_id),
                                        "@type": "types:Hash",
                                        "types:hashMethod": "SHA256",
                                        "types:hashValue": _typed(record["file_sha256"], "xsd:hexBinary"),
                                    }
                                ],
                            },
                        ],
                    }
                )
            record_objects[record["record_id"]] = [file_id, person_id]
            fields = record.get("fields", {})
            address = {prop: fields[key] for key, prop in _ADDRESS_ALL.items() if fields.get(key)}
            if any(fields.get(k) for k in _ADDRESS):
                location_id = _iri("location", *(str(address.get(p, "")) for p in sorted(address)))
                if location_id not in nodes:
                    facet = {"@id": _iri("address-facet", location_id), "@type": "location:SimpleAddressFacet"}
                    facet.update({prop: str(value) for prop, value in address.items()})
                    add({"@id": location_id, "@type": "location:Location", "core:hasFacet": [facet]})
                add(_relationship(package_uid, person_id, location_id, "Located_At"))
                record_objects[record["record_id"]].append(location_id)

        for identifier in subject.get("identifiers", []):
            node_id = _iri(identifier["kind"], identifier["value"])
            if node_id not in nodes:
                add(_identifier_node(identifier["kind"], identifier["value"]))
            add(_relationship(package_uid, node_id, person_id, "Has_Account"))
            for source in identifier["sources"]:
                record_objects.setdefault(source["record_id"], [person_id]).append(node_id)

        for record in subject.get("records", []):
            record_id = record["record_id"]
            add(
                {
                    "@id": _iri("provenance", package_uid, lead["uid"], record_id),
                    "@type": "investigation:ProvenanceRecord",
                    "investigation:exhibitNumber": f"{record['file']} row {record['row']}",
                    "core:description": (
                        f"{record['record_type']} record {record.get('record_key') or record_id} read from "
                        f"{record['file']} (SHA-256 {record['file_sha256']}), row {record['row']}"
                    ),
                    "core:object": [{"@id": o} for o in dict.fromkeys(record_objects.get(record_id, [person_id]))],
                }
            )

        jurisdiction = subject.get("jurisdiction") or {}
        if jurisdiction.get("country"):
            evidence = "; ".join(
                f"{c['source']} {c['value']} → {c['country']}"
                + (f" (file {c['file']} row {c['row']})" if c.get("file") else "")
                for c in jurisdiction.get("claims", [])
            )
            add(
                {
                    "@id": _iri("jurisdiction", package_uid, lead["uid"]),
                    "@type": "core:Annotation",
                    "core:object": [{"@id": person_id}],
                    "core:statement": (
                        f"Placed in {jurisdiction['country']}"
                        + (f" ({jurisdiction['region']})" if jurisdiction.get("region") else "")
                        + f", confidence {jurisdiction.get('confidence')}"
                        + (f"; evidence: {evidence}" if evidence else "")
                    ),
                }
            )
        risk = subject.get("risk")
        if risk:
            factors = "; ".join(f"{f['label']} ({f.get('points')})" for f in risk.get("factors", []))
            add(
                {
                    "@id": _iri("risk", package_uid, lead["uid"]),
                    "@type": "core:Annotation",
                    "core:object": [{"@id": person_id}],
                    "core:statement": f"Risk tier {risk['tier']}, score {risk['score']}"
                    + (f"; factors: {factors}" if factors else ""),
                }
            )

    investigation = {
        "@id": _iri("investigation", document["operation"]["name"], document["sender"]["code"]),
        "@type": "investigation:Investigation",
        "core:name": document["operation"]["name"],
        "core:description": (
            f"Referral package {package_uid} from {document['sender']['name']} to {document['recipient']['name']}"
        ),
        "core:object": [{"@id": p} for p in persons],
    }
    if not persons:
        del investigation["core:object"]
    return {"@context": CONTEXT, "@graph": [investigation, *nodes.values()]}
