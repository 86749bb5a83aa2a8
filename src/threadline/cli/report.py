"""`threadline report operation`: per country and agency, what was sent, acknowledged, overdue and achieved."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from threadline.cli.common import DbOption, HomeOption, ThreadlineGroup, actor, console, print_json, store_from
from threadline.cli.track import parse_time
from threadline.core import audit
from threadline.core.errors import InputError

app = typer.Typer(cls=ThreadlineGroup, no_args_is_help=True)


class Format(StrEnum):
    text = "text"
    json = "json"
    html = "html"


@app.command("operation")
def operation(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="The operation; by default every lead here.")] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="text, json or html.")] = Format.text,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file, not the screen.")] = None,
    chart: Annotated[
        Path | None, typer.Option("--chart", help="Also draw the chart (lead ages, outcomes over time): .png or .svg.")
    ] = None,
    now: Annotated[str | None, typer.Option("--now", help="Figures as of this ISO time; by default now.")] = None,
    home: HomeOption = None,
    db: DbOption = None,
) -> None:
    """Leads sent, acknowledged, overdue; arrests, charges, children safeguarded; median time to acknowledge."""
    from threadline.track.chart import inline_svg, write_chart
    from threadline.track.report import operation_report, render_html, render_text

    when = parse_time(now, "--now")
    if chart is not None and chart.suffix.lower() not in (".png", ".svg"):
        raise InputError(f"--chart {chart}: a chart file ends in .png or .svg")
    store = store_from(ctx, home, db)
    with store.session() as session:
        report = operation_report(session, name, now=when)
        audit.record(
            session,
            actor=actor(),
            action="report.operation",
            object_type="operation",
            object_id=name,
            details={"format": fmt.value, "output": str(output) if output else None, "leads": report.total.leads},
        )
    if chart is not None:
        write_chart(report, chart)
    if fmt is Format.json:
        if output is None:
            print_json(report.to_dict())
            return
        text = json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"
    elif fmt is Format.html:
        text = render_html(report, inline_svg(report))
    else:
        text = render_text(report)
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write the report: {exc.strerror}", file=output) from None
    console.print(f"Wrote {output}" + (f" and {chart}" if chart else ""), markup=False, soft_wrap=True)
