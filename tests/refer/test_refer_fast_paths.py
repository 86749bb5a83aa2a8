"""Refer's fast paths write what their references write: the lead pages and index (plain Python) byte-equal to the
Jinja2 templates, the CASE graph byte-equal to its first version."""

from __future__ import annotations

import random

import markupsafe
import orjson
import pytest
import refer_reference_casejsonld as reference_casejsonld
from refer_documents import NASTY, leads_document

from threadline.refer import pages
from threadline.refer.casejsonld import case_graph
from threadline.refer.package import dump_json, package_files


@pytest.mark.parametrize("seed", range(6))
def test_lead_pages_and_index_are_the_templates_byte_for_byte(seed: int) -> None:
    document = leads_document(seed, leads=60)
    views = pages.LeadPages(document)
    for lead in document["leads"]:
        assert views.page(lead) == pages.render_lead_page_jinja(document, lead)
    assert views.index() == pages.render_index_jinja(document)


def test_the_package_files_hold_the_template_pages() -> None:
    document = leads_document(11, leads=5)
    files = package_files(document)
    assert files["index.html"] == pages.render_index_jinja(document).encode("utf-8")
    for lead in document["leads"]:
        assert files[f"leads/{lead['uid']}.html"] == pages.render_lead_page_jinja(document, lead).encode("utf-8")


def test_an_empty_package_index_is_the_template() -> None:
    document = leads_document(3, leads=0)
    assert pages.render_index(document) == pages.render_index_jinja(document)


def test_escaping_is_markupsafes() -> None:
    rng = random.Random(5)
    alphabet = "ab &<>\"'é\t\n;#"
    samples = [*NASTY, *("".join(rng.choice(alphabet) for _ in range(rng.randrange(12))) for _ in range(500))]
    for text in samples:
        assert pages.esc(text) == str(markupsafe.escape(text))
        assert pages._escape(text) == str(markupsafe.escape(text))


@pytest.mark.parametrize("seed", range(6))
def test_the_case_graph_is_the_reference_graph_byte_for_byte(seed: int) -> None:
    document = leads_document(seed, leads=60)
    # the same people again under other leads: shared files, identifiers and addresses are made once
    document["leads"] += [{**lead, "uid": f"{lead['uid']}-again"} for lead in document["leads"][:20]]
    assert dump_json(case_graph(document)) == dump_json(reference_casejsonld.case_graph(document))


def test_sealing_from_leads_json_renders_what_the_document_renders() -> None:
    # A worker process gets the document as leads.json's bytes: what it renders from them is what the document
    # itself renders.
    document = leads_document(21, leads=30)
    leads_json = dump_json(document)
    assert package_files(orjson.loads(leads_json), leads_json=leads_json) == package_files(document)
