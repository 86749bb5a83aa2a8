"""Stage 3, locate: where each subject is, from every piece of evidence, and where its lead goes. See README.md."""

from threadline.locate.decide import HIGH_CONFIDENCE, Decision, decide
from threadline.locate.evidence import Evidence, record_evidence
from threadline.locate.manual import (
    clear_jurisdiction,
    jurisdiction_view,
    set_jurisdiction,
    unplaced_count,
    unplaced_queue,
)
from threadline.locate.pipeline import LocateReport, LocateSettings, locate
from threadline.locate.routing import RoutingLoad, active_routing, load_routing, parse_routes, route

__all__ = [
    "HIGH_CONFIDENCE",
    "Decision",
    "Evidence",
    "LocateReport",
    "LocateSettings",
    "RoutingLoad",
    "active_routing",
    "clear_jurisdiction",
    "decide",
    "jurisdiction_view",
    "load_routing",
    "locate",
    "parse_routes",
    "record_evidence",
    "route",
    "set_jurisdiction",
    "unplaced_count",
    "unplaced_queue",
]
