"""Stage 2, resolve: records into subjects (the people behind them) with Splink. See README.md here."""

from threadline.resolve.pipeline import ResolveReport, ResolveSettings, resolve

__all__ = ["ResolveReport", "ResolveSettings", "resolve"]
