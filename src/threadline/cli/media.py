"""`threadline media scan`, `threadline hashes …`, `threadline triage`: media triage by hash, nothing viewed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from threadline.cli.common import (
    DbOption,
    HomeOption,
    JsonOption,
    ThreadlineGroup,
    actor,
    console,
    print_json,
    store_from,
)
from threadline.core.db import Store

media_app = typer.Typer(cls=ThreadlineGroup, no_args_is_help=True)
hashes_app = typer.Typer(cls=ThreadlineGroup, no_args_is_help=True)


class HashFormat(StrEnum):
    vics = "vics"
    csv = "csv"
    pdq_list = "pdq-list"


class Engine(StrEnum):
    multi = "multi"
    faiss = "faiss"
    brute = "brute"


class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} files/s" if speed else "… files/s")


@contextmanager
def scan_progress() -> Iterator[Callable[[int, int, int], None]]:
    with Progress(
        TextColumn("hashing"),
        BarColumn(),
        MofNCompleteColumn(),
        _Rate(),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=True,
    ) as bar:
        task = bar.add_task("hashing", total=None)

        def update(done: int, total: int, _bytes: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def run_scan(
    store: Store,
    directory: Path,
    owner: str | None = None,
    device: str | None = None,
    operation: str | None = None,
    workers: int | None = None,
    only_media: bool = False,
) -> Any:
    from threadline.media import scan

    with scan_progress() as update:
        return scan(
            store,
            directory,
            owner=owner,
            device=device,
            operation=operation,
            actor=actor(),
            workers=workers,
            only_media=only_media,
            progress=update,
        )


def print_scan(report: Any) -> None:
    kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(report.by_kind.items()))
    console.print(
        f"Seizure {report.seizure_id}: {report.files_seen:,} entries under {report.directory}; "
        f"{report.hashed:,} hashed ({kinds}), {report.perceptual:,} with PDQ, {report.skipped_unchanged:,} "
        f"unchanged since the last scan, {report.failed:,} could not be read; "
        f"{report.files_per_second:,.1f} files/s over {report.seconds:.1f} s"
    )
    if report.problems:
        table = Table("path", "reason", title="Not hashed or not perceptually hashed")
        for path, reason in report.problems[:50]:
            table.add_row(path, reason)
        if len(report.problems) > 50:
            table.add_row(f"… and {len(report.problems) - 50} more", "(--json lists all)")
        console.print(table)
    if report.list_mismatches:
        console.print(
            f"[bold]{len(report.list_mismatches)} files differ from the seized hash list for the same path[/bold]: "
            + ", ".join(report.list_mismatches[:10])
        )


@media_app.command("scan")
def media_scan(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Folder of seized media (inside a seizure folder, or its own).")],
    owner: Annotated[
        str | None, typer.Option("--owner", help="Whose files these are (custodian or subject); default: the list's.")
    ] = None,
    device: Annotated[str | None, typer.Option("--device", help="The device or exhibit they came from.")] = None,
    operation: Annotated[str | None, typer.Option("--operation", help="Operation of the seizure.")] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="Hashing processes; default: every core.")] = None,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Hash every file (MD5, SHA-1, SHA-256 in one read; PDQ for images); resumable, bad files recorded."""
    store = store_from(ctx, home, db)
    report = run_scan(store, directory, owner, device, operation, workers)
    if json:
        print_json(report.to_dict())
    else:
        print_scan(report)


