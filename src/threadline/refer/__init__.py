"""Stage refer: leads per subject and agency, and signed, encrypted referral packages.

`refer(store, ReferSettings(...))` creates the leads and writes the packages; `open_package` / `verify_package`
are the receiving side; `keys` holds the agency keys and the sign/verify/encrypt helpers other stages use."""

from threadline.refer.export import LEAD_EXPORT_COLUMNS, lead_rows
from threadline.refer.package import SCHEMA_VERSION, MissingKeyError, WrittenPackage, write_package
from threadline.refer.pipeline import ReferReport, ReferSettings, missing_keys_message, refer
from threadline.refer.receive import OpenReport, PackageCheck, PackageRefused, open_package, verify_package

__all__ = [
    "LEAD_EXPORT_COLUMNS",
    "SCHEMA_VERSION",
    "MissingKeyError",
    "OpenReport",
    "PackageCheck",
    "PackageRefused",
    "ReferReport",
    "ReferSettings",
    "WrittenPackage",
    "lead_rows",
    "missing_keys_message",
    "open_package",
    "refer",
    "verify_package",
    "write_package",
]
