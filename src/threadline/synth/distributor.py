"""The invented distributor whose back office the seizure is: its mailboxes, staff and receiving accounts.

All names are fictitious and use the reserved .example domain.
"""

from __future__ import annotations

DOMAIN = "azura-media.example"
ORDERS_ADDRESS = f"orders@{DOMAIN}"
SUPPORT_ADDRESS = f"support@{DOMAIN}"
SHOP_NAME = "Azura Media"
STAFF: tuple[tuple[str, str], ...] = (
    ("Dana Whitlock", f"dana@{DOMAIN}"),
    ("Marek Voss", f"marek@{DOMAIN}"),
    ("Customer Service", SUPPORT_ADDRESS),
)
RECEIVING_ACCOUNTS: tuple[str, ...] = (
    "Azura Media Ltd",
    "AM Trading Services",
    "Northbridge Holdings Ltd",
    "Kestrel Payments OU",
    "J. Whitlock",
)