@hashes_app.command("import")
def hashes_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="VICS JSON, CSV with md5/sha1/sha256/pdq columns, or a PDQ list.")],
    fmt: Annotated[HashFormat | None, typer.Option("--format", "-f", help="Default: sniffed from the file.")] = None,
    name: Annotated[str | None, typer.Option("--name", "-n", help="Set name; default: the file's name.")] = None,
    category: Annotated[str | None, typer.Option("--category", help="Category for entries that have none.")] = None,
    allow: Annotated[bool, typer.Option("--allow", help="A set of known-benign files: its match overrides.")] = False,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Import a known-hash set (new version when the file changed; malformed hashes quarantined)."""
    from threadline.media import import_hashes

    store = store_from(ctx, home, db)
    report = import_hashes(
        store, file, name=name, fmt=fmt.value if fmt else None, category=category, allow=allow, actor=actor()
    )
    if json:
        print_json(report.to_dict())
        return
    if report.unchanged:
        console.print(f"Hash set {report.name!r} version {report.version} already holds this file: nothing to do.")
        return
    kind = "allow set" if report.allow else "known set"
    console.print(
        f"Imported {kind} {report.name!r} version {report.version} ({report.format}"
        + (f" {report.vics_version}" if report.vics_version else "")
        + f"): {report.entries:,} entries, {report.hashes:,} hashes, {report.quarantined:,} quarantined"
        + (f"; version {report.superseded_version} retired" if report.superseded_version else "")
    )
    for r in report.rejected[:20]:
        console.print(f"  {file}:{r.line}: {r.reason}", markup=False)
    if report.quarantined > 20:
        console.print(f"  … `threadline hashes quarantine {report.name}` lists all {report.quarantined:,}")


@hashes_app.command("list")
def hashes_list(
    ctx: typer.Context,
    all_versions: Annotated[bool, typer.Option("--all", help="Also retired (superseded, removed) versions.")] = False,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Known-hash sets and their versions."""
    from threadline.media import list_sets

    store = store_from(ctx, home, db)
    with store.session() as session:
        rows = list_sets(session, include_retired=all_versions)
    if json:
        print_json(rows)
        return
    table = Table("name", "version", "status", "format", "allow", "entries", "hashes", "quarantined", "imported")
    for r in rows:
        table.add_row(
            r["name"],
            str(r["version"]),
            r["status"],
            r["format"],
            "yes" if r["allow"] else "",
            f"{r['entries']:,}",
            f"{r['hashes']:,}",
            f"{r['quarantined']:,}",
            r["imported_at"][:19],
        )
    console.print(table)


@hashes_app.command("remove")
def hashes_remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the set.")],
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Retire a set: its hashes are dropped and no longer matched (the record of the import stays)."""
    from threadline.media import remove_set

    store = store_from(ctx, home, db)
    report = remove_set(store, name, actor=actor())
    if json:
        print_json(report.to_dict())
    else:
        console.print(f"Removed hash set {name!r} ({report.hashes:,} hashes); run `threadline triage` again.")


@hashes_app.command("quarantine")
def hashes_quarantine(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the set.")],
    limit: Annotated[int, typer.Option("--limit", help="At most this many lines.")] = 100,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Lines of a set's files that were not imported, with the reason."""
    from threadline.media.hashsets import quarantined

    store = store_from(ctx, home, db)
    with store.session() as session:
        rows = quarantined(session, name, limit)
    if json:
        print_json(rows)
        return
    table = Table("version", "line", "reason", "raw")
    for r in rows:
        table.add_row(str(r["version"]), str(r["line"]), r["reason"], (r["raw"] or "")[:80])
    console.print(table)


def run_triage(
    store: Store,
    distance: int = 31,
    quality: int = 50,
    seizure: int | None = None,
    engine: str = "multi",
) -> Any:
    from threadline.media import triage as triage_stage

    return triage_stage(
        store, max_distance=distance, min_quality=quality, seizure_id=seizure, engine=engine, actor=actor()
    )


def print_triage(report: Any) -> None:
    verdicts = report.to_dict()["verdicts"]
    table = Table(
        "",
        *verdicts.keys(),
        title=f"Media triage (distance <= {report.max_distance}, "
        f"quality >= {report.min_quality}; {report.known_pdq:,} known PDQ hashes)",
    )
    table.add_row("all items", *(f"{v:,}" for v in verdicts.values()))
    for seizure_id, counts in sorted(report.by_seizure.items()):
        table.add_row(f"seizure {seizure_id}", *(f"{counts.get(v, 0):,}" for v in verdicts))
    owners = sorted(report.by_owner.items(), key=lambda kv: (-kv[1].get("novel", 0), kv[0]))
    for owner, counts in owners[:30]:
        table.add_row(f"owner {owner}", *(f"{counts.get(v, 0):,}" for v in verdicts))
    console.print(table)
    console.print(f"{report.items:,} items triaged in {report.seconds:.1f} s (`threadline export media`)")


def triage(
    ctx: typer.Context,
    distance: Annotated[int, typer.Option("--distance", help="PDQ match threshold (Hamming bits).")] = 31,
    quality: Annotated[int, typer.Option("--quality", help="Lowest PDQ quality that is near-matched.")] = 50,
    seizure: Annotated[int | None, typer.Option("--seizure", help="Only this seizure's media.")] = None,
    engine: Annotated[Engine, typer.Option("--engine", help="PDQ index: multi (default), faiss or brute.")] = (
        Engine.multi
    ),
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """A verdict for every media item: known-exact, known-near, allow-listed, novel, low-quality, unhashable."""
    store = store_from(ctx, home, db)
    report = run_triage(store, distance, quality, seizure, engine.value)
    if json:
        print_json(report.to_dict())
    else:
        print_triage(report)
