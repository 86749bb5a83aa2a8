"""`threadline synth`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from threadline.cli.common import JsonOption, console, print_json
from threadline.core.errors import InputError

if TYPE_CHECKING:
    from threadline.synth import SynthReport


@contextmanager
def progress_callback() -> Iterator[Callable[[str, int, int], None]]:
    """A Rich progress display fed by (stage, done, total) calls; silent when output is not a terminal."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=True,
    ) as bar:
        tasks: dict[str, object] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)  # type: ignore[arg-type]

        yield update


def run_synth(out: Path, people: int, seed: int, countries: int, media: int | None) -> SynthReport:
    from threadline.synth import generate

    if people < 1:
        raise InputError("--people must be at least 1")
    if not 1 <= countries <= 200:
        raise InputError("--countries must be between 1 and 200")
    try:
        with progress_callback() as update:
            return generate(out, people=people, seed=seed, countries=countries, media=media, progress=update)
    except FileExistsError:
        raise InputError("output folder is not empty: choose a new folder or empty it", file=out) from None


def synth(
    out: Annotated[Path, typer.Argument(help="New (or empty) folder to write the seizure into.")],
    people: Annotated[int, typer.Option("--people", "-n", help="How many invented people.")] = 1000,
    seed: Annotated[int, typer.Option(help="Same seed, same files, byte for byte.")] = 7,
    countries: Annotated[int, typer.Option(help="How many countries people live in.")] = 50,
    media: Annotated[int | None, typer.Option(help="How many benign images (default scales with people).")] = None,
    json: JsonOption = False,
) -> None:
    report = run_synth(out, people, seed, countries, media)
    if json:
        print_json(report.to_dict())
        return
    console.print(
        f"Wrote a synthetic seizure of {report.people} people in {report.countries} countries to {out} "
        f"in {report.seconds:.1f} s"
    )
    for name, count in sorted(report.records.items()):
        console.print(f"  {name}: {count} records")
    console.print(
        f"  media: {report.media_files} files; known set: {report.known_hashes} hashes; "
        f"malformed rows planted: {report.malformed_rows}"
    )
    console.print(f"  ground truth in {out / 'truth'}")
