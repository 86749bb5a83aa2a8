"""The agency directory and its users: who leads go to, and who may see them."""

from threadline.directory.agencies import (
    AgencyImport,
    find_agency,
    import_agencies,
    national_agency,
    seed_national_agencies,
)
from threadline.directory.users import add_user, authenticate, disable_user, list_users

__all__ = [
    "AgencyImport",
    "add_user",
    "authenticate",
    "disable_user",
    "find_agency",
    "import_agencies",
    "list_users",
    "national_agency",
    "seed_national_agencies",
]
