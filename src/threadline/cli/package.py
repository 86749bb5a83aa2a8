"""`threadline package verify|open`: the receiving side of a referral package (status files join later)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol, TypeVar, Unpack

import typer

from threadline.cli.common import (
    DbOption,
    HomeOption,
    JsonOption,
    ThreadlineGroup,
    actor,
    print_json,
    say,
    store_from,
)

if TYPE_CHECKING:
    from threadline.core.db import Store
    from threadline.refer import OpenReport, PackageCheck
    from threadline.refer.receive import Receiving

package_app = typer.Typer(cls=ThreadlineGroup, no_args_is_help=True)

PackageArgument = Annotated[Path, typer.Argument(help="A referral package (.tlref.age).")]
IdentityOption = Annotated[
    Path | None,
    typer.Option(
        "--identity",
        "-i",
        help="age identity file of the receiving agency [default: the age keys this installation holds].",
        show_default=False,
    ),
]
AsAgencyOption = Annotated[
    str | None, typer.Option("--as-agency", help="Receive as this agency: the package must be addressed to it.")
]
FromOption = Annotated[str | None, typer.Option("--from", help="Refuse the package unless it comes from this agency.")]


class _Report(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


Report = TypeVar("Report", bound=_Report)


def _receiving_verb(name: str, help: str, receive: Callable[..., Report], show: Callable[[Path, Report], None]) -> None:
    """`verify` and `open`: the same options, handed to refer's `verify_package` or `open_package`."""

    def verb(
        ctx: typer.Context,
        package: PackageArgument,
        identity: IdentityOption = None,
        as_agency: AsAgencyOption = None,
        sender: FromOption = None,
        home: HomeOption = None,
        db: DbOption = None,
        json: JsonOption = False,
    ) -> None:
        store = store_from(ctx, home, db)
        report = receive(store, package, identity=identity, as_agency=as_agency, expect_sender=sender, actor=actor())
        if json:
            print_json(report.to_dict())
        else:
            show(package, report)

    package_app.command(name, help=help)(verb)


def _verify_package(store: Store, package: Path, **receiving: Unpack[Receiving]) -> PackageCheck:
    """refer's `verify_package`, imported when the verb runs."""
    from threadline.refer import verify_package

    return verify_package(store, package, **receiving)


def _open_package(store: Store, package: Path, **receiving: Unpack[Receiving]) -> OpenReport:
    """refer's `open_package`, imported when the verb runs."""
    from threadline.refer import open_package

    return open_package(store, package, **receiving)


def _show_check(package: Path, check: PackageCheck) -> None:
    say(
        f"{package}: OK — {check.lead_count:,} leads from {check.sender['code']} to {check.recipient['code']} "
        f"(operation {check.operation}), signed by {check.signer_fingerprint}; {check.files} files match the "
        f"manifest; leads.json schema {check.schema_version}",
    )


def _show_opened(package: Path, report: OpenReport) -> None:
    check = report.check
    if report.already_opened:
        say(f"{package}: already opened; {check.lead_count:,} leads, nothing new")
        return
    say(
        f"{package}: {report.leads_new:,} new incoming leads for {check.recipient['code']} from "
        f"{check.sender['code']} (operation {check.operation})"
        + (f", {report.leads_existing:,} already here" if report.leads_existing else ""),
    )


_receiving_verb(
    "verify",
    "Decrypt a package and check its signature, manifest and leads without importing anything.",
    _verify_package,
    _show_check,
)
_receiving_verb(
    "open",
    "Verify a package and import its leads as incoming leads (opening it again imports nothing new).",
    _open_package,
    _show_opened,
)


@package_app.command("status")
def status_command(
    ctx: typer.Context,
    to: Annotated[str, typer.Option("--to", help="The agency the file goes to (code): who sent you the leads.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the signed status file.")],
    agency: Annotated[
        str | None,
        typer.Option("--agency", help="Sign as this agency; by default the only one this installation has a key for."),
    ] = None,
    full: Annotated[bool, typer.Option("--all", help="Everything shared so far, not only what is new.")] = False,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Write a signed status file: acknowledgements, hops, actions and outcomes since the last one (see track)."""
    from threadline.directory import find_agency
    from threadline.track.status import find_local_signer, write_status_file

    store = store_from(ctx, home, db)
    with store.session() as session:
        signer = find_local_signer(session, agency)
        written = write_status_file(
            session, store.settings, agency=signer, to=find_agency(session, to), out=out, actor=actor(), full=full
        )
    if json:
        print_json(written.to_dict())
        return
    say(
        f"{out}: {written.events} events ({written.hop_leads} new hops) from {written.sender} to {written.recipient}, "
        f"signed by {written.signer_fingerprint}"
    )
