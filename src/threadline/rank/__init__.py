"""Stage 5, rank: a risk tier and score for every subject, from versioned rules, with the evidence for each factor.
See README.md here.

Public face: `rank`, `RankSettings`, `RankReport`, `assessment_view`, and the rules functions `parse_rules`,
`load_rules`, `shown_rules`, `history`, `default_rules_text`."""

from threadline.rank.pipeline import RankReport, RankSettings, rank
from threadline.rank.rules import (
    LoadResult,
    Rules,
    default_rules_text,
    history,
    load_rules,
    parse_rules,
    rules_in_force,
    shown_rules,
)
from threadline.rank.view import assessment_view

__all__ = [
    "LoadResult",
    "RankReport",
    "RankSettings",
    "Rules",
    "assessment_view",
    "default_rules_text",
    "history",
    "load_rules",
    "parse_rules",
    "rank",
    "rules_in_force",
    "shown_rules",
]
